import pytest

from tft_utils.params import ParamsError, deep_merge, load_params, parse_override


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
