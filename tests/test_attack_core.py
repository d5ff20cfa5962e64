"""The library attacked as an attacker would (issue 10, second round): each frame is stored
exactly or refused before anything is written, deletes and vacuum touch only a frame's own
files, no head write undoes another, and reads of damaged files fail clearly.

Adapter-dependent cases run on memory, local files + SQLite and S3 + DynamoDB (moto); the
rest convert data, so they run on memory in both formats."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import uuid

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal
from polars.testing import assert_frame_equal as assert_pl_equal
from test_acknowledged import PausingMeta

import pandasdb_core as pdb
from pandasdb_core.conversion import PreparedFrame
from pandasdb_core.errors import ChunkCorrupt
from pandasdb_core.schema import capture
from pandasdb_core.store import Store

FORMATS = ["csv.gz", "parquet"]


@pytest.fixture(params=FORMATS)
def fmt(request) -> str:
    return request.param


@pytest.fixture
def mem() -> pdb.Store:
    return pdb.open("memory://", chunk_rows=1000)


def assert_nothing_written(db: pdb.Store, name: str, version: int | None = None) -> None:
    if version is None:
        with pytest.raises(pdb.FrameNotFound):
            db.head(name)
        assert list(db.blobs.list(f"{name}/")) == []
    else:
        assert db.head(name).version == version


def roundtrip(db: pdb.Store, df, name: str, fmt: str, **kw):
    db.upload(df, name, format=fmt, **kw)
    return db.get(name)


# ----------------------------------------------------------------------- 1. pattern names


@pytest.mark.parametrize("column", ["^price$", "^$", "*", "^a.*$"])
@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_a_column_name_polars_reads_as_a_pattern_is_refused_up_front(mem, fmt, column, engine):
    """polars reads ``pl.col("^price$")`` as a regex and ``"*"`` as every column: such a
    column was dropped on read (the schema had it, the files did not) or crashed the upload."""
    data = {column: [1, 2], "b": ["x", "y"]}
    df = pd.DataFrame(data) if engine == "pandas" else pl.DataFrame(data)
    with pytest.raises(pdb.InvalidArgument, match="pattern") as refused:
        mem.upload(df, "f", format=fmt)
    assert repr(column) in str(refused.value)
    assert_nothing_written(mem, "f")


@pytest.mark.parametrize("column", ["price$", "^price", "^", "$", "a*", "(a)", ".", "[x]"])
def test_names_polars_reads_literally_round_trip(mem, fmt, column):
    df = pd.DataFrame({column: [1, 2], "price": [3, 4]})
    assert_frame_equal(roundtrip(mem, df, "f", fmt), df)
    assert mem.get("f", columns=[column])[column].tolist() == [1, 2]
    assert mem.check().ok


# ----------------------------------------------------- 2. deletes touch only the frame's files


def test_delete_and_vacuum_keep_files_of_frames_named_under_the_frame(db):
    """A frame may be named ``a/_symlink_format_manifest/b`` or ``a/external_key/b``: its
    files then live under the prefixes frame ``a`` keeps its manifests and last_key.txt
    under. Deleting ``a`` and vacuuming must leave them alone."""
    db = Store(db.blobs, db.meta, chunk_rows=1000, manifests=True)
    nested = ["a/_symlink_format_manifest/b", "a/external_key/b", "a/external_key/default"]
    for name in nested:
        db.upload(pd.DataFrame({"v": [1, 2]}), name)
    nested_files = {b.key for b in db.blobs.list()}
    assert any(k.endswith("last_key.txt") for k in nested_files)
    db.upload(pd.DataFrame({"v": [9]}), "a")
    db.delete("a")
    db.vacuum(grace_seconds=0)
    after = {b.key for b in db.blobs.list()}
    assert nested_files <= after, sorted(nested_files - after)
    for name in nested:
        assert db.get(name)["v"].tolist() == [1, 2]
    assert db.check().ok
    # and frame a's own files are gone: its chunk, its last_key.txt, its manifest
    assert not [k for k in after if k.startswith("a/") and k not in nested_files]


@pytest.mark.parametrize("file", ["last_key.txt", "manifest"])
def test_a_file_written_after_the_commit_that_fails_never_fails_the_committed_upload(
    tmp_path, monkeypatch, file
):
    """last_key.txt and the manifests are written after the metadata commit: a storage error
    there made upload raise though its version was committed, and a writer retrying what it
    was told had failed committed the rows twice. Now it is a warning and the Commit."""
    db = pdb.open(tmp_path / "store", manifests=True)
    put = db.blobs._put

    def failing(key: str, data: bytes, if_absent: bool) -> None:
        if key.endswith(f"/{file}"):
            raise OSError("storage unavailable")
        put(key, data, if_absent)

    monkeypatch.setattr(db.blobs, "_put", failing)
    df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]), "v": [1]})
    keys = {} if file == "last_key.txt" else {"columns_keys": {"ts": "Date"}}
    with pytest.warns(RuntimeWarning, match="version 1 is committed.*storage unavailable"):
        commit = db.upload(df, "f", **keys)
    assert commit.version == 1 and db.get("f")["v"].tolist() == [1]


def test_a_frame_named_after_another_frames_file_is_refused_on_a_local_store(tmp_path):
    """On a file system frame a's a/external_key/default/last_key.txt and a frame of that
    name (its chunks in a folder of that path) cannot both exist: the second frame was a raw
    NotADirectoryError, and frame a after it an IsADirectoryError raised after its commit
    had landed. The frame's upload is refused with InvalidName (nothing committed), and
    frame a is committed with a warning about its last_key.txt."""
    df = pd.DataFrame({"v": [1]})
    name = "a/external_key/default/last_key.txt"
    db = pdb.open(tmp_path / "one")
    db.upload(df, "a")
    with pytest.raises(pdb.InvalidName, match="share one path"):
        db.upload(df, name)
    assert [f.name for f in db.list()] == ["a"]
    db = pdb.open(tmp_path / "two")
    db.upload(df, name)
    with pytest.warns(RuntimeWarning, match="last_key.txt could not be written"):
        assert db.upload(df, "a").version == 1
    assert len(db.get("a")) == 1 and len(db.get(name)) == 1
    assert db.check().ok


def test_vacuum_removes_only_the_deleted_frames_manifests_and_last_keys(db):
    """The orphan rules of vacuum read a key's frame from the right: a live frame's files
    under a deleted frame's prefix are not orphans."""
    db = Store(db.blobs, db.meta, chunk_rows=1000, manifests=True)
    db.upload(pd.DataFrame({"v": [1]}), "a/external_key/k/_symlink_format_manifest/x")
    db.upload(pd.DataFrame({"v": [2]}), "a")
    own = {b.key for b in db.blobs.list() if not b.key.endswith((".csv.gz", ".parquet"))}
    # frame a's files, left behind as if by an older delete: vacuum must remove only these
    db.meta.drop_frame("a", expected=db.head("a"))
    db.vacuum(grace_seconds=0)
    left = {b.key for b in db.blobs.list() if not b.key.endswith((".csv.gz", ".parquet"))}
    assert left == {k for k in own if k.startswith("a/external_key/k/")}
    assert db.get("a/external_key/k/_symlink_format_manifest/x")["v"].tolist() == [1]


