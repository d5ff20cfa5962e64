"""The optional Glue database (``pandasdb:glueDatabase``) under Pulumi's mocks, and the
Athena table statement ``pandasdb manifest --ddl`` prints for a frame."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
from infra_mocks import deploy, of

import pandasdb_core as pdb
from infra.config import StackSettings, UserSpec

GLUE = "aws:glue/catalogDatabase:CatalogDatabase"


def test_a_glue_database_only_when_asked():
    """Athena database names hold lowercase letters, digits and underscores only ("Names
    for tables, databases, and columns", Amazon Athena user guide,
    https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html)."""
    resources, _ = deploy(StackSettings(users=(UserSpec("alice"),)), stack="prod")
    assert of(resources, GLUE) == []
    resources, _ = deploy(StackSettings(users=(UserSpec("alice"),), glue_database=True), "dev-2")
    [database] = of(resources, GLUE)
    assert database["name"] == "pandasdb_dev_2"  # Athena: lowercase, digits and _


def test_manifest_command_prints_a_table_over_each_layouts_manifest(tmp_path):
    db = pdb.open(tmp_path / "store", format="parquet")
    df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "uid": [1, 2]})
    db.upload(df, "sales/daily", columns_keys={"ts": "Date", "uid": "ID"})
    out = subprocess.run(
        [sys.executable, "-m", "pandasdb_core.cli", "--store", str(tmp_path / "store"),
         "manifest", "sales/daily", "--ddl", "pandasdb_prod.sales"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    manifest = tmp_path / "store" / "sales/daily/_symlink_format_manifest/ts/manifest"
    assert manifest.read_text().splitlines() == db.files("sales/daily").uris
    assert "CREATE EXTERNAL TABLE pandasdb_prod.sales_ts (" in out
    assert "CREATE EXTERNAL TABLE pandasdb_prod.sales_uid (" in out
    assert "`ts` timestamp" in out and "`uid` bigint" in out
    assert "SymlinkTextInputFormat" in out and "ParquetHiveSerDe" in out
    assert f"LOCATION '{manifest.parent}/'" in out
