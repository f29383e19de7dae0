"""The package by stage (issue 13 item 5): every module lives in one stage's sub-package, and imports
run only downward, in this order (lowest first):

    resources < core < domain < llm < data < clean < synth < train < evaluate < report < plan < run

A module may import its own stage and any stage below it, never one above; `tft_utils.cli` (the
`tft` command) and `tft_utils.__main__` sit above every stage and no stage imports them. Imports
inside functions count as much as those at the top. tests/unit mirrors the stages folder for folder,
and the shipped data files are read through `importlib.resources`, never a path built from __file__.
"""

import ast
from pathlib import Path

import tft_utils

LAYERS = (
    "resources",
    "core",
    "domain",
    "llm",
    "data",
    "clean",
    "synth",
    "train",
    "evaluate",
    "report",
    "plan",
    "run",
)
TOP = ("__init__", "__main__", "cli")  # tft_utils/__init__.py, __main__.py, cli.py: above every stage
PACKAGE = Path(tft_utils.__file__).resolve().parent
UNIT_TESTS = Path(__file__).resolve().parent


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE)


def _dotted(rel: Path) -> list[str]:
    parts = list(rel.with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path, rel: Path) -> set[tuple[str, ...]]:
    """The tft_utils modules (or names in them) a file imports, as parts below tft_utils."""
    here = _dotted(rel) if rel.name == "__init__.py" else _dotted(rel)[:-1]  # the importing package
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
            out |= {tuple(n[1:]) for n in names if n[0] == "tft_utils"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["tft_utils", *here[: len(here) - (node.level - 1)]]
                module = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "tft_utils":
                module = node.module.split(".")
            else:
                continue
            if len(module) == 1:  # from tft_utils import cli
                out |= {(a.name,) for a in node.names}
            else:
                out.add(tuple(module[1:]))
    return out


def _layer(parts) -> int | None:
    """A module's stage as its place in LAYERS; None for the top (cli, __main__, the package)."""
    if not parts or parts[0] in TOP:
        return None
    return LAYERS.index(parts[0]) if parts[0] in LAYERS else -1


def test_every_module_lives_in_a_stage():
    stray = [str(rel) for _, rel in _modules() if len(rel.parts) == 1 and rel.stem not in TOP]
    stray += [str(rel) for _, rel in _modules() if len(rel.parts) > 1 and rel.parts[0] not in LAYERS]
    assert not stray, (
        f"modules outside the stages' sub-packages (add a stage to LAYERS, or move them): {stray}"
    )
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(LAYERS)
    assert all((PACKAGE / name / "__init__.py").is_file() for name in LAYERS)


def test_imports_run_only_downward():
    upward = []
    for path, rel in _modules():
        own = _layer(_dotted(rel))
        if own is None:
            continue  # the top may import any stage
        for parts in sorted(_imported(path, rel)):
            other = _layer(parts)
            if other is None or other > own:
                target = "tft_utils." + ".".join(parts) if parts else "tft_utils"
                upward.append(f"{rel} ({LAYERS[own]}) imports {target}")
    order = " < ".join(LAYERS)
    assert not upward, f"imports that run up the order {order}:\n" + "\n".join(upward)


def test_the_check_sees_imports_in_functions_and_relative_ones(tmp_path):
    """The checker itself: a lazy import inside a function and a relative import are both found."""
    mod = tmp_path / "x.py"
    mod.write_text("def f():\n    from tft_utils.report import tables\n\nfrom ..plan import estimate\n")
    found = _imported(mod, Path("train/x.py"))
    assert found == {("report",), ("plan",)}
    assert _layer(("report",)) > _layer(("train",)) and _layer(("cli",)) is None


def test_tests_mirror_the_package():
    """tests/unit/<stage>/ for every stage with code (resources holds only data)."""
    folders = {p.name for p in UNIT_TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(LAYERS) - {"resources"}
    for name in folders:
        assert (UNIT_TESTS / name / "__init__.py").is_file(), name
        assert list((UNIT_TESTS / name).glob("test_*.py")), name


def test_only_core_paths_looks_at_its_own_file():
    """Shipped files are read with importlib.resources (`tft_utils.resources.resource`), which works
    from a wheel as from a checkout; only core/paths.py finds the checkout (params/, notebooks/)."""
    users = []
    for path, rel in _modules():
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(tree)):
            users.append(str(rel))
    assert users == ["core/paths.py"]