# -------------------------------------------------------------------- 3. index changes


@pytest.mark.parametrize(
    "first, later",
    [
        (None, pd.Index([5], name="k")),
        (pd.Index([5], name="k"), pd.MultiIndex.from_tuples([(5, "x")], names=["k", "s"])),
        (pd.MultiIndex.from_tuples([(5, "x")], names=["k", "s"]), pd.Index([5], name="k")),
        (pd.Index([5], name="k"), pd.Index([6], name="j")),
        (pd.Index([5]), pd.Index([6], name="k")),
    ],
    ids=["none-to-named", "one-to-two", "two-to-one", "renamed", "unnamed-to-named"],
)
def test_an_index_change_is_refused_like_a_type_change(mem, fmt, first, later):
    mem.upload(pd.DataFrame({"a": [1]}, index=first), "f", format=fmt)
    with pytest.raises(pdb.SchemaMismatch, match="index"):
        mem.upload(pd.DataFrame({"a": [2]}, index=later), "f")
    assert_nothing_written(mem, "f", version=1)
    assert_frame_equal(mem.get("f"), pd.DataFrame({"a": [1]}, index=first))
    assert mem.get("f", engine="polars").height == 1


def test_an_upload_without_an_index_omits_it_like_a_column(mem, fmt):
    mem.upload(pd.DataFrame({"a": [1]}, index=pd.Index(["x"], name="k")), "f", format=fmt)
    mem.upload(pd.DataFrame({"a": [2]}), "f")
    mem.upload(pl.DataFrame({"a": [3]}), "f")
    out = mem.get("f")
    assert out.index.name == "k" and out.index.tolist()[0] == "x" and out["a"].tolist() == [1, 2, 3]
    assert out.index[1:].isna().all()


