"""`tft carry`: a run's students travel without weights, and come back without clobbering anything."""

import json

import pytest

from tft_utils.core import fresh
from tft_utils.core.io import DataError, write_json
from tft_utils.core.paths import CARRIED, carried_without_weights
from tft_utils.run.carry import carried_files, restore, save


def _output(path, fp_name, text="x"):
    """A finished output: its bytes, then its fingerprint (as a stage writes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix:
        path.write_text(text)
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / "model.safetensors").write_bytes(b"\0" * 1024)
        (path / "config.json").write_text("{}")
        write_json(path / "train_stats.json", {"steps": 3, "history": []})
    fresh.stamp(path, fresh.make(fp_name, {"name": str(path.name)}, code=False))


@pytest.fixture
def run(tmp_path):
    run = tmp_path / "outputs" / "main"
    _output(run / "s2" / "models" / "direct-seed0", "student")
    _output(run / "s2" / "predictions" / "direct-seed0.jsonl", "predictions", '{"id": 1}\n')
    _output(run / "base" / "predictions-sgd.jsonl", "predictions", '{"id": 2}\n')
    # unfinished work is not carried: a model still training, a partial predictions file
    (run / "s2" / "models" / "tft-seed0" / "checkpoint").mkdir(parents=True)
    (run / "s2" / "predictions" / "tft-seed0.jsonl").write_text("half\n")
    return run


def test_save_takes_records_not_weights(run, tmp_path):
    names = {str(f.relative_to(run)) for f in carried_files(run, log=lambda *_: None)}
    assert names == {
        "base/predictions-sgd.jsonl",
        "base/predictions-sgd.jsonl.fingerprint.json",
        "s2/models/direct-seed0/.fingerprint.json",
        "s2/models/direct-seed0/train_stats.json",
        "s2/predictions/direct-seed0.jsonl",
        "s2/predictions/direct-seed0.jsonl.fingerprint.json",
    }
    manifest = save(run, tmp_path / "carried", log=lambda *_: None)
    assert sorted(json.loads(manifest.read_text())["files"]) == sorted(names)
    assert not list((tmp_path / "carried").rglob("*.safetensors"))
    stored = {
        str(f.relative_to(tmp_path / "carried")) for f in (tmp_path / "carried").rglob("*") if f.is_file()
    }
    assert (
        "s2/predictions/direct-seed0.jsonl.gz" in stored
        and "s2/models/direct-seed0/.fingerprint.json" in stored
    )
    first = (tmp_path / "carried" / "s2" / "predictions" / "direct-seed0.jsonl.gz").read_bytes()
    save(run, tmp_path / "carried", log=lambda *_: None)  # saved again: the same bytes (git sees no change)
    assert (tmp_path / "carried" / "s2" / "predictions" / "direct-seed0.jsonl.gz").read_bytes() == first


def test_save_takes_only_the_scenarios_named(run, tmp_path):
    _output(run / "s5" / "models" / "tft-seed0", "student")
    _output(run / "s5" / "predictions" / "tft-seed0.jsonl", "predictions", '{"id": 3}\n')
    quiet = {"log": lambda *_: None}
    every = {str(f.relative_to(run)).split("/")[0] for f in carried_files(run, **quiet)}
    assert every == {"base", "s2", "s5"}
    only = {str(f.relative_to(run)).split("/")[0] for f in carried_files(run, scenarios=("s5",), **quiet)}
    assert only == {"base", "s5"}
    with pytest.raises(DataError, match="no scenario folder s4"):
        save(run, tmp_path / "carried", scenarios=("s4",), **quiet)


def test_student_without_predictions_stays(run, tmp_path):
    # trained but not yet predicted: carried, it would have no weights to predict with elsewhere
    _output(run / "s2" / "models" / "direct-seed1", "student")
    said = []
    names = {str(f.relative_to(run)) for f in carried_files(run, log=said.append)}
    assert not any("direct-seed1" in n for n in names) and "s2/models/direct-seed0/train_stats.json" in names
    assert said == [
        f"not carried: {run / 's2' / 'models' / 'direct-seed1'} has no finished predictions yet (run stage 06 first)"
    ]


def test_restore_is_up_to_date_and_marks_missing_weights(run, tmp_path):
    save(run, tmp_path / "carried", log=lambda *_: None)
    other = tmp_path / "elsewhere" / "main"
    assert restore(tmp_path / "carried", other, log=lambda *_: None) == 6
    model = other / "s2" / "models" / "direct-seed0"
    # the fingerprint travelled unchanged, so the same fingerprint finds it up to date
    assert fresh.read(model)["digest"] == fresh.read(run / "s2" / "models" / "direct-seed0")["digest"]
    assert carried_without_weights(model) and (model / CARRIED).exists()
    assert not carried_without_weights(run / "s2" / "models" / "direct-seed0")
    assert (other / "s2" / "predictions" / "direct-seed0.jsonl").read_text() == '{"id": 1}\n'


def test_restore_never_overwrites(run, tmp_path):
    save(run, tmp_path / "carried", log=lambda *_: None)
    pred = run / "s2" / "predictions" / "direct-seed0.jsonl"
    pred.write_text("newer\n")
    (run / "s2" / "models" / "direct-seed0" / fresh.SIDECAR).unlink()  # a model with weights, no sidecar
    written = restore(tmp_path / "carried", run, log=lambda *_: None)
    assert written == 0  # every carried file is already there, or belongs to a model with weights
    assert pred.read_text() == "newer\n"
    assert not (run / "s2" / "models" / "direct-seed0" / fresh.SIDECAR).exists()  # weights there: untouched
    assert not (run / "s2" / "models" / "direct-seed0" / CARRIED).exists()


def test_restore_names_what_is_missing(run, tmp_path):
    save(run, tmp_path / "carried", log=lambda *_: None)
    (tmp_path / "carried" / "s2" / "predictions" / "direct-seed0.jsonl.gz").unlink()
    with pytest.raises(
        DataError,
        match=r"carried\.json: lists s2/predictions/direct-seed0\.jsonl, but .*direct-seed0\.jsonl\.gz is missing",
    ):
        restore(tmp_path / "carried", tmp_path / "x", log=lambda *_: None)
    with pytest.raises(DataError, match="no carried.json"):
        restore(tmp_path, tmp_path / "x", log=lambda *_: None)
    with pytest.raises(DataError, match="no trained student"):
        save(tmp_path / "carried" / "s2" / "models", tmp_path / "y", log=lambda *_: None)


def test_restore_refuses_a_scenario_choice(tmp_path, capsys):
    from tft_utils.cli import main

    code = main(["carry", "restore", "--scenario", "s1", "--folder", str(tmp_path), "--run", "x"])
    assert code == 2 and "--scenario is for save" in capsys.readouterr().err
