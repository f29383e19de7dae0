"""The one freshness rule (tft_utils.core.fresh): reuse exactly when what produced an output is unchanged."""

import json
from pathlib import Path

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
    edit to the judge or the reply rules (outside train.arms.STUDENT_CODE / evaluate.compare.PREDICT_CODE)
    touches neither; the chat renderer shapes both."""
    from tft_utils.core.params import load_params
    from tft_utils.evaluate.compare import PREDICT_CODE, predictions_fingerprint
    from tft_utils.train.arms import STUDENT_CODE, student_fingerprint

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
        ("train/loop.py", (True, False)),
        ("evaluate/predict.py", (False, True)),
        ("train/render.py", (True, True)),
    ):

        def edit(p, e=edited):
            return real(p) + ("!" if Path(p).as_posix().endswith(f"tft_utils/{e}") else "")

        monkeypatch.setattr(fresh, "source_hash", edit)
        after = fps()
        assert (after[0] != before[0], after[1] != before[1]) == changes, edited
    assert "train/loop.py" in STUDENT_CODE and "evaluate/predict.py" in PREDICT_CODE


def test_code_lists_name_modules_that_exist():
    """The modules whose code shapes a student, its predictions and the tool-calling base are named
    by their path under tft_utils/: a module moved or renamed must be renamed in its list too, or
    its edits would silently stop retraining (fresh.make would also fail on the missing file)."""
    from tft_utils.evaluate.compare import PREDICT_CODE
    from tft_utils.train.arms import STUDENT_CODE
    from tft_utils.train.tool_base import BUILD_CODE

    for name, files in (
        ("STUDENT_CODE", STUDENT_CODE),
        ("PREDICT_CODE", PREDICT_CODE),
        ("BUILD_CODE", BUILD_CODE),
    ):
        missing = [f for f in files if not (fresh.PACKAGE / f).is_file()]
        assert files and not missing, f"{name} names files that do not exist under tft_utils/: {missing}"