# --------------------------------------------------------------------- 4. object columns


def objects(values) -> pd.DataFrame:
    return pd.DataFrame({"a": pd.Series(values, dtype=object)})


@pytest.mark.parametrize(
    "values, kinds",
    [
        ([dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 5)], ("date", "datetime")),
        ([b"x", "x"], ("bytes", "str")),
        ([True, 1], ("bool", "int")),
        ([1, 2.5], ("float", "int")),
        ([decimal.Decimal("1.1"), 2.5], ("Decimal", "float")),
        (
            [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-01", tz="Europe/Paris")],
            ("Europe/Paris", "UTC"),
        ),
        (
            [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01", tz="UTC")],
            ("UTC", "no time zone"),
        ),
    ],
)
def test_an_object_column_mixing_kinds_is_refused_naming_both(mem, fmt, values, kinds):
    with pytest.raises(pdb.InvalidArgument) as refused:
        mem.upload(objects(values), "f", format=fmt)
    message = str(refused.value)
    assert "'a'" in message and all(k in message for k in kinds), message
    assert_nothing_written(mem, "f")


@pytest.mark.parametrize(
    "values",
    [
        [uuid.UUID(int=1)],
        [dt.time(1, 2, tzinfo=dt.UTC)],
        [decimal.Decimal("Infinity")],
        [{"x": 1}],
        [[1, 2]],
    ],
    ids=["uuid", "zoned-time", "decimal-inf", "dict", "list"],
)
def test_objects_that_cannot_be_kept_exactly_are_refused(mem, fmt, values):
    with pytest.raises(pdb.InvalidArgument, match="'a'"):
        mem.upload(objects(values), "f", format=fmt)
    assert_nothing_written(mem, "f")


@pytest.mark.parametrize(
    "values",
    [
        [np.datetime64("2024-01-01T00:00:00.123456789"), None],
        [pd.Timestamp("2024-01-01 00:00:00.000000001"), pd.Timestamp("1999-12-31 23:59:59")],
        [pd.Timestamp("2024-01-01 00:00:00.000000007", tz="Europe/Paris"), None],
        [pd.Timedelta(1, "ns"), pd.Timedelta(days=2)],
    ],
    ids=["datetime64", "timestamps", "zoned", "timedeltas"],
)
def test_object_datetimes_keep_their_nanoseconds(mem, fmt, values):
    out = roundtrip(mem, objects(values), "f", fmt)["a"]
    assert out.dtype == object
    for want, got in zip(values, out.tolist(), strict=True):
        if want is None:
            assert got is None
            continue
        box = pd.Timedelta if isinstance(want, pd.Timedelta) else pd.Timestamp
        assert box(got) == box(want) and getattr(got, "tz", None) == getattr(want, "tz", None)


def test_times_of_day_with_nanoseconds_never_come_back_cut_in_pandas(mem, fmt):
    """polars' times hold nanoseconds, pandas' datetime.time microseconds: a polars upload's
    00:00:00.000000001 beside a pandas frame's times came back 00:00:00 (and alone, a
    pyarrow ArrowInvalid). A pandas read now says so; polars reads them exactly."""
    mem.upload(pd.DataFrame({"t": [dt.time(1, 2, 3)], "a": [1]}), "f", format=fmt)
    nanos = pl.Series("t", [1], dtype=pl.Int64).cast(pl.Time)
    mem.upload(pl.DataFrame({"t": nanos, "a": [2]}), "f")
    mem.upload(pl.DataFrame({"t": nanos}), "g", format=fmt)
    for name in ("f", "g"):
        with pytest.raises(pdb.InvalidArgument, match=r"'t'.*00:00:00\.000000001.*polars"):
            mem.get(name)
        with pytest.raises(pdb.InvalidArgument, match="nanoseconds"):
            list(mem.iter_batches(name))
        assert mem.get(name, engine="polars")["t"].to_physical().to_list()[-1] == 1
    assert mem.get("f", columns=["a"])["a"].tolist() == [1, 2]
    assert mem.get("f", as_of=1)["t"].tolist() == [dt.time(1, 2, 3)]


def test_object_values_of_one_kind_come_back_as_they_went_in(mem, fmt):
    df = pd.DataFrame(
        {
            "date": pd.Series([dt.date(2024, 1, 1), None], dtype=object),
            "dt": pd.Series([dt.datetime(2024, 1, 1, 1, 2, 3, 4), None], dtype=object),
            "time": pd.Series([dt.time(1, 2, 3, 4), None], dtype=object),
            "bytes": pd.Series([b"\x00\xff", None], dtype=object),
            "td": pd.Series([dt.timedelta(days=1, microseconds=1), None], dtype=object),
        }
    )
    assert roundtrip(mem, df, "f", fmt).to_dict("list") == df.to_dict("list")


def test_decimals_keep_their_numeric_value_in_one_scale(mem, fmt):
    """A decimal column has one scale (as pyarrow's decimals do): 1.1 comes back 1.10 beside
    2.25. The numeric value never changes (-0.00 is 0.00)."""
    values = [decimal.Decimal(v) for v in ("1.1", "2.25", "100", "-0.00", "-7.5")]
    out = roundtrip(mem, objects(values + [None]), "f", fmt)["a"].tolist()
    assert out[:-1] == values and out[-1] is None
    assert [v.as_tuple().exponent for v in out[:-1]] == [-2] * 5


def test_an_all_null_object_column_takes_any_type_later(mem, fmt):
    mem.upload(pd.DataFrame({"a": [1], "b": [None]}), "f", format=fmt)
    mem.upload(pd.DataFrame({"a": [2], "b": [3.5]}), "f")
    assert mem.get("f")["b"].tolist()[1] == 3.5


@pytest.mark.parametrize(
    "nulls",
    [[None], pd.array([None], dtype="Float64"), [np.nan], pd.array([None], dtype="str")],
    ids=["objects", "Float64", "float64", "str"],
)
def test_a_column_of_nulls_fits_any_recorded_type(mem, fmt, nulls):
    """Nulls fit any type: an all-null column of whatever dtype is accepted into any
    recorded one, and reads back as that type's nulls."""
    mem.upload(
        pd.DataFrame({"i": [1], "t": pd.to_datetime(["2024-01-01"]), "b": [b"x"]}), "f", format=fmt
    )
    mem.upload(pd.DataFrame({"i": nulls, "t": nulls, "b": nulls}), "f")
    out = mem.get("f")
    assert out["i"].dtype == "Int64" and out["i"].isna().tolist() == [False, True]
    assert str(out["t"].dtype).startswith("datetime64") and out["t"].isna().tolist() == [
        False,
        True,
    ]
    assert out["b"].tolist() == [b"x", None]


# ----------------------------------------------------------------------- 5. index names


@pytest.mark.parametrize(
    "index",
    [
        pd.Index([5, 7], name=np.int64(3)),
        pd.Index([5, 7], name=("a", "b")),
        pd.Index([5, 7], name=3),
        pd.Index([5, 7], name=1.5),
        pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["s", 2]),
    ],
    ids=["numpy-int", "tuple", "int", "float", "multi-int"],
)
def test_index_level_names_other_than_strings_are_refused(db, index):
    with pytest.raises(pdb.InvalidArgument, match="index"):
        db.upload(pd.DataFrame({"a": [1, 2]}, index=index), "f")
    assert_nothing_written(db, "f")


