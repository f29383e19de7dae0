import pytest

from tft_utils.core.params import ParamsError, deep_merge, load_params, parse_override, seed_of


def test_layers_merge_in_order():
    p = load_params("smoke", "s2", ["run.seed=3", "scenario.s2.p_corrupt=0.25"])
    assert p["run"]["profile"] == "smoke" and p["scenario"]["id"] == "s2"
    assert p["run"]["seed"] == 3 and p["scenario"]["s2"]["p_corrupt"] == 0.25
    assert p["scenario"]["s2"]["clean_fraction"] == 0.1  # untouched default survives


def test_unknown_key_is_rejected_with_its_name():
    with pytest.raises(ParamsError, match="run.sead"):
        load_params("cpu", None, ["run.sead=1"])


def test_type_change_is_rejected():
    with pytest.raises(ParamsError, match="run.seed"):
        load_params("cpu", None, ["run.seed=abc"])
    assert deep_merge({"a": 1.0}, {"a": 2}, "t") == {"a": 2}  # int where a float was is fine


def test_unknown_profile_and_scenario():
    with pytest.raises(ParamsError, match="profile"):
        load_params("gpu9000")
    with pytest.raises(ParamsError, match="scenario"):
        load_params("cpu", "s9")


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    assert parse_override("x=true") == {"x": True}
    with pytest.raises(ParamsError):
        parse_override("novalue")


def test_run_dir_names_the_run_in_the_params():
    # a notebook's RUN_DIR is outputs/<run>: the provenance it records must name that run
    p = load_params("smoke", "s4", [], run_dir="outputs/s4cpu500")
    assert p["run"]["name"] == "s4cpu500" and p["run"]["outputs"] == "outputs"
    assert load_params("smoke", "s4", [])["run"]["name"] == "default"


# --------------------------------------------------------------------------- ranges and choices


def _numeric_keys(node, prefix=""):
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _numeric_keys(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield f"{prefix}{k}", v
        elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
            yield f"{prefix}{k}", v


def _bad_value(key, value):
    """A value outside the key's rule: below its low end, or above its high end when that is finite."""
    from fnmatch import fnmatchcase

    from tft_utils.core.params_check import RANGES

    rule = next((r for p, r in RANGES.items() if fnmatchcase(key, p)), None)
    assert rule is not None, (
        f"{key} (numeric, in defaults.yaml) has no range in tft_utils/core/params_check.py"
    )
    low, high, lo_in, hi_in = rule
    bad = (low - 1 if lo_in else low) if low > -1e308 else high + 1
    if isinstance(value, int) and not isinstance(bad, int) and float(bad).is_integer():
        bad = int(bad)
    if isinstance(value, float):
        bad = float(bad)
    return [bad] if isinstance(value, list) else bad


def test_a_bad_value_of_every_numeric_key_is_rejected_naming_key_value_and_range():
    import yaml

    from tft_utils.core.params import PARAMS_DIR

    defaults = yaml.safe_load((PARAMS_DIR / "defaults.yaml").read_text())
    keys = list(_numeric_keys(defaults))
    assert len(keys) > 50
    for key, value in keys:
        bad = _bad_value(key, value)
        with pytest.raises(ParamsError) as err:
            load_params("cpu", "s1", [f"{key}={bad}"])
        msg = str(err.value)
        assert f"'{key}'" in msg and repr(bad) in msg and "allowed" in msg, msg


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.method=qlora", "'train.method' is 'qlora'; allowed: lora, full"),
        ("roles.judge=gpt5", "'roles.judge' is 'gpt5'"),
        ("roles.committee=[rules:nope, rules:state_tracker]", "'roles.committee' is 'rules:nope'"),
        ("run.seeds=[]", "'run.seeds' is empty"),
        ("synth.topics.short.min_turns=20", "min_turns 20 > max_turns 13"),
        ("evaluate.ci=1.0", "allowed: (0, 1)"),
        # null in the defaults lets the merge take any type: the seeds' own rule rejects these
        ("train.seed=abc", "'train.seed' is 'abc'; allowed: a whole number >= 0, or null"),
        ("evaluate.seed=1.5", "'evaluate.seed' is 1.5; allowed: a whole number >= 0, or null"),
        ("evaluate.seed=-1", "'evaluate.seed' is -1; allowed: [0, inf)"),
    ],
)
def test_choices_roles_and_cross_checks(override, message):
    with pytest.raises(ParamsError, match=__import__("re").escape(message)):
        load_params("cpu", "s1", [override])


def test_every_shipped_profile_and_scenario_passes_the_checks():
    for profile in ("cpu", "paper", "smoke"):
        for scenario in (None, "s1", "s2", "s3", "s4", "s5"):
            load_params(profile, scenario)


def test_an_exponent_without_a_dot_is_a_number_on_the_command_line():
    assert parse_override("train.lr=1e-4") == {"train": {"lr": 1e-4}}
    assert load_params("cpu", None, ["train.lr=3E-4"])["train"]["lr"] == 3e-4
    assert parse_override("data.service=1e4x") == {"data": {"service": "1e4x"}}


def test_a_sections_seed_follows_the_runs_unless_set():
    # one run.seed moves every draw: the training order and the bootstrap alike
    p = load_params("cpu", None, ["run.seed=7"])
    assert (seed_of(p, "train"), seed_of(p, "evaluate")) == (7, 7)
    p = load_params("cpu", None, ["run.seed=7", "train.seed=2", "evaluate.seed=0"])
    assert (seed_of(p, "train"), seed_of(p, "evaluate")) == (2, 0)
