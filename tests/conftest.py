from __future__ import annotations

import pytest

import pandasdb_core as pdb


@pytest.fixture(params=["memory", "local"])
def db(request, tmp_path) -> pdb.Store:
    """A fresh store on each embedded adapter."""
    if request.param == "memory":
        return pdb.open("memory://", chunk_rows=1000)
    return pdb.open(tmp_path / "store", chunk_rows=1000)


@pytest.fixture
def local_db(tmp_path) -> pdb.Store:
    return pdb.open(tmp_path / "store", chunk_rows=1000)
