"""Tool names and schema facts of the target task (SGD Restaurants_1; public task knowledge: the
tools the student is trained to call), and the study's "today"."""

from __future__ import annotations

import datetime as dt

from tft_utils.core.io import DataError, read_json

SERVICE = "Restaurants_1"
FIND, RESERVE = "FindRestaurants", "ReserveRestaurant"
RESPOND = "respond_to_user"  # what the assistant says, as a tool call
SERVICE_TOOLS = (FIND, RESERVE)
TOOLS = (FIND, RESERVE, RESPOND)

# The target schema: each tool's parameters, required first, in the order calls carry them.
TARGET = {
    FIND: {"required": ["city", "cuisine"], "optional": ["price_range", "has_live_music", "serves_alcohol"]},
    RESERVE: {"required": ["restaurant_name", "city", "time"], "optional": ["date", "party_size"]},
    RESPOND: {"required": ["message"], "optional": []},
}
# The optional parameters' defaults ("today" is resolved per conversation): SGD books today, for 2.
OPTIONAL = {
    FIND: {"price_range": "dontcare", "has_live_music": "dontcare", "serves_alcohol": "dontcare"},
    RESERVE: {"date": "today", "party_size": "2"},
}
CONSTRAINTS = tuple(TARGET[FIND]["optional"])  # a search's optional filters
BOOL_SLOTS = ("has_live_music", "serves_alcohol")  # "True" / "False"
BOOKING_DETAILS = ("time", "date", "party_size")  # what a booking fixes besides the restaurant
PRICE_RANGES = ("inexpensive", "moderate", "expensive", "very expensive")  # the price_range enum
# Keys of the tools' results (a search returns restaurants; a reservation echoes the booking).
RESULT_SLOTS = [
    "restaurant_name",
    "city",
    "cuisine",
    "price_range",
    "has_live_music",
    "serves_alcohol",
    "phone_number",
    "street_address",
    "date",
    "time",
    "party_size",
]

TODAY = dt.date(2019, 3, 1)  # the study's "today": every SGD dialogue is set on Friday 2019-03-01
TODAY_ISO = TODAY.isoformat()


def parameters(tool: str) -> list[str]:
    """A target tool's parameters, required then optional; [] for a tool the schema lacks."""
    spec = TARGET.get(tool, {"required": [], "optional": []})
    return [*spec["required"], *spec["optional"]]


# The call values a tool's results repeat (a booking may move the time to the nearest free slot).
ECHOED_SLOTS = tuple(dict.fromkeys(s for t in SERVICE_TOOLS for s in parameters(t) if s != "time"))


def load_tools(path) -> list[dict]:
    """The OpenAI tool schemas of a data folder's tools.json (a JSON list of {"type", "function"})."""
    tools = read_json(path)
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "function" in t for t in tools):
        raise DataError(f"{path}: expected a JSON list of OpenAI tool schemas")
    return tools