def test_numpy_string_names_are_strings(mem, fmt):
    df = pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 7], name=np.str_("k")))
    out = roundtrip(mem, df, "f", fmt)
    assert out.index.name == "k" and type(out.index.name) is str
    assert mem.get("f", engine="polars").columns == ["k", "a"]


@pytest.mark.parametrize("columns", [[0], [1.5], [("a", "b")], [None]])
def test_column_names_other_than_strings_are_refused(mem, columns):
    with pytest.raises(pdb.InvalidArgument, match="column names"):
        mem.upload(pd.DataFrame([[1]], columns=columns), "f")
    assert_nothing_written(mem, "f")


# ------------------------------------------------------------------- 6. polars engine names


@pytest.mark.parametrize(
    "df, columns",
    [
        (pd.DataFrame({"index_0": [1, 2]}, index=pd.Index([5, 7])), ["index_0_", "index_0"]),
        (
            pd.DataFrame(
                {"a": [1, 2]},
                index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=[None, "index_0"]),
            ),
            ["index_0_", "index_0", "a"],
        ),
        (pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 7], name="a")), ["index_0", "a"]),
        (
            pd.DataFrame(
                {"index_1": [1, 2]},
                index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["index_1", None]),
            ),
            ["index_0", "index_1_", "index_1"],
        ),
    ],
    ids=["column-index_0", "level-index_0", "level-named-as-column", "both"],
)
def test_polars_engine_names_every_index_level_uniquely(mem, fmt, df, columns):
    assert_frame_equal(roundtrip(mem, df, "f", fmt), df)
    out = mem.get("f", engine="polars")
    assert out.columns == columns


