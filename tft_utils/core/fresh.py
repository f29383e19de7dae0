"""One freshness rule for every stored output: reuse it only when what produced it is unchanged.

Every output a stage writes (a notebook's run, a cleaned folder, a synthetic set, a trained student,
a predictions file, the dequantized base model) carries a *fingerprint* beside it: the stage's own
resolved parameters, the fingerprints (or content hashes) of its inputs, the code that ran and the
seed. `reuse(path, fp)` is the only place that decides whether a stored output is still valid:

- the output and its fingerprint exist, and their digests are equal -> reuse;
- anything else (missing, older format, other params, other inputs, other code, `run.force`) -> rerun.

Because an output's fingerprint includes its inputs' fingerprints, a change anywhere reruns
everything downstream of it, and nothing else. The digest covers the package's *content*, not the git
commit: a commit that only touches the README retrains nothing, an uncommitted edit of train/loop.py
retrains every student. An output counts the package modules its code imports, at any depth (`code_of`: a
student from train/loop.py, a notebook stage from its cells' imports), so an edit of the report reruns 07
alone and retrains nothing. A module counts as Python parses it (its
syntax tree, docstrings included): an edit of its comments or layout alone retrains nothing. The commit
and dirty flag are recorded beside it for provenance. The LLM call cache is keyed by each request's full
content and needs no fingerprint.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path

from tft_utils.core.io import write_json
from tft_utils.core.paths import PACKAGE  # code fingerprints name files relative to tft_utils/

SIDECAR = ".fingerprint.json"
FORMAT = 1  # bump when the fingerprint's layout changes: older outputs are then rebuilt


def _digest(obj) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 over the package's files (modules by `source_hash`, resources by their bytes), by relative path."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(PACKAGE)).encode() + b"\0" + source_hash(p).encode() + b"\0")
    return h.hexdigest()


def code_state() -> dict:
    """What ran: the package's content hash (in the digest), version and git commit (recorded)."""
    from importlib import metadata

    from tft_utils.core.provenance import git_commit

    try:
        version = metadata.version("tft-study")
    except metadata.PackageNotFoundError:
        version = None
    return {"code": code_hash(), "version": version, "commit": git_commit()}


def sidecar(path: str | os.PathLike) -> Path:
    """Where an output's fingerprint lives: DIR/.fingerprint.json, or FILE.fingerprint.json."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return path / SIDECAR
    return path.with_name(path.name + ".fingerprint.json")


def file_hash(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return _file_hash(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _file_hash(path: str, size: int, mtime_ns: int) -> str:  # size/mtime: a rewritten file is rehashed
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_hash(path: str | os.PathLike) -> str:
    """A module's code as Python reads it: the sha256 of its syntax tree (`ast.dump`: no comments, blank
    lines or layout; docstrings and every other string kept), so that fixing a comment in train/loop.py
    does not retrain every student. Another Python may dump the same tree differently: then everything
    reruns once. Other files (and a module Python cannot parse) count by their bytes."""
    st = os.stat(path)
    return _source_hash(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=512)
def _source_hash(path: str, size: int, mtime_ns: int) -> str:
    if path.endswith(".py"):
        try:
            tree = ast.parse(Path(path).read_bytes(), filename=path)
        except (SyntaxError, ValueError):
            tree = None
        if tree is not None:
            return hashlib.sha256(b"ast\0" + ast.dump(tree).encode()).hexdigest()
    return _file_hash(path, size, mtime_ns)


# Modules that decide where, when and how an output is recorded, never what it holds (its parameters enter a
# fingerprint by value): left out of `code_of`, so that, say, a new provenance field retrains nothing.
NEVER_SHAPES = frozenset(
    {
        "core/fresh.py",
        "core/provenance.py",
        "core/params.py",
        "core/params_check.py",
        "core/locks.py",
        "core/paths.py",
    }
)


def code_of(*roots: str, never: frozenset = NEVER_SHAPES) -> tuple[str, ...]:
    """The package files whose code shapes what `roots` (module paths under tft_utils/) make: the roots and
    every module of the package they import, at any depth and wherever the import stands (a function's own
    imports too), as Python parses them; the files under resources/ when its reader is among them (they are
    read by name); less `never`. Computed, not listed, so that a module train/loop.py starts to import
    enters every student's fingerprint without anyone remembering to add it."""
    seen, todo = set(), list(roots)
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        if not (PACKAGE / rel).is_file():
            raise FileNotFoundError(f"{PACKAGE / rel}: no such module of the package (fresh.code_of)")
        seen.add(rel)
        st = os.stat(PACKAGE / rel)
        todo += _imports(str(PACKAGE / rel), st.st_size, st.st_mtime_ns)
    if "resources/__init__.py" in seen:
        seen |= {str(f.relative_to(PACKAGE)) for f in (PACKAGE / "resources").rglob("*") if f.is_file()}
    return tuple(sorted(f for f in seen - never if "__pycache__" not in f))


