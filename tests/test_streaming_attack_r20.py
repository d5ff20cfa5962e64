"""Streamed uploads attacked with the files users have: gzip cut short or damaged, rows
ending in a CR alone, blank lines between rows, a row of more fields than its header. Each
commits one exact version or is refused with a message naming the file, row and reason,
and leaves nothing behind."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from test_streaming import assert_nothing_stays, chunk_files, write_csv_stream

import pandasdb_core as pdb
from pandasdb_core.errors import InvalidArgument
from pandasdb_core.ingest import read_csv
from pandasdb_core.streaming import csv_pieces

ROOT = Path(__file__).resolve().parents[1]


def csv_text(rows: int) -> bytes:
    return ("n,name\n" + "".join(f"{i},x{i}\n" for i in range(rows))).encode()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not gzip"])
def test_a_damaged_gzip_file_is_refused_naming_it_and_nothing_stays(tmp_path, damage):
    packed = gzip.compress(csv_text(200_000))
    data = {
        "truncated": packed[: len(packed) // 2],
        "corrupt": packed[:4000] + b"\x00" * 64 + packed[4064:],
        "not gzip": csv_text(10),
    }[damage]
    path = tmp_path / "in.csv.gz"
    path.write_bytes(data)
    db = pdb.open(tmp_path / "store")
    with pytest.raises(InvalidArgument, match=r"in\.csv\.gz could not be read as gzip"):
        db.upload(path, "f")
    # blocks read before the damage were written, then taken back
    with (
        gzip.open(path) as stream,
        pytest.raises(InvalidArgument, match=r"could not be read as gzip( after row [\d,]+)?:"),
    ):
        write_csv_stream(db, stream, 4096)
    assert_nothing_stays(tmp_path / "store")


def test_the_cli_says_a_truncated_gzip_file_is_damaged_in_one_line(tmp_path):
    path = tmp_path / "in.csv.gz"
    packed = gzip.compress(csv_text(50_000))
    path.write_bytes(packed[: len(packed) // 2])
    done = subprocess.run(
        [sys.executable, "-m", "pandasdb_core.cli", "--store", str(tmp_path / "s"), "--no-progress"]
        + ["upload", str(path), "f"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: dataframe: in.csv.gz could not be read as gzip")
    assert "Traceback" not in done.stderr


def test_rows_ending_in_a_cr_alone_are_rows_as_in_a_whole_csv(tmp_path):
    text = 'a,b\r1,"x\ry"\r2,z\r3,"say ""hi"""\r'
    path = tmp_path / "mac.csv"
    path.write_bytes(text.encode())
    db = pdb.open(tmp_path / "store")
    assert db.upload(path, "f").rows == 3
    got = db.get("f", engine="polars")
    assert got.equals(read_csv(text))
    assert got["b"].to_list() == ["x\ry", "z", 'say "hi"']
    # the quote state carries across reads: a quoted CR at a block's edge stays a CR
    parts = list(csv_pieces(io.BytesIO(text.encode()), block_bytes=3))
    assert pl.concat(parts).equals(read_csv(text))


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2\n3,4\n\n",  # a file ending in a blank line
        "a,b\r\n1,2\r\n\r\n3,4\r\n\r\n",
        "a,b\n\n1,2\n\n\n3,4\n",
    ],
)
def test_blank_lines_between_rows_are_not_rows_of_nulls(tmp_path, text):
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    db = pdb.open(tmp_path / "store")
    assert db.upload(path, "f").rows == 2
    expected = pd.DataFrame({"a": [1, 3], "b": [2, 4]})
    pd.testing.assert_frame_equal(db.get("f"), expected)  # int64, not a nullable Int64
    # the whole-CSV path (HTTP bodies) reads them alike
    assert read_csv(text).equals(pl.from_pandas(expected))


def test_a_blank_line_in_a_quoted_value_and_in_one_column_is_kept(tmp_path):
    quoted = 'a,b\n1,"x\n\ny"\n'
    assert read_csv(quoted)["b"].to_list() == ["x\n\ny"]
    assert pl.concat(list(csv_pieces(io.BytesIO(quoted.encode())))).equals(read_csv(quoted))
    # one column: a blank line is how polars writes a null
    one = pl.DataFrame({"a": [1, None, 3]})
    path = tmp_path / "one.csv"
    one.write_csv(path)
    db = pdb.open(tmp_path / "store")
    db.upload(path, "f")
    assert db.get("f", engine="polars").equals(one)


def test_a_row_of_more_fields_than_the_header_is_named(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(csv_text(5000) + b"7,x,extra\n")
    db = pdb.open(tmp_path / "store")
    with pytest.raises(
        InvalidArgument, match=r"in\.csv, row 5,001 has 3 fields where its header has 2"
    ):
        db.upload(path, "f")
    with (
        open(path, "rb") as stream,
        pytest.raises(InvalidArgument, match=r"the CSV, row 5,001 has 3 fields"),
    ):
        write_csv_stream(db, stream, 1024)
    assert chunk_files(tmp_path / "store") == []