def test_duplicate_index_level_names_are_refused(mem):
    index = pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["s", "s"])
    with pytest.raises(pdb.InvalidArgument, match="duplicated index level names"):
        mem.upload(pd.DataFrame({"a": [1, 2]}, index=index), "f")
    assert_nothing_written(mem, "f")


# ------------------------------------------------------------------------- 7. ArrowDtype


@pytest.mark.parametrize(
    "arrow_type, values",
    [
        (pa.decimal128(10, 2), [decimal.Decimal("1.10"), None, decimal.Decimal("-3.25")]),
        (pa.decimal128(38, 0), [decimal.Decimal("9" * 38), None, decimal.Decimal(0)]),
        (pa.binary(3), [b"abc", None, b"\x00\x01\x02"]),
        (pa.string(), ["a", None, ""]),
        (pa.large_string(), ["a", None, ""]),
        (pa.dictionary(pa.int32(), pa.string()), ["a", None, "b"]),
        (pa.timestamp("ms", "Asia/Tokyo"), [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None, None]),
        (pa.date64(), [dt.date(2024, 1, 1), None, dt.date(1, 1, 1)]),
    ],
    ids=lambda v: str(v)[:24],
)
def test_arrow_dtypes_come_back_exactly(mem, fmt, arrow_type, values):
    dtype = pd.ArrowDtype(arrow_type)
    df = pd.DataFrame({"a": pd.Series(pd.array(pa.array(values, type=arrow_type), dtype=dtype))})
    out = roundtrip(mem, df, "f", fmt)
    assert out["a"].dtype == dtype
    assert_frame_equal(out, df)
    assert mem.check().ok


# ------------------------------------------------------------- 8. a commit racing vacuum


def test_a_commit_racing_vacuum_never_brings_retired_versions_back(db):
    """A writer reads the head (version 2, min_version 1); vacuum(retain_versions=1) then
    raises min_version to 2; the writer's commit must not write the old floor back (version 1
    would be readable again until a vacuum freed its files, then read as nothing): it
    conflicts and commits on the raised head."""
    db.upload(pd.DataFrame({"a": [1, 2]}), "f")
    db.upload(pd.DataFrame({"a": [3]}), "f", mode="overwrite")

    def vacuum() -> None:
        # the grace keeps the racing writer's new chunk files (a shorter one is unsafe
        # while writers run) and version 1's files, for readers
        db.vacuum(retain_versions=1, grace_seconds=3600)
        assert db.head("f").min_version == 2

    racing = Store(db.blobs, PausingMeta(db.meta, vacuum), chunk_rows=1000)
    assert racing.upload(pd.DataFrame({"a": [4]}), "f").version == 3
    head = db.head("f")
    assert head.min_version == 2
    with pytest.raises(pdb.VersionNotFound):
        db.get("f", as_of=1)
    assert db.get("f", as_of=2)["a"].tolist() == [3]
    assert db.get("f")["a"].tolist() == [3, 4]
    db.vacuum(grace_seconds=0)
    with pytest.raises(pdb.VersionNotFound):
        db.get("f", as_of=1)
    assert db.check().ok


def test_vacuums_raise_cannot_be_undone_by_a_stale_head_write(db):
    """The other order: vacuum read the head before a commit landed; its raise must not
    overwrite the newer head (its update_head conflicts; the next vacuum retries)."""
    db.upload(pd.DataFrame({"a": [1]}), "f")
    db.upload(pd.DataFrame({"a": [2]}), "f")
    stale = db.head("f")
    db.upload(pd.DataFrame({"a": [3]}), "f")
    with pytest.raises(pdb.CommitConflict):
        db.meta.update_head(stale, expected=stale)
    assert db.head("f").version == 3


# ---------------------------------------------------------- 10. polars panics on user data