def code_of_source(source: str, where: str = "<source>") -> tuple[str, ...] | None:
    """The package code that Python source outside the package (a notebook's cells) runs: `code_of` the modules
    it imports, NEVER_SHAPES kept (a notebook writes the provenance and params it reads into its outputs);
    None when the source does not parse (IPython syntax): then the whole package counts."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError:
        return None
    return code_of(*_module_files(_imported_names(tree, ())), never=frozenset())


@lru_cache(maxsize=512)
def _imports(path: str, size: int, mtime_ns: int) -> list[str]:
    """The package modules a module imports (paths under tft_utils/)."""
    here = Path(path).relative_to(PACKAGE).with_suffix("").parts  # ('train', 'loop') or ('train', '__init__')
    return _module_files(_imported_names(ast.parse(Path(path).read_bytes(), filename=path), here))


def _imported_names(tree: ast.AST, here: tuple) -> list[str]:
    """Every dotted name an import in `tree` may load (`from a import b`: a and a.b); a relative import is
    resolved from the module at `here` (its path parts under tft_utils/)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # from .cost import x, from . import y: from the module's own package up
                module = ".".join(
                    ["tft_utils", *here[: len(here) - node.level], *([module] if module else [])]
                )
            names += [module] + [f"{module}.{a.name}" for a in node.names]
    return names


def _module_files(names: list[str]) -> list[str]:
    """The package files of dotted names, with the packages' __init__.py that Python runs on the way:
    tft_utils.a.b is a/__init__.py and a/b.py (or a/b/__init__.py); names outside the package are left."""
    out = []
    for name in names:
        parts = name.split(".")
        if parts[0] != "tft_utils":
            continue
        for i in range(1, len(parts) + 1):  # each package on the way, then the module itself
            stem = PACKAGE.joinpath(*parts[1:i])
            for f in (stem / "__init__.py", stem.with_suffix(".py")):
                if (i > 1 or f.name == "__init__.py") and f.is_file():
                    out.append(str(f.relative_to(PACKAGE)))
    return sorted(set(out))


def input_id(path: str | os.PathLike | None) -> str | None:
    """An input's identity: its own fingerprint's digest when it has one (a stage output), else the
    hash of its bytes (a file); a Hub id or other non-path string stands for itself."""
    if path is None:
        return None
    p = Path(path)
    fp = read(p)
    if fp:
        return fp["digest"]
    if p.is_file():
        return file_hash(p)
    if p.is_dir():
        return _digest({str(f.relative_to(p)): file_hash(f) for f in sorted(p.rglob("*")) if f.is_file()})
    return str(path)


