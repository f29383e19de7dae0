"""Small SGD-style dialogues and schemas that unit tests write themselves."""

from __future__ import annotations

import json
from pathlib import Path

R1_SCHEMA = {
    "service_name": "Restaurants_1",
    "description": "A leading provider for restaurant search and reservations",
    "slots": [
        {"name": n, "description": f"{n} slot", "is_categorical": c, "possible_values": v}
        for n, c, v in [
            ("restaurant_name", False, []),
            ("date", False, []),
            ("time", False, []),
            ("serves_alcohol", True, ["True", "False"]),
            ("has_live_music", True, ["True", "False"]),
            ("phone_number", False, []),
            ("street_address", False, []),
            ("party_size", True, ["1", "2", "3", "4", "5", "6"]),
            ("price_range", True, ["inexpensive", "moderate", "expensive", "very expensive"]),
            ("city", False, []),
            ("cuisine", False, ["Mexican", "Chinese"]),
        ]
    ],
    "intents": [
        {
            "name": "ReserveRestaurant",
            "description": "Reserve a table",
            "is_transactional": True,
            "required_slots": ["restaurant_name", "city", "time"],
            "optional_slots": {"date": "2019-03-01", "party_size": "2"},
            "result_slots": [],
        },
        {
            "name": "FindRestaurants",
            "description": "Find a restaurant",
            "is_transactional": False,
            "required_slots": ["cuisine", "city"],
            "optional_slots": {
                "price_range": "dontcare",
                "has_live_music": "dontcare",
                "serves_alcohol": "dontcare",
            },
            "result_slots": [],
        },
    ],
}


def turn(speaker, utterance, service_call=None, results=None, service="Restaurants_1"):
    frame = {"service": service, "actions": [], "slots": []}
    if service_call:
        frame["service_call"] = {"method": service_call[0], "parameters": service_call[1]}
        frame["service_results"] = results or []
    return {"speaker": speaker, "utterance": utterance, "frames": [frame]}


def dialogue(did, service="Restaurants_1", city="San Jose"):
    result = {
        "city": city,
        "cuisine": "Mexican",
        "restaurant_name": f"Taqueria {did}",
        "phone_number": "408-555-0101",
        "price_range": "moderate",
        "serves_alcohol": "True",
        "has_live_music": "False",
        "street_address": "1 Main St",
    }
    return {
        "dialogue_id": did,
        "services": [service],
        "turns": [
            turn("USER", f"Find me a Mexican place in {city}."),
            turn(
                "SYSTEM",
                f"Taqueria {did} is a nice place in {city}.",
                ("FindRestaurants", {"city": city, "cuisine": "Mexican"}),
                [result],
            ),
            turn("USER", "Book it for 7 pm."),
            turn("SYSTEM", "Please confirm: Taqueria at 7 pm."),
            turn("USER", "Yes."),
            turn(
                "SYSTEM",
                "Your table is booked.",
                ("ReserveRestaurant", {"restaurant_name": f"Taqueria {did}", "city": city, "time": "19:00"}),
                [dict(result, time="19:00", date="2019-03-01", party_size="2")],
            ),
            turn("USER", "Thanks, bye."),
            turn("SYSTEM", "Have a great day."),
        ],
    }


def write_sgd(root: Path, ids=("1_00000", "1_00001", "1_00002", "1_00003")) -> Path:
    (root / "train").mkdir(parents=True, exist_ok=True)
    dialogues = [dialogue(i) for i in ids] + [dialogue("9_00000", service="Hotels_1")]
    (root / "train" / "dialogues_001.json").write_text(json.dumps(dialogues))
    (root / "train" / "schema.json").write_text(json.dumps([R1_SCHEMA]))
    return root