def test_a_datetime_csv_cannot_write_is_refused_before_anything_is_written(db):
    """polars' CSV writer panics on datetimes beyond the years -262143..262142 (a
    PanicException, a BaseException); csv.gz refuses them clearly, parquet keeps them."""
    big = pl.DataFrame({"a": pl.Series([2**62, 0], dtype=pl.Int64).cast(pl.Datetime("ms"))})
    with pytest.raises(pdb.InvalidArgument, match="'a'.*parquet"):
        db.upload(big, "f", format="csv.gz")
    assert_nothing_written(db, "f")
    with pytest.raises(pdb.InvalidArgument, match="'a'"):
        db.upload(big.to_pandas(), "g", format="csv.gz")
    assert_nothing_written(db, "g")
    db.upload(big, "p", format="parquet")
    assert_pl_equal(db.get("p", engine="polars"), big)
    assert db.get("p")["a"].astype("int64").tolist() == [2**62, 0]


@pytest.mark.parametrize(
    "column",
    [
        pl.Series([2**62, 0], dtype=pl.Int64).cast(pl.Datetime("ms")),
        pl.Series([2**62, 0], dtype=pl.Int64).cast(pl.Datetime("ms", "Europe/Paris")),
        pl.Series([2**31 - 1, 0], dtype=pl.Int32).cast(pl.Date),
        pl.Series([-(2**31), 0], dtype=pl.Int32).cast(pl.Date),
    ],
    ids=["ms", "zoned", "date-max", "date-min"],
)
def test_a_date_partition_beyond_the_calendar_is_refused_not_a_panic(mem, fmt, column):
    """The Date layout's calendar arithmetic panicked on instants polars' calendar cannot
    hold; they have no day to name a folder by, so they are refused by their counts."""
    with pytest.raises(pdb.InvalidPartition, match="years 1 to 9999"):
        mem.upload(pl.DataFrame({"t": column}), "f", format=fmt, columns_keys={"t": "Date"})
    assert_nothing_written(mem, "f")


def test_the_calendars_first_and_last_instants_are_date_partitions(mem, fmt):
    edges = [-62_135_596_800 * 10**6, 253_402_300_800 * 10**6 - 1]
    frame = pl.DataFrame({"t": pl.Series(edges, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))})
    mem.upload(frame, "f", format=fmt, columns_keys={"t": "Date"})
    assert_pl_equal(mem.get("f", engine="polars"), frame)
    assert mem.dates("f") == [dt.date.min, dt.date.max]


def test_dates_past_year_9999_that_csv_holds_are_stored(mem, fmt):
    days = pl.Series([95_026_236, -96_465_292, 2_932_897], dtype=pl.Int32).cast(pl.Date)
    stamps = pl.Series([8_210_266_876_799_999, -8_334_601_228_800_000], dtype=pl.Int64)
    frame = pl.DataFrame({"d": days, "t": stamps.append(pl.Series([0])).cast(pl.Datetime("ms"))})
    mem.upload(frame, "f", format=fmt)
    assert_pl_equal(mem.get("f", engine="polars"), frame)


# ------------------------------------------------------------------------- 11. BOM


def test_a_leading_byte_order_mark_is_kept_in_every_chunk(mem, fmt):
    df = pd.DataFrame({"a": ["\ufeffx", "\ufeff", "y\ufeff", "\ufeff\ufeffz"], "b": [1, 2, 3, 4]})
    db = pdb.open("memory://", chunk_rows=1)
    db.upload(df, "f", format=fmt)
    db.upload(df, "f")
    assert db.get("f")["a"].tolist() == df["a"].tolist() * 2
    one = pd.DataFrame({"\ufeffa": ["\ufeffv"]})
    assert_frame_equal(roundtrip(mem, one, "g", fmt), one)


# ------------------------------------------------------------------------- 12. zones


def test_an_iana_zone_of_constant_offset_stays_itself(mem, fmt):
    """``Etc/GMT+5`` is an IANA zone polars holds: engine="polars" returns it, and an upload
    of what it returned fits the frame."""
    stamps = pd.to_datetime(["2024-01-01 10:00", "2024-06-01 12:30"]).tz_localize("Etc/GMT+5")
    df = pd.DataFrame({"t": stamps})
    assert_frame_equal(roundtrip(mem, df, "f", fmt), df)
    out = mem.get("f", engine="polars")
    assert out.schema["t"] == pl.Datetime("us", "Etc/GMT+5")
    mem.upload(out, "f")
    assert_frame_equal(mem.get("f"), pd.concat([df, df], ignore_index=True))


