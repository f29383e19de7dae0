"""scripts/verdicts_carried.py: the verdicts of carried predictions, several folders' seeds together."""

import gzip
import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CARRIED = REPO / "docs" / "runs" / "study-zen5" / "s1" / "predictions"


def _script():
    spec = importlib.util.spec_from_file_location(
        "verdicts_carried", REPO / "scripts" / "verdicts_carried.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(root: Path, name: str, files: list[str]) -> Path:
    out = root / name / "s1" / "predictions"
    out.mkdir(parents=True)
    for f in files:
        shutil.copy(CARRIED / f, out / f)
    return root / name


def _row(text: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith("| s1 ")).split(" | ")


def test_seeds_from_two_folders_give_the_verdict_of_one_folder_holding_them_all(tmp_path, capsys):
    vc = _script()
    vc.main([str(CARRIED.parents[1])])
    whole = _row(capsys.readouterr().out)
    a = _folder(tmp_path, "a", ["tft-seed0.jsonl.gz", "direct-seed0.jsonl.gz"])
    b = _folder(tmp_path, "b", ["tft-seed1.jsonl.gz", "direct-seed1.jsonl.gz"])
    vc.main([str(a), str(b)])
    merged = _row(capsys.readouterr().out)
    assert merged == whole and merged[1] == "0,1 / 0,1"
    vc.main([str(a)])  # one seed an arm: another interval, no seed df
    assert _row(capsys.readouterr().out)[1] == "0 / 0"


def test_a_seed_given_twice_or_other_test_pairs_are_refused(tmp_path):
    vc = _script()
    a = _folder(tmp_path, "a", ["tft-seed0.jsonl.gz", "direct-seed0.jsonl.gz"])
    b = _folder(tmp_path, "b", ["tft-seed0.jsonl.gz", "direct-seed1.jsonl.gz"])
    with pytest.raises(SystemExit, match="tft seed 0 is also in"):
        vc.main([str(a), str(b)])
    c = _folder(tmp_path, "c", ["tft-seed1.jsonl.gz", "direct-seed1.jsonl.gz"])
    path = c / "s1" / "predictions" / "direct-seed1.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[1:] + lines[:1])))  # the same pairs in another order
    with pytest.raises(SystemExit, match="direct-seed1.jsonl.gz: not the test pairs of"):
        vc.main([str(a), str(c)])
