"""The notebook tooling, imported without what we never use.

jsonschema, which nbformat imports (hence papermill, nbconvert and jupytext), registers its optional IRI
format checkers when the package rfc3987-syntax is installed (jupyter-events pulls it in), and importing
that package compiles a grammar: ~1.2 s of CPU in every process that runs or writes a notebook (each
`tft run`, each cluster task, the report's kernel). `import nbformat` took 1.39 s with it and 0.22 s
without on a 2-core AMD EPYC; a forced 07 stage through `tft run` 7.7 s against 6.0 s (the code before and
after, alternating, 3 runs each). No notebook schema checks an IRI, so the processes `tft` starts go
without those checkers.
"""

from __future__ import annotations

import sys

# the same, as a line for the kernels tft run starts (run/progress.py KERNEL_ARGS)
WITHOUT_IRI_FORMATS = 'import sys; sys.modules.setdefault("rfc3987_syntax", None)'


def without_iri_formats() -> None:
    """Before the first import of nbformat or jsonschema: jsonschema then finds rfc3987-syntax absent (an
    optional dependency) and skips its IRI formats. A no-op once either is imported."""
    sys.modules.setdefault("rfc3987_syntax", None)