def test_a_fixed_offset_reads_as_utc_in_polars_and_uploads_back(mem, fmt):
    """polars has no fixed-offset zones: a ``+05:30`` column is stored in UTC, read by
    pandas with its offset and by polars in UTC; that polars frame uploads back."""
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-01T00:00+05:30", "2024-01-02T08:15+05:30"])})
    assert_frame_equal(roundtrip(mem, df, "f", fmt), df)
    out = mem.get("f", engine="polars")
    assert out.schema["t"].time_zone == "UTC"
    mem.upload(out, "f")
    assert_frame_equal(mem.get("f"), pd.concat([df, df], ignore_index=True))


def test_a_frame_an_older_pandasdb_stored_etc_zones_in_utc_takes_them(mem):
    """pandasdb before this fix stored ``Etc/GMT+5`` columns in UTC (as fixed offsets are);
    uploads of that zone into such a frame are converted to UTC, the same instants."""
    stamps = pd.to_datetime(["2024-01-01 10:00"]).tz_localize("Etc/GMT+5")
    frame = pl.DataFrame({"t": pl.Series(stamps.tz_convert("UTC"))})
    schema = capture(frame, {"t": {"pandas": "datetime64[us, Etc/GMT+5]"}})
    mem.upload(PreparedFrame(frame, schema), "f")
    mem.upload(pd.DataFrame({"t": stamps}), "f")
    out = mem.get("f")
    assert str(out["t"].dtype) == "datetime64[us, Etc/GMT+5]"
    assert out["t"].tolist() == [stamps[0], stamps[0]]


# ------------------------------------------------------------------------- 14. minor


def test_string_categories_of_either_string_dtype_merge(mem, fmt):
    as_str = pd.Categorical(["x"], categories=pd.Index(["x"], dtype="str"))
    as_object = pd.Categorical(["y"], categories=pd.Index(["y"], dtype=object))
    mem.upload(pd.DataFrame({"c": as_str}), "f", format=fmt)
    mem.upload(pd.DataFrame({"c": as_object}), "f")
    out = mem.get("f")["c"]
    assert out.tolist() == ["x", "y"] and list(out.cat.categories) == ["x", "y"]


def test_an_ordered_categorical_takes_no_new_category_from_values_alone(mem, fmt):
    """A pandas upload with other categories of an ordered categorical is refused, but a
    polars frame (a Categorical or plain values, as CSV and JSON bodies give) brought no
    categories to compare, and its new value was appended to the order: ['a', 'b', 'z']."""
    ordered = pd.Categorical(["a"], categories=["a", "b"], ordered=True)
    mem.upload(pd.DataFrame({"c": ordered}), "f", format=fmt)
    with pytest.raises(pdb.SchemaMismatch, match=r"ordered categorical.*\['z'\]"):
        mem.upload(pl.DataFrame({"c": pl.Series(["z"], dtype=pl.Categorical)}), "f")
    assert mem.upload(pl.DataFrame({"c": pl.Series(["b"], dtype=pl.Categorical)}), "f")
    out = mem.get("f")["c"]
    assert out.tolist() == ["a", "b"] and out.cat.categories.tolist() == ["a", "b"]
    numbers = pd.Categorical([1], categories=[1, 3], ordered=True)
    mem.upload(pd.DataFrame({"n": numbers}), "g", format=fmt)
    with pytest.raises(pdb.SchemaMismatch, match=r"\[5\]"):
        mem.upload(pl.DataFrame({"n": [5]}), "g")
    assert [v.version for v in mem.versions("g")] == [1]


def test_the_int64_minimum_as_a_float_is_an_id(mem, fmt):
    df = pd.DataFrame({"id": [-(2.0**63), 0.0, 2.0**62]})
    mem.upload(df, "f", format=fmt, columns_keys={"id": "ID"})
    assert mem.get("f", partition_value=-(2**63))["id"].tolist() == [-(2.0**63)]
    with pytest.raises(pdb.InvalidPartition, match="int64 range"):
        mem.upload(pd.DataFrame({"id": [2.0**63]}), "g", columns_keys={"id": "ID"})


def test_replace_partitions_with_a_null_id_names_the_nulls(mem):
    mem.upload(pd.DataFrame({"id": [1, 2], "v": [1, 2]}), "f", columns_keys={"id": "ID"})
    with pytest.raises(pdb.InvalidPartition, match="null id"):
        mem.upload(pd.DataFrame({"id": [None], "v": [9]}), "f", mode="replace_partitions")
    assert_nothing_written(mem, "f", version=1)


