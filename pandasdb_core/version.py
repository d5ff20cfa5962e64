"""The installed pandasdb's version, read from its package metadata (``pyproject.toml`` is
the one place it is written).

Example
-------
>>> import pandasdb_core
>>> pandasdb_core.__version__ == installed_version()
True
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: the distribution pandasdb_core is installed as
DISTRIBUTION = "pandasdb"


def installed_version() -> str:
    """The version of the installed ``pandasdb`` distribution (``0+unknown`` when the package
    runs from a source tree that was never installed)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


__version__ = installed_version()
