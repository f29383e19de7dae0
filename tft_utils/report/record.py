"""Section 8 of the report: what it wrote and what made it, in one paragraph a reader can quote.

The report's page is often read far from the machine that made it (committed under `docs/`, mailed),
so the paragraph names files, never a machine's absolute paths, and gives the provenance that
`report.json` records in full: commit, time, Python and the packages that decide the numbers.
"""

from __future__ import annotations

from pathlib import Path

from .cost import machine_text

# The packages whose versions change a score or a speed; report.json keeps every recorded one.
KEY_PACKAGES = ("torch", "transformers", "peft", "datasets")


def record_text(report: dict, name: str = "report.json") -> str:
    """'Written beside this page: ...; provenance: commit ..., made ... on ...' from report.json's dict."""
    files = sorted(Path(p).name for p in (report.get("files") or {}).values())
    prov = report.get("provenance") or {}
    packages = prov.get("packages") or {}
    versions = ", ".join(f"{k} {packages[k]}" for k in KEY_PACKAGES if packages.get(k))
    commit = (prov.get("git_commit") or "unknown")[:7]
    made = f"commit `{commit}`, made {prov.get('created') or 'at an unrecorded time'}"
    made += f" on {machine_text(prov.get('machine'))}"
    made += f"; Python {prov['python']}" if prov.get("python") else ""
    made += f", {versions}" if versions else ""
    listed = ", ".join(f"`{f}`" for f in files) or "no other file"
    return (
        f"Written beside this page: {listed}, and `{name}`, which holds the table, the cost and the "
        f"resolved parameters. Provenance: {made}. Each scenario's `results.json` records its own."
    )
