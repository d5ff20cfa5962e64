"""When pandasdb shows a progress bar, and which: one policy for the store, the SDK and the CLI.

A bar appears when a person is watching and the work is long: in a Jupyter kernel or on a
terminal, never under CI (the ``CI`` environment variable) or in a script whose output goes
to a file, and only once the work has run for :data:`DELAY_SECONDS`. ``progress=True`` or
``False`` (in ``open``, ``connect``, and ``--progress`` / ``--no-progress`` on the command line)
overrides the guess. In a notebook the bar is a widget when ipywidgets is installed, else a
line of text, without the warning ``tqdm.auto`` prints about the missing widget.

Example
-------
>>> enabled(False), enabled(True)
(False, True)
>>> bar(total=10, desc="reading chunks", unit="chunk", progress=False) is None
True
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: a bar shows only once the work has run this long: short work ends before anyone could read it
DELAY_SECONDS = 1.0
#: values of ``CI`` that do not mean "running under CI"
_NOT_CI = ("", "0", "false", "no")


def in_jupyter() -> bool:
    """Whether this process is a Jupyter kernel (a notebook, JupyterLab, VS Code, Colab)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    # a kernel's shell has a kernel; the terminal IPython's has none
    return getattr(shell, "kernel", None) is not None


def under_ci() -> bool:
    """Whether the ``CI`` environment variable says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def watching() -> bool:
    """Whether a person is likely watching: a notebook or a terminal, and not CI."""
    if under_ci():
        return False
    if in_jupyter():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # stderr replaced or closed
        return False


def enabled(progress: bool | None) -> bool:
    """The policy: ``progress`` when given, else whether a person is watching."""
    return watching() if progress is None else progress


def bar(*, total: int, desc: str, unit: str, progress: bool | None, **options: Any) -> Any:
    """A tqdm bar for ``total`` units of work, or None when the policy says no bar.

    The bar appears only after :data:`DELAY_SECONDS` and disappears when closed.
    """
    if not enabled(progress):
        return None
    options = {"leave": False, "delay": DELAY_SECONDS, **options}
    return _bar_class()(total=total, desc=desc, unit=unit, **options)


def _bar_class() -> type:
    if in_jupyter():
        try:
            import ipywidgets  # noqa: F401 - the notebook bar needs it
        except ImportError:
            pass  # a text bar, quietly: tqdm.auto would warn about the missing widget
        else:
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
    from tqdm.std import tqdm

    return tqdm


__all__ = ["DELAY_SECONDS", "bar", "enabled", "in_jupyter", "under_ci", "watching"]
