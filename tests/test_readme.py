"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    quickstart = python_blocks()[0]
    exec(compile(quickstart, "README quickstart", "exec"), {})
    assert capsys.readouterr().out.strip() == "1 96 4"
    assert (tmp_path / "data" / "sales" / "daily" / "ts").is_dir()
