"""Write a source notebook (no outputs) from a list of ("md"|"code"|"params", text) cells.

Used by the lead's notebook specs in scripts/notebooks_*.py; keeps notebooks diff-friendly.
Usage: python scripts/nb.py  (rebuilds notebooks 01, 02, 06, 07)
"""

from __future__ import annotations

from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def write_notebook(name: str, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in cells:
        text = text.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(text)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    path = REPO / "notebooks" / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


COMMON_PARAMS = """
PROFILE = "cpu"                 # cpu | paper | smoke
RUN_DIR = "outputs/default"     # outputs/<run>; paths are relative to the repository root
OVERRIDES = []                  # the -p overrides of tft run (strings), applied over defaults, profile, scenario
PIPELINES = ["direct", "tft"]   # direct, tft
SCENARIOS = ["s1", "s2", "s3", "s4", "s5"]  # the run's scenarios (used by 01 and 07)
"""

NB01 = [
    (
        "md",
        """
# 01 · Data: SGD dialogues → tool-calling traces

Converts the Restaurants_1 dialogues of the Schema-Guided Dialogue dataset into OpenAI-format traces
(STUDY §2), splits them into the training pool (327 conversations) and the published test set
(34 conversations, expanded into one evaluation pair per assistant turn), and writes the tool schemas.
Every scenario of the study starts from these files.""",
    ),
    (
        "params",
        COMMON_PARAMS
        + "SGD_DIR = None                  # None: data.sgd_dir, $TFT_SGD_DIR, data/sgd, then download\n",
    ),
    (
        "code",
        """
from IPython.display import display

from tft_utils.data import build_dataset, load_traces
from tft_utils.figures import call_counts, conversation_text, plot_calls, plot_lengths
from tft_utils.io import read_json, read_jsonl, write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths
from tft_utils.sgd import resolve_sgd_dir""",
    ),
    ("md", "## 1. Parameters and paths"),
    (
        "code",
        """
params = load_params(PROFILE, None, OVERRIDES)
paths = run_paths(RUN_DIR)
params["data"]""",
    ),
    ("md", "## 2. Locate the SGD files"),
    (
        "code",
        'sgd_dir = resolve_sgd_dir(SGD_DIR or params["data"]["sgd_dir"], params["data"]["sgd_url"])\nsgd_dir',
    ),
    (
        "md",
        "## 3. Convert and split\n\n327 training traces, 34 test conversations → 360 pairs (`sgd`) or 359 (`published`).",
    ),
    (
        "code",
        """
d = params["data"]
stats = build_dataset(sgd_dir, paths["data"], d["service"], d["test_set"], d["published_test"], d["test_ids"], d["excluded_ids"])
stats""",
    ),
    ("md", "## 4. One trace, read as a conversation"),
    (
        "code",
        """
pool = load_traces(paths["data"] / "train_pool.jsonl")
test = load_traces(paths["data"] / "test.jsonl")
print(conversation_text(test[0]))""",
    ),
    ("md", "## 5. Conversation lengths: training pool vs test set"),
    ("code", 'fig = plot_lengths({"train pool": pool, "test": test})'),
    ("md", "## 6. Which tools the assistant calls"),
    (
        "code",
        'display(call_counts({"train pool": pool, "test": test}))\nfig = plot_calls({"train pool": pool, "test": test})',
    ),
    ("md", "## 7. Evaluation pairs and tool schemas"),
    (
        "code",
        """
pairs = read_jsonl(paths["data"] / "test_pairs.jsonl")
tools = read_json(paths["data"] / "tools.json")
print(len(pairs), "pairs;", [t["function"]["name"] for t in tools])
pairs[0]["answer"]""",
    ),
    ("md", "## 8. Record the results"),
    (
        "code",
        'write_json(paths["data"] / "01_results.json", {"stats": stats, "provenance": provenance(params)})',
    ),
]

NB02 = [
    (
        "md",
        """
# 02 · Scenarios: the noise each pipeline faces

Applies one scenario of STUDY §3 to the training pool: S1 clean, S2 noisy labels, S3 schema drift,
S4 five traces, S5 traffic from another domain. Every change is seeded and recorded per turn in
`corruptions.jsonl`; this notebook counts and shows them so the reader knows exactly what the cleaning
stages (03) were up against. The cleaning stages never read that file.""",
    ),
    ("params", COMMON_PARAMS + 'SCENARIO = "s1"                 # s1 | s2 | s3 | s4 | s5\n'),
    (
        "code",
        """
from IPython.display import display

from tft_utils.data import load_traces
from tft_utils.figures import conversation_text, corruption_examples, corruption_table, plot_calls, plot_corruptions
from tft_utils.io import read_jsonl, write_json
from tft_utils.params import load_params
from tft_utils.provenance import provenance
from tft_utils.run import run_paths
from tft_utils.scenarios import write_scenario
from tft_utils.sgd import resolve_sgd_dir""",
    ),
    ("md", "## 1. Parameters and paths"),
    (
        "code",
        """
params = load_params(PROFILE, SCENARIO, OVERRIDES)
paths = run_paths(RUN_DIR, SCENARIO)
params["scenario"]""",
    ),
    ("md", "## 2. Build the scenario"),
    (
        "code",
        """
sgd_dir = resolve_sgd_dir(params["data"]["sgd_dir"], params["data"]["sgd_url"])
stats = write_scenario(SCENARIO, paths["data"], sgd_dir, paths["scenario"], params, params["run"]["seed"])
{k: v for k, v in stats.items() if k != "function_name_counts"}""",
    ),
    ("md", "## 3. What was corrupted, by kind"),
    (
        "code",
        """
traces = load_traces(paths["traces"])
rows = read_jsonl(paths["corruptions"])
table = corruption_table(rows, stats["assistant_calls"], stats["traces"])
display(table)
fig = plot_corruptions(table, SCENARIO)""",
    ),
    ("md", "## 4. Examples: before → after"),
    ("code", "corruption_examples(rows)"),
    ("md", "## 5. Function names in the training traces"),
    ("code", "fig = plot_calls({SCENARIO: traces})"),
    ("md", "## 6. One training trace as the pipelines see it"),
    (
        "code",
        'print(conversation_text(next((t for t in traces if any(r["dialogue_id"] == t["dialogue_id"] for r in rows)), traces[0])))',
    ),
    ("md", "## 7. Record the results"),
    (
        "code",
        'write_json(paths["scenario"] / "02_results.json", {"stats": stats, "provenance": provenance(params)})',
    ),
]

if __name__ == "__main__":
    for name, cells in (("01_data", NB01), ("02_scenarios", NB02)):
        print(write_notebook(name, cells))
