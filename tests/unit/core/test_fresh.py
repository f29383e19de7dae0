"""The one freshness rule (tft_utils.core.fresh): reuse exactly when what produced an output is unchanged."""

import json
from pathlib import Path

import pytest

from tft_utils.core import fresh


def _build(path, fp, text="x"):
    fresh.begin(path, fp, leftovers=[path])
    path.write_text(text)
    fresh.stamp(path, fp)


def test_same_fingerprint_is_reused_and_anything_else_is_not(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"a": 1}\n')
    out = tmp_path / "out.jsonl"
    fp = fresh.make("k", {"steps": 3}, {"src": src}, seed=0)
    assert fresh.why_stale(out, fp) == "not built yet"
    _build(out, fp)
    assert fresh.reuse(out, fp)
    assert fresh.reuse(out, fresh.make("k", {"steps": 3}, {"src": src}, seed=0))
    assert not fresh.reuse(out, fp, force=True)
    assert "params.steps" in fresh.why_stale(out, fresh.make("k", {"steps": 5}, {"src": src}, seed=0))
    assert not fresh.reuse(out, fresh.make("k", {"steps": 3}, {"src": src}, seed=1))
    assert not fresh.reuse(out, fresh.make("other", {"steps": 3}, {"src": src}, seed=0))
    src.write_text('{"a": 2}\n')  # an input's content changed
    assert "inputs.src" in fresh.why_stale(out, fresh.make("k", {"steps": 3}, {"src": src}, seed=0))
    other = fresh.make("k", {"steps": 5}, {"src": src}, seed=0)
    other = {**other, "code": "another package", "digest": "another"}  # new params and new code
    assert fresh.why_stale(out, other) == "changed: params.steps, inputs.src, code"


def test_an_input_with_a_fingerprint_is_identified_by_it(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"1")
    by_content = fresh.input_id(model)
    fp = fresh.make("student", {"steps": 3})
    fresh.stamp(model, fp)
    assert fresh.input_id(model) == fp["digest"] != by_content
    # so a retrained model (new fingerprint) makes its predictions stale
    pred = tmp_path / "pred.jsonl"
    pfp = fresh.make("predictions", {}, {"model": model})
    _build(pred, pfp)
    fresh.stamp(model, fresh.make("student", {"steps": 5}))
    assert not fresh.reuse(pred, fresh.make("predictions", {}, {"model": model}))