def test_an_unnamed_range_index_is_not_stored(mem, fmt):
    """Documented: an unnamed RangeIndex, whatever its start and step, is not part of the
    data (rows come back numbered 0..n-1), so appends of slices (df.iloc[100:200]) fit."""
    df = pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(5, 9, 2))
    out = roundtrip(mem, df, "f", fmt)
    assert_frame_equal(out, df.reset_index(drop=True))


def _tamper(db: pdb.Store, key: str, how: str) -> None:
    data = db.blobs.get(key)
    if how == "truncated":
        damaged = data[: len(data) // 2]
    elif how == "garbage":
        damaged = b"\x1f\x8b" + b"\x00" * 40 if key.endswith(".gz") else b"PAR1" + b"\x00" * 40
    else:  # text that is valid gzip but not the chunk's rows
        damaged = gzip.compress(b'a\n"unterminated\n') if key.endswith(".gz") else b"x" * 64
    db.blobs.delete([key])
    db.blobs.put(key, damaged)


@pytest.mark.parametrize("how", ["truncated", "garbage", "text"])
def test_a_damaged_chunk_reads_as_a_clear_error_naming_it(db, fmt, how):
    db.upload(pd.DataFrame({"a": [1, 2, 3]}), "f", format=fmt)
    db.upload(pd.DataFrame({"a": [4]}), "f")
    key = db.files("f").files[0].key
    _tamper(db, key, how)
    for read in (lambda: db.get("f"), lambda: db.get("f", engine="polars")):
        with pytest.raises(ChunkCorrupt, match="check()") as failed:
            read()
        assert key in str(failed.value)
        assert isinstance(failed.value, pdb.ChunkMissing)
    report = db.check()
    assert key in report.corrupt


class StaleHeadMeta(PausingMeta):
    """Forwards to ``inner``, but answers the first ``head`` read with ``stale``: a writer
    that read the head just before the frame was deleted and created again."""

    def __init__(self, inner, stale) -> None:
        super().__init__(inner, None)
        self.stale = stale

    def head(self, name):
        stale, self.stale = self.stale, None
        return stale if stale is not None else self.inner.head(name)


@pytest.mark.parametrize("edit", ["delete_rows", "compact"])
def test_an_edit_on_a_head_gone_stale_plans_again_on_the_new_frame(db, edit):
    """An edit that finds nothing to do on the head it read must not answer "unchanged" when
    that head is gone (the frame deleted and created again): it plans on the new frame."""
    db.upload(pd.DataFrame({"id": [1, 2]}), "g", columns_keys={"id": "ID"})
    stale = db.head("g")
    db.delete("g")
    for ids in ([5, 6], [7]):
        db.upload(pd.DataFrame({"id": ids}), "g", columns_keys={"id": "ID"})
    racing = Store(db.blobs, StaleHeadMeta(db.meta, stale), chunk_rows=1000)
    if edit == "delete_rows":
        commit = racing.delete_rows("g", partition_value=5)
        assert (commit.version, commit.rows_removed) == (3, 1)
        assert db.get("g")["id"].tolist() == [6, 7]
    else:
        commit = racing.compact("g")
        assert (commit.version, commit.chunks_dropped) == (3, 2)
        assert db.get("g")["id"].tolist() == [5, 6, 7]
    assert db.check().ok


def test_the_wire_carries_arrow_types_and_refuses_bad_ones(mem):
    """The SDK sends the schema to_polars captured; the arrow type of a pyarrow-backed
    column travels with it, and a hostile one is refused, as are repeated index names."""
    from pandasdb_core.conversion import prepare_from_wire, to_polars

    arrow = pd.ArrowDtype(pa.decimal128(10, 2))
    df = pd.DataFrame({"a": pd.Series(pd.array([decimal.Decimal("1.10"), None], dtype=arrow))})
    frame, schema = to_polars(df)
    mem.upload(prepare_from_wire(frame, schema), "f")
    assert mem.get("f")["a"].dtype == arrow
    bad = {"columns": [dict(schema["columns"][0], arrow="not base64!")], "index": []}
    with pytest.raises(pdb.InvalidArgument, match="arrow"):
        prepare_from_wire(frame, bad)
    levels = pl.DataFrame({"__index_level_0__": [1], "__index_level_1__": [2], "a": [3]})
    with pytest.raises(pdb.InvalidArgument, match="duplicated index level names"):
        prepare_from_wire(levels, {"columns": [], "index": ["s", "s"]})