def make(
    kind: str,
    params: dict,
    inputs: dict | None = None,
    seed=None,
    code: bool = True,
    data: dict | None = None,
) -> dict:
    """The fingerprint of an output of `kind` produced from `params` (only the parameters that
    shape it), `inputs` ({name: path or id}), in-memory `data` ({name: JSON-able object}, digested),
    `seed`, and (unless code=False) the package code."""
    state = code_state() if code else {}
    if isinstance(code, (list, tuple)):  # only these modules shape the output (a long-lived cache)
        state = {**state, "code": _digest({f: source_hash(PACKAGE / f) for f in sorted(code)})}
    ids = {k: input_id(v) for k, v in sorted((inputs or {}).items())}
    ids.update({k: _digest(v) for k, v in sorted((data or {}).items())})
    core = {
        "format": FORMAT,
        "kind": kind,
        "params": params,
        "inputs": ids,
        "seed": seed,
        "code": state.get("code"),
    }
    return {**core, "digest": _digest(core), "version": state.get("version"), "commit": state.get("commit")}


def read(path: str | os.PathLike) -> dict | None:
    side = sidecar(path)
    if not side.exists():
        return None
    try:
        fp = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return fp if isinstance(fp, dict) and "digest" in fp else None


def _pending(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.pending.json")


def begin(path: str | os.PathLike, fp: dict, leftovers=()) -> list[Path]:
    """Before (re)building `path` from fp: a partial build of another fingerprint (`leftovers`:
    checkpoints, partial files, the stale output itself) is removed, so a resumed build only ever
    continues its own work; then fp is recorded as pending. Returns the leftovers it removed."""
    marker = _pending(path)
    old = None
    if marker.exists():
        try:
            old = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = None
    done = read(path)  # a finished build of the same fp whose outputs were partly removed: resume it
    same = (old or {}).get("digest") == fp["digest"] or (done or {}).get("digest") == fp["digest"]
    removed = []
    if not same:
        for p in (*leftovers, sidecar(path)):
            p = Path(p)
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
            else:
                continue
            removed.append(p)
    write_json(marker, fp)
    return [p for p in removed if p != sidecar(path)]


def stamp(path: str | os.PathLike, fp: dict) -> Path:
    """Record fp beside a finished output (written atomically, after the output itself)."""
    out = write_json(sidecar(path), fp)
    _pending(path).unlink(missing_ok=True)
    return out


def why_stale(path: str | os.PathLike, fp: dict) -> str | None:
    """None when the stored output at `path` may be reused; else a short reason (for the log)."""
    path = Path(path)
    if not path.exists():
        return "not built yet"
    old = read(path)
    if old is None:
        return "no fingerprint recorded"
    if old.get("digest") == fp["digest"]:
        return None
    changed = [k for k in ("format", "kind", "params", "inputs", "seed", "code") if old.get(k) != fp.get(k)]
    detail = []
    if "params" in changed and isinstance(old.get("params"), dict):
        detail = [f"params.{k}" for k in _diff_keys(old["params"], fp["params"])][:4]
    if "inputs" in changed and isinstance(old.get("inputs"), dict):
        detail += [
            f"inputs.{k}"
            for k in sorted(set(old["inputs"]) | set(fp["inputs"]))
            if old["inputs"].get(k) != fp["inputs"].get(k)
        ][:4]
    detail += [k for k in changed if k not in ("params", "inputs")]  # the code too, when it changed with them
    return "changed: " + ", ".join(detail or changed)


def _diff_keys(a, b, prefix: str = "") -> list[str]:
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [prefix.rstrip(".")] if a != b else []
    out = []
    for k in sorted(set(a) | set(b), key=str):
        out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
    return out


def reuse(path: str | os.PathLike, fp: dict, force: bool = False, log=None, what: str | None = None) -> bool:
    """THE rule: True when `path` holds an output built from exactly `fp` (and not forced)."""
    reason = "forced (--force)" if force else why_stale(path, fp)
    if log:
        name = what or str(path)
        log(f"{name}: up to date" if reason is None else f"{name}: (re)building - {reason}")
    return reason is None


def forced(params: dict) -> bool:
    return bool(params.get("run", {}).get("force"))