def test_missing_or_corrupt_fingerprint_means_rebuild(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")  # written by code that recorded no fingerprint
    fp = fresh.make("k", {})
    assert fresh.why_stale(out, fp) == "no fingerprint recorded"
    fresh.sidecar(out).write_text("{not json")
    assert not fresh.reuse(out, fp)


def test_code_is_part_of_the_digest_and_the_commit_is_recorded():
    with_code, without = fresh.make("k", {}), fresh.make("k", {}, code=False)
    assert with_code["code"] == fresh.code_hash() and without["code"] is None
    assert with_code["digest"] != without["digest"]
    assert with_code["commit"]  # recorded for provenance, not part of the digest


def test_a_student_follows_its_code_not_the_comments_or_layout_around_it(monkeypatch, tmp_path, dataset_dir):
    """The real package copied: a comment fixed in train/loop.py, a line rewrapped, retrain nothing;
    a changed number or docstring does; a resource file counts by its bytes."""
    import shutil

    from tft_utils.core.params import load_params
    from tft_utils.train.arms import student_fingerprint

    pkg = tmp_path / "tft_utils"
    shutil.copytree(fresh.PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fresh, "PACKAGE", pkg)
    params = load_params("smoke", "s1")
    convs = [{"dialogue_id": "d", "messages": [{"role": "user", "content": "hi"}]}]

    def digest():
        return student_fingerprint(convs, {"data": dataset_dir}, params, 0)["digest"]

    loop, before = pkg / "train" / "loop.py", digest()
    src = loop.read_text()
    assert "    model.train()\n" in src and '"""Fine-tune the base student' in src
    for edited, retrains in (
        (
            src.replace("    model.train()\n", "    # a comment fixed\n\n    model.train(  )  # layout\n"),
            False,
        ),
        (src.replace("    model.train()\n", "    model.train(False)\n"), True),
        (src.replace('"""Fine-tune the base student', '"""Fine-tune the student'), True),
    ):
        loop.write_text(edited)
        assert (digest() != before) == retrains, f"retrains={retrains}"
        loop.write_text(src)
    assert digest() == before
    res = tmp_path / "words.txt"
    res.write_text("a # b\n")
    first = fresh.source_hash(res)
    res.write_text("a # c\n")
    assert fresh.source_hash(res) != first  # not Python: every byte counts
    bad = tmp_path / "bad.py"
    bad.write_text("def (:\n")
    assert fresh.source_hash(bad) == fresh.file_hash(bad)  # Python cannot parse it: its bytes


def test_begin_keeps_a_partial_build_of_the_same_fingerprint_only(tmp_path):
    out, partial = tmp_path / "pred.jsonl", tmp_path / "pred.jsonl.partial"
    a, b = fresh.make("k", {"v": 1}), fresh.make("k", {"v": 2})
    fresh.begin(out, a, leftovers=[partial])
    partial.write_text("row 1\n")  # killed here
    fresh.begin(out, a, leftovers=[partial])
    assert partial.read_text() == "row 1\n"  # same build: resumed
    fresh.begin(out, b, leftovers=[partial])
    assert not partial.exists()  # another build's half-work is never continued
    pending = json.loads((tmp_path / ".pred.jsonl.pending.json").read_text())
    assert pending["digest"] == b["digest"]
    out.write_text("done\n")
    fresh.stamp(out, b)
    assert not (tmp_path / ".pred.jsonl.pending.json").exists() and fresh.reuse(out, b)


def test_in_memory_data_is_digested(tmp_path):
    a = fresh.make("student", {}, data={"conversations": [{"messages": [1]}]})
    b = fresh.make("student", {}, data={"conversations": [{"messages": [2]}]})
    assert a["digest"] != b["digest"] and a["inputs"]["conversations"] != b["inputs"]["conversations"]


def test_students_and_predictions_follow_only_the_code_that_shapes_them(monkeypatch, dataset_dir):
    """An edit to the training loop retrains the students and an edit to predict.py re-predicts; an
    edit to the judge, the reply rules or the provenance record (outside what train.arms.STUDENT_ROOTS and
    evaluate.compare.PREDICT_ROOTS import) touches neither; the chat renderer shapes both; the attention
    of `train.fast_step`, which the loop imports, retrains students (a hand-made list once left it out)."""
    from tft_utils.core.params import load_params
    from tft_utils.evaluate.compare import predictions_fingerprint
    from tft_utils.train.arms import student_fingerprint

    params = load_params("smoke", "s1")
    convs = [{"dialogue_id": "d", "messages": [{"role": "user", "content": "hi"}]}]
    paths = {"data": dataset_dir}
    pairs, tools = dataset_dir / "test_pairs.jsonl", dataset_dir / "tools.json"

    def fps():
        return (
            student_fingerprint(convs, paths, params, 0)["digest"],
            predictions_fingerprint(dataset_dir, pairs, tools, params)["digest"],
        )

    real, before = fresh.source_hash, fps()
    for edited, changes in (
        ("evaluate/judge/rubric.py", (False, False)),
        ("domain/replies.py", (False, False)),
        ("core/provenance.py", (False, False)),
        ("report/record.py", (False, False)),
        ("train/loop.py", (True, False)),
        ("train/attention.py", (True, False)),
        ("domain/calls.py", (True, True)),
        ("evaluate/predict.py", (False, True)),
        ("train/render.py", (True, True)),
    ):

        def edit(p, e=edited):
            return real(p) + ("!" if Path(p).as_posix().endswith(f"tft_utils/{e}") else "")

        monkeypatch.setattr(fresh, "source_hash", edit)
        after = fps()
        assert (after[0] != before[0], after[1] != before[1]) == changes, edited


def _package(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_code_of_an_output_is_what_its_roots_import_at_any_depth(tmp_path, monkeypatch):
    """fresh.code_of follows the package's imports (module level, inside a function, relative, a submodule
    named in `from a import b`) with the packages' __init__.py on the way and the resources their reader
    gives; modules nobody imports and NEVER_SHAPES stay out; an import added later brings its module in."""
    pkg = _package(
        tmp_path / "tft_utils",
        {
            "__init__.py": "",
            "train/__init__.py": "",
            "train/loop.py": "import json\nfrom tft_utils.train import render\n\ndef f():\n    from .attention import g\n",
            "train/render.py": "from tft_utils.domain.calls import call\nfrom tft_utils.core.provenance import m\n",
            "train/attention.py": "",
            "domain/__init__.py": "from . import tools\n",  # a package's own relative import
            "domain/tools.py": "",
            "domain/calls.py": "import tft_utils.resources\n",
            "core/__init__.py": "",
            "core/provenance.py": "",
            "resources/__init__.py": "",
            "resources/ids.txt": "1\n",
            "report/record.py": "from tft_utils.train.loop import f\n",
        },
    )
    monkeypatch.setattr(fresh, "PACKAGE", pkg)
    assert fresh.code_of("train/loop.py") == (
        "__init__.py",
        "core/__init__.py",  # run on the way to core/provenance.py
        "domain/__init__.py",
        "domain/calls.py",
        "domain/tools.py",
        "resources/__init__.py",
        "resources/ids.txt",
        "train/__init__.py",
        "train/attention.py",
        "train/loop.py",
        "train/render.py",
    )
    assert "core/provenance.py" in fresh.NEVER_SHAPES  # imported by render.py, records only
    (pkg / "train/attention.py").write_text("from tft_utils.train import bottom\n")
    (pkg / "train/bottom.py").write_text("x = 1\n")
    assert "train/bottom.py" in fresh.code_of("train/loop.py")
    with pytest.raises(FileNotFoundError, match="train/gone.py"):
        fresh.code_of("train/gone.py")


def test_the_real_students_and_predictions_count_the_modules_they_run():
    from tft_utils.evaluate.compare import PREDICT_ROOTS
    from tft_utils.train.arms import STUDENT_ROOTS
    from tft_utils.train.tool_base import BUILD_ROOTS

    student, predict, base = (fresh.code_of(*r) for r in (STUDENT_ROOTS, PREDICT_ROOTS, BUILD_ROOTS))
    for f in ("train/loop.py", "train/attention.py", "train/bottom.py", "train/render.py", "domain/calls.py"):
        assert f in student and f in base, f
    assert {"evaluate/predict.py", "train/render.py", "train/student.py"} <= set(predict)
    assert "train/loop.py" not in predict  # a student's own fingerprint follows the loop, the base's need not
    for codes in (student, predict, base):
        assert not any(f.startswith(("report/", "run/", "plan/", "evaluate/judge/")) for f in codes)
        assert not set(codes) & fresh.NEVER_SHAPES
