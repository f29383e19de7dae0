"""core/imports.py: nbformat imported without jsonschema's IRI checkers still reads and validates our
notebooks, and the kernels tft run starts import it the same way."""

import subprocess
import sys

from tft_utils.core.paths import REPO

CHECK = """
import sys
from tft_utils.core.imports import without_iri_formats

without_iri_formats()
import jsonschema, nbformat

assert sys.modules["rfc3987_syntax"] is None
assert "iri" not in jsonschema.FormatChecker().checkers  # the checkers left out
for name in ("01_data", "07_report"):
    nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    bad = nbformat.from_dict({**nb, "cells": [{"cell_type": "code"}]})  # a code cell without its source
    try:
        nbformat.validate(bad)
    except nbformat.ValidationError:
        pass
    else:
        sys.exit("an invalid notebook passed")
print("ok")
"""


def test_notebooks_still_validate_without_the_iri_checkers():
    p = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]


def test_the_kernels_get_the_same_line():
    from tft_utils.core.imports import WITHOUT_IRI_FORMATS
    from tft_utils.run.progress import KERNEL_ARGS

    exec_lines = [a for a in KERNEL_ARGS if a.startswith("--IPKernelApp.exec_lines=")]
    assert len(exec_lines) == 1 and exec_lines[0].split("=", 1)[1].startswith(WITHOUT_IRI_FORMATS + ";")
