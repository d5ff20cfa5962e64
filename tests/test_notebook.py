"""The README's quickstart, run cell by cell in a real Jupyter kernel (nbclient + ipykernel),
as a person at a notebook would: what it shows must read at a glance, and print no warning."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

README = Path(__file__).resolve().parents[1] / "README.md"
#: a time as the result tables show it (UTC, to the second)
SHOWN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
#: a progress bar in a kernel without ipywidgets: text on stderr, and no widget warning
PROGRESS_CELL = """\
import sys
sys.modules["ipywidgets"] = None  # as on a machine without it
from pandasdb_core import parallel, progress
progress.DELAY_SECONDS = 0  # show the bar at once, however short the work
print("in jupyter:", progress.in_jupyter())
_ = parallel.map_parallel(str, list(range(20)), workers=2, label="demo bar", progress=True)
"""


def quickstart_cells() -> list[str]:
    """The quickstart's code block, one top-level statement per cell (so every expression
    shows its result, as in a notebook written from it)."""
    text = README.read_text()
    section = text.split("## Quickstart for notebooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    lines = code.splitlines()
    return ["\n".join(lines[node.lineno - 1 : node.end_lineno]) for node in ast.parse(code).body]


def outputs(cell: Any, kind: str) -> list[Any]:
    return [o for o in cell.outputs if o.output_type == kind]


@pytest.fixture(scope="module")
def notebook(tmp_path_factory) -> list[Any]:
    """The executed notebook's cells (quickstart cells, then the progress cell)."""
    folder = tmp_path_factory.mktemp("notebook")
    cells = [nbformat.v4.new_code_cell(source) for source in quickstart_cells()]
    cells.append(nbformat.v4.new_code_cell(PROGRESS_CELL))
    nb = nbformat.v4.new_notebook(cells=cells)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},  # the kernel's working folder
    )
    client.execute()  # raises if any cell fails
    return nb.cells


def cell_of(cells: list[Any], source: str) -> Any:
    return next(c for c in cells if c.source.strip() == source)


def test_the_quickstart_runs_without_a_warning(notebook):
    quickstart = notebook[:-1]
    noise = [
        o.text
        for c in quickstart
        for o in outputs(c, "stream")
        if o.name == "stderr" or "warn" in o.text.lower()
    ]
    assert noise == [], "nothing on stderr, no warning"
    printed = cell_of(notebook, "print(commit.version, commit.rows, commit.chunks)  # 1 96 4")
    assert outputs(printed, "stream")[0].text == "1 96 4\n"


def test_the_versions_table_shows_dates_and_renders_as_html(notebook):
    cell = cell_of(notebook, 'db.versions("sales/daily")  # the history')
    (result,) = outputs(cell, "execute_result")
    text, page = result.data["text/plain"], result.data["text/html"]
    assert text.startswith("2 versions of 'sales/daily'")
    assert "created_at (UTC)" in text and len(SHOWN_TIME.findall(text)) == 2
    assert "1795" not in text and "e+09" not in text, "no raw epoch seconds"
    assert page.startswith('<table class="pandasdb">') and page.rstrip().endswith("</table>")
    assert len(SHOWN_TIME.findall(page)) == 2 and page.count("<tr>") == 3  # header + 2


def test_the_frame_list_renders_as_html_with_ranges(notebook):
    cell = cell_of(notebook, 'db.list(prefix="sales/")  # frames with rows and versions')
    (result,) = outputs(cell, "execute_result")
    page = result.data["text/html"]
    assert "<caption>1 frame</caption>" in page
    assert "<td>sales/daily</td>" in page and "<td>ts (Date)</td>" in page
    assert "<td>2024-01-01 .. 2024-01-04</td>" in page
    assert SHOWN_TIME.search(page)


def test_a_progress_bar_in_a_kernel_without_ipywidgets_is_quiet_text(notebook):
    cell = notebook[-1]
    out = "".join(o.text for o in outputs(cell, "stream") if o.name == "stdout")
    err = "".join(o.text for o in outputs(cell, "stream") if o.name == "stderr")
    assert out == "in jupyter: True\n"
    assert "demo bar" in err, "the bar shows as text"
    assert "IProgress" not in err and "Warning" not in err, "no widget warning"
