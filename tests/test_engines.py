"""Other engines read exactly what ``get`` returns: DuckDB, pyarrow and the symlink manifest
over ``files()``, polars over ``scan()``, Dask on a distributed cluster over ``to_dask()``,
for a frame with ``keep_last`` history, an uncommitted (crashed) upload, two layouts, and
an ``as_of`` read. Reading the frame's folders instead counts rows several times over."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

import pandasdb_core as pdb
from pandasdb_core.operations import UploadOptions
from pandasdb_core.sessions import UploadSession

KEYS = {"ts": "Date", "uid": "ID"}
FORMATS = ("parquet", "csv.gz")


def rows(start: int, n: int) -> pd.DataFrame:
    ids = np.arange(start, start + n)
    return pd.DataFrame(
        {
            "row": ids,
            "ts": pd.Timestamp("2024-03-01") + pd.to_timedelta(ids * 3607, unit="s"),
            "uid": (ids * 13) % 400,
            "price": ids * 0.25,
            "name": [f"n{i % 11}" for i in ids],
        }
    )


def build(root: Path, fmt: str) -> pdb.Store:
    """v1, v2 appended; v3 with keep_last (drops v1 and v2); v4 appended; then an upload
    that wrote its files and never committed."""
    db = pdb.open(root, format=fmt, chunk_rows=300, manifests=True)
    db.upload(rows(0, 1000), "trades", columns_keys=KEYS)
    db.upload(rows(1000, 700), "trades")
    db.upload(rows(1700, 900), "trades", keep_last=True)
    db.upload(rows(2600, 500), "trades")
    crashed = UploadSession.open(db, UploadOptions.build(name="trades"))
    crashed.write_piece(0, rows(3100, 800))
    return db


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, pdb.Store]:
    return {fmt: build(tmp_path_factory.mktemp(fmt.replace(".", "")), fmt) for fmt in FORMATS}


@pytest.fixture(params=FORMATS)
def store(request, stores) -> pdb.Store:
    return stores[request.param]


@pytest.fixture
def parquet(stores) -> pdb.Store:
    """DuckDB, pyarrow and statistics are about the parquet frames (csv.gz is scan()'s)."""
    return stores["parquet"]


@pytest.fixture(scope="module")
def dask_client():
    with (
        LocalCluster(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


READS = [
    {},
    {"as_of": 2},
    {"start_date": "2024-03-20 06:30", "end_date": "2024-04-02"},
    {"start_id": 50, "end_id": 120},
    {"as_of": 2, "partition_value": [7, 8, 300]},
]


def by_row(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("row")


@pytest.mark.parametrize("read", READS)
def test_polars_scan_returns_what_get_returns(store, read):
    expected = store.get("trades", engine="polars", **read)
    assert store.scan("trades", **read).collect().equals(expected)


@pytest.mark.parametrize("read", READS)
def test_dask_on_a_cluster_returns_what_get_returns(store, read, dask_client):
    frame = store.to_dask("trades", **read)
    assert frame.npartitions == max(1, len(store.files("trades", **read).files))
    got = frame.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, store.get("trades", **read))


def test_the_files_are_one_version_and_one_layout(store):
    latest = store.files("trades")
    assert latest.version == 4 and latest.layout == "date:ts"
    assert latest.rows == 1400 == len(store.get("trades"))
    assert store.files("trades", as_of=2).rows == 1700
    assert store.files("trades", start_id=0).layout == "id:uid"
    assert all(Path(f.uri).is_file() for f in latest.files)
    on_disk = [p for p in Path(latest.uris[0]).parents[3].rglob(f"*.{latest.format}")]
    # both layouts of every upload, the superseded and the uncommitted: the folder lies
    assert len(on_disk) > 2 * len(latest.files)


def test_duckdb_and_pyarrow_read_exactly_the_snapshot(parquet):
    store = parquet
    for read in READS[:2]:
        expected = by_row(store.get("trades", engine="polars", **read))
        uris = store.files("trades", **read).uris
        with_duckdb = duckdb.sql(f"select * from read_parquet({uris!r})").pl()
        assert by_row(with_duckdb).equals(expected)
        with_arrow = pl.from_arrow(pq.ParquetDataset(uris).read())
        assert by_row(with_arrow).equals(expected)
    folder = Path(store.files("trades").uris[0]).parents[2]
    everything = duckdb.sql(f"select count(*) from read_parquet('{folder}/**/*.parquet')")
    assert everything.fetchall()[0][0] > len(store.get("trades"))


def test_engines_given_the_snapshots_schema_read_columns_added_later(tmp_path):
    """Files written before a column was added lack it, and pyarrow and DuckDB take the
    first file's columns by default, dropping the newer one: given the snapshot's
    ``arrow_schema`` (pyarrow, polars) or ``union_by_name`` (DuckDB) they read it, null in
    the older rows, as ``get`` does."""
    db = pdb.open(tmp_path, format="parquet", chunk_rows=300)
    db.upload(rows(0, 500), "trades", columns_keys=KEYS)
    db.upload(rows(500, 400).assign(venue=lambda d: d["row"] % 3, note="n"), "trades")
    for read in ({}, {"as_of": 1}, {"start_id": 0}):
        expected = by_row(db.get("trades", engine="polars", **read))
        snap = db.files("trades", **read)
        assert len(expected.columns) == (5 if read.get("as_of") == 1 else 7)
        with_arrow = pl.from_arrow(pq.ParquetDataset(snap.uris, schema=snap.arrow_schema).read())
        assert by_row(with_arrow).equals(expected)
        sql = f"select * from read_parquet({snap.uris!r}, union_by_name=true)"
        assert by_row(duckdb.sql(sql).pl().select(expected.columns)).equals(expected)
        schema = pl.Schema(snap.dtypes)
        scanned = pl.scan_parquet(snap.uris, schema=schema, missing_columns="insert")
        assert by_row(scanned.collect()).equals(expected)


def test_the_symlink_manifest_lists_the_latest_version_per_layout(parquet):
    """One absolute data-file URI per line in ``_symlink_format_manifest/.../manifest``, the
    form Athena, Presto and Trino read through ``SymlinkTextInputFormat`` ("Presto, Trino,
    and Athena to Delta Lake integration using manifests",
    https://docs.delta.io/latest/presto-integration.html)."""
    root = Path(parquet.files("trades").uris[0]).parents[3]
    for column, read in (("ts", {}), ("uid", {"start_id": 0})):
        manifest = root / "trades" / "_symlink_format_manifest" / column / "manifest"
        lines = manifest.read_text().splitlines()
        assert lines == parquet.files("trades", **read).uris
        got = duckdb.sql(f"select * from read_parquet({lines!r})").pl()
        assert by_row(got).equals(by_row(parquet.get("trades", engine="polars")))


def test_parquet_chunks_carry_min_max_statistics(parquet):
    meta = pq.ParquetFile(parquet.files("trades").uris[0]).metadata
    stats = meta.row_group(0).column(0).statistics
    assert stats is not None and stats.has_min_max


@pytest.mark.parametrize("fmt", FORMATS)
def test_on_s3_polars_scans_the_s3_uris_and_dask_reads_through_the_store(
    fmt, moto_server, monkeypatch, dask_client
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    tag = fmt.replace(".", "")
    db = pdb.open(f"s3://engines-{tag}", table=f"engines-{tag}", create=True, format=fmt)
    db.upload(rows(0, 2000), "trades", columns_keys=KEYS)
    db.upload(rows(2000, 500), "trades", keep_last=True)
    snap = db.files("trades")
    assert snap.uris[0].startswith(f"s3://engines-{tag}/trades/ts/")
    options = {
        "aws_endpoint_url": moto_server,
        "aws_allow_http": "true",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_region": "us-east-1",
    }
    for read in ({}, {"as_of": 1, "start_id": 100, "end_id": 150}):
        expected = db.get("trades", engine="polars", **read)
        assert db.scan("trades", storage_options=options, **read).collect().equals(expected)
        got = db.to_dask("trades", **read).compute().reset_index(drop=True)
        pd.testing.assert_frame_equal(got, db.get("trades", **read))


def _nulls_later(db: pdb.Store) -> None:
    """e, recorded int64, gets nulls from uploads that omit it; keep_last history too."""
    db.upload(pd.DataFrame({"a": [1, 2], "e": [7, 8], "uid": [201, 202]}), "f",
              columns_keys={"uid": "ID"})  # fmt: skip
    db.upload(pd.DataFrame({"a": [3], "uid": [203]}), "f")  # omits e: null in its row
    db.upload(pd.DataFrame({"a": [4], "e": [9], "uid": [204]}), "f", keep_last=True)
    db.upload(pd.DataFrame({"a": [5], "uid": [205]}), "f")


@pytest.mark.parametrize(
    "read",
    [{}, {"as_of": 2}, {"as_of": 2, "partition_value": [201, 202, 203]},
     {"as_of": 2, "partition_value": [201, 202]}, {"as_of": 3}, {"start_id": 205}],
)  # fmt: skip
def test_batches_and_dask_have_gets_dtypes_when_nulls_come_from_some_chunks(db, read):
    """get gives a column Int64 when the rows it returns hold a null there, int64 when not:
    every batch of iter_batches, every Dask partition and Dask's meta are decided once for
    the whole read, so they are the same as get's (on every adapter)."""
    _nulls_later(db)
    expected = db.get("f", **read)
    wanted = expected.dtypes.to_dict()
    for batch_rows in (None, 1):
        batches = list(db.iter_batches("f", batch_rows=batch_rows, **read))
        assert [b.dtypes.to_dict() for b in batches] == [wanted] * len(batches)
        pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), expected)
    frame = db.to_dask("f", **read)
    assert frame.dtypes.to_dict() == wanted  # meta
    # in this process's threads: a memory store's files are read through the store itself
    parts = [frame.get_partition(i).compute(scheduler="threads") for i in range(frame.npartitions)]
    assert all(p.dtypes.to_dict() == wanted for p in parts)
    whole = frame.compute(scheduler="threads").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, expected)


def test_csv_gz_tables_read_the_chunk_text_and_a_view_casts_it(tmp_path):
    """Athena User Guide, "Open CSV SerDe for processing CSV": the SerDe reads quoted values,
    recognises TIMESTAMP only as UNIX numeric milliseconds and "does not recognize empty or
    null values in columns defined as a numeric data type"; its workaround is string columns
    CAST in a query ("CSV SerDe libraries" says the same of timestamps). The chunk files
    hold quoted text, ISO datetimes and empty nulls: the table's columns are strings, and
    the view the DDL also creates casts them. The view's casts are run here on DuckDB over a
    chunk file read as text, as the SerDe reads it."""
    from pandasdb_core.manifest import table_ddl

    db = pdb.open(tmp_path / "store", format="csv.gz")
    df = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-01 10:00:00.123456", None]),
            "zoned": pd.to_datetime(["2024-01-02 03:04:05", None]).tz_localize("UTC"),
            "n": pd.array([7, None], dtype="Int64"),
            "x": [1.5, float("inf")],
            "ok": pd.array([True, None], dtype="boolean"),
            "s": ["a,b", "plain"],
        }
    )
    db.upload(df, "f")
    ddl = table_ddl("db.f", db.head("f").schema, "csv.gz", "s3://b/f/_symlink_format_manifest/x/")
    create, view = ddl.split(";\n\n")
    assert "OpenCSVSerde" in create and "'skip.header.line.count'='1'" in create
    assert all(line.endswith((" string", " string,")) for line in create.splitlines()[1:7])
    select = view.split(" AS SELECT\n", 1)[1].rsplit("\nFROM", 1)[0].replace("`", '"')
    con = duckdb.connect()
    con.execute("CREATE MACRO infinity() AS 'inf'::DOUBLE")
    path = str(tmp_path / "store" / db.files("f").files[0].key)
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', all_varchar=true)")
    # the SerDe gives an empty value as '' (DuckDB reads it as NULL: make it '' again)
    con.execute("UPDATE t SET " + ", ".join(f"{c} = coalesce({c}, '')" for c in df.columns))
    got = con.execute(f"SELECT {select} FROM t").fetchall()
    assert got[0][1:] == (pd.Timestamp("2024-01-02 03:04:05").to_pydatetime(), 7, 1.5, True, "a,b")
    assert got[0][0] == pd.Timestamp("2024-01-01 10:00:00.123").to_pydatetime()  # Athena: ms
    assert got[1] == (None, None, None, float("inf"), None, "plain")
