"""Answers a person reads at a glance: result tables with UTC times (library, HTTP, SDK, CLI),
reprs that say where the data is, one progress policy, a fast failure when nothing listens,
close names for a misspelt frame, and the version."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import socket
import subprocess
import sys
import warnings

import pandas as pd
import polars as pl
import pytest
import requests
import urllib3.util.connection
from urllib3.util.retry import Retry

import pandasdb_core as pdb
from pandasdb_core import parallel, progress
from pandasdb_core.cli import build_parser
from pandasdb_core.results import FrameList, VersionList

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
SHOWN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def sales(days: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.to_datetime(days, utc=True), "v": range(len(days))})


def close_to_now(moment: pd.Timestamp) -> bool:
    return abs(pd.Timestamp.now(tz="UTC") - moment) < pd.Timedelta(minutes=5)


# ---------------------------------------------------------------------------------- results


def test_versions_are_a_list_that_shows_as_a_table(db):
    db.upload(sales(["2024-01-01", "2024-01-02"]), "sales/daily", columns_keys={"ts": "Date"})
    db.upload(sales(["2024-01-03"]), "sales/daily")
    history = db.versions("sales/daily")

    assert isinstance(history, VersionList) and isinstance(history, list)
    assert [v.rows_total for v in history] == [2, 3] and history[-1].version == 2
    assert isinstance(history[-1:], VersionList) and len(history[-1:]) == 1

    frame = history.to_pandas()
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert close_to_now(frame["created_at"].iloc[-1])
    assert frame["rows_total"].tolist() == [2, 3]
    assert history.to_polars().schema["created_at"] == pl.Datetime("us", "UTC")

    text = repr(history)
    assert text.splitlines()[0] == "2 versions of 'sales/daily'"
    assert "created_at (UTC)" in text and len(SHOWN_TIME.findall(text)) == 2
    assert "e+09" not in text and str(int(history[0].created_at)) not in text

    page = history._repr_html_()
    assert page.startswith('<table class="pandasdb">') and page.count("<tr>") == 3
    assert len(SHOWN_TIME.findall(page)) == 2


def test_the_frame_list_shows_as_a_table_and_empty_results_keep_their_columns():
    db = pdb.open("memory://")
    empty = db.list()
    assert empty == [] and repr(empty) == "0 frames"
    assert "updated_at" in empty.to_pandas().columns and len(empty.to_pandas()) == 0
    db.upload(sales(["2024-01-01"]), "sales/daily", columns_keys={"ts": "Date"})
    db.upload(pd.DataFrame({"uid": [3, 1]}), "users", columns_keys={"uid": "ID"})
    listing = db.list()
    assert isinstance(listing, FrameList) and [f.name for f in listing] == ["sales/daily", "users"]
    frame = listing.to_pandas()
    assert str(frame["updated_at"].dtype) == "datetime64[us, UTC]"
    assert frame["layouts"].tolist() == ["ts (Date)", "uid (ID)"]
    assert "<td>uid (ID)</td>" in listing._repr_html_()


def test_a_long_history_shows_its_ends():
    db = pdb.open("memory://")
    for value in range(30):
        db.upload(pd.DataFrame({"a": [value]}), "f")
    text = repr(db.versions("f"))
    assert "\n...\n" in text and len(SHOWN_TIME.findall(text)) == 20
    assert text.splitlines()[2].split()[0] == "1" and text.splitlines()[-1].split()[0] == "30"


def test_json_times_are_iso_utc_and_read_back_as_the_same_records():
    db = pdb.open("memory://")
    db.upload(pd.DataFrame({"a": [1]}), "f")
    history = db.versions("f")
    rows = history.to_json()
    assert ISO_UTC.match(rows[0]["created_at"])
    again = VersionList.from_json(json.loads(json.dumps(rows)), name="f")
    assert type(again) is VersionList and repr(again) == repr(history)
    assert again[0].created_at == pytest.approx(history[0].created_at, abs=1e-6)
    listing = FrameList.from_json(json.loads(json.dumps(db.list().to_json())))
    assert listing[0].updated_at == pytest.approx(db.list()[0].updated_at, abs=1e-6)


def test_dates_lists_the_days_of_a_date_layout_from_the_index(db):
    db.upload(sales(["2024-01-03", "2024-01-01"]), "s", columns_keys={"ts": "Date"})
    db.upload(sales(["2024-01-02T23:00:00-02:00"]), "s")  # 01:00 on the 3rd in UTC
    db.upload(sales(["2024-02-01"]), "s")
    assert db.dates("s") == [dt.date(2024, 1, 1), dt.date(2024, 1, 3), dt.date(2024, 2, 1)]
    assert db.dates("s", as_of=1) == [dt.date(2024, 1, 1), dt.date(2024, 1, 3)]
    db.upload(pd.DataFrame({"a": [1]}), "batches")
    with pytest.raises(pdb.InvalidArgument, match="dates needs a Date layout; frame 'batches'"):
        db.dates("batches")
    with pytest.raises(pdb.InvalidArgument, match="column: frame 's' has no Date layout on 'v'"):
        db.dates("s", column="v")


# ---------------------------------------------------------------------------------- reprs


def test_store_reprs_name_the_location(tmp_path, monkeypatch, aws):
    assert repr(pdb.open("memory://")) == "<pandasdb Store memory://>"
    monkeypatch.chdir(tmp_path)
    assert repr(pdb.open("./data")) == "<pandasdb Store ./data (local)>"
    on_s3 = pdb.open("s3://bucket-a", table="meta-t", owner="o", create=True)
    assert repr(on_s3) == "<pandasdb Store s3://bucket-a (table meta-t, owner o)>"


def test_sdk_repr_names_the_user_and_never_the_token():
    claims = base64.urlsafe_b64encode(json.dumps({"cognito:username": "alice"}).encode())
    jwt = f"eyJhbGciOiJSUzI1NiJ9.{claims.decode().rstrip('=')}.c2lnbmF0dXJl"
    shown = repr(pdb.connect("https://api.example.com/prod/", token=jwt))
    assert shown == "<pandasdb RemoteStore https://api.example.com/prod as alice>"
    opaque = repr(pdb.connect("http://127.0.0.1:8000", token="token-alice-1"))
    assert opaque == "<pandasdb RemoteStore http://127.0.0.1:8000 with a token>"
    hidden = repr(pdb.connect("http://user:pw@127.0.0.1:8000", token="token-alice-1"))
    assert "pw" not in hidden and "token-alice-1" not in hidden


# ---------------------------------------------------------------------------------- progress


@pytest.fixture
def no_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeShell:
    kernel = object()


class FakeIPython:
    @staticmethod
    def get_ipython() -> FakeShell:
        return FakeShell()


def test_progress_shows_on_a_terminal_but_not_under_ci_or_in_a_pipe(monkeypatch, no_ci):
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress.enabled(None) is True
    monkeypatch.setenv("CI", "true")
    assert progress.enabled(None) is False
    assert progress.enabled(True) is True, "an explicit True wins"
    monkeypatch.setenv("CI", "false")
    assert progress.enabled(None) is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.enabled(None) is False, "a script's redirected output"
    monkeypatch.setitem(sys.modules, "IPython", FakeIPython())
    assert progress.enabled(None) is True, "a notebook"
    assert progress.enabled(False) is False, "an explicit False wins"


def test_long_work_shows_a_bar_and_short_work_none(monkeypatch, capsys, no_ci):
    items = list(range(parallel.PROGRESS_MIN_ITEMS))
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0)
    parallel.map_parallel(str, items, workers=2, label="long work", progress=True)
    assert "long work" in capsys.readouterr().err
    parallel.map_parallel(str, items[:-1], workers=2, label="few items", progress=True)
    parallel.map_parallel(str, items, workers=2, label="hidden", progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "DELAY_SECONDS", 60)
    parallel.map_parallel(str, items, workers=2, label="quick", progress=True)
    assert capsys.readouterr().err == "", "work shorter than the delay shows nothing"


def test_a_notebook_without_ipywidgets_gets_a_text_bar_and_no_warning(monkeypatch, no_ci):
    monkeypatch.setitem(sys.modules, "IPython", FakeIPython())
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails, as when missing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bar = progress.bar(total=3, desc="x", unit="chunk", progress=None, file=io.StringIO())
        bar.close()
    assert type(bar).__module__ == "tqdm.std"
    assert caught == []


def test_open_connect_and_the_cli_take_the_override():
    assert pdb.open("memory://").progress is None, "the policy decides"
    assert pdb.open("memory://", progress=True).progress is True
    assert pdb.connect("http://127.0.0.1:1", progress=False).progress is False
    parser = build_parser()
    assert parser.parse_args(["ls"]).progress is None
    assert parser.parse_args(["--progress", "ls"]).progress is True
    assert parser.parse_args(["--no-progress", "ls"]).progress is False


# ---------------------------------------------------------------------------------- connect


def test_nothing_listening_fails_at_once_naming_the_url(monkeypatch):
    """Connection refused: two attempts and no backoff (five backoffs took 7.5 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    attempts: list[tuple] = []
    backoffs: list[float] = []
    create = urllib3.util.connection.create_connection

    def counting(address, *args, **kwargs):
        attempts.append(address)
        return create(address, *args, **kwargs)

    def record_backoff(self: Retry) -> None:
        backoffs.append(self.get_backoff_time())

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    monkeypatch.setattr(Retry, "_sleep_backoff", record_backoff)
    db = pdb.connect(f"http://127.0.0.1:{port}", progress=False)  # default retries
    with pytest.raises(pdb.StoreUnavailable, match=f"cannot reach http://127.0.0.1:{port}/"):
        db.list()
    assert len(attempts) == 2 and sum(backoffs) == 0


# ---------------------------------------------------------------------------------- errors


def test_an_unknown_frame_suggests_the_close_names(db):
    db.upload(sales(["2024-01-01"]), "sales/daily", columns_keys={"ts": "Date"})
    db.upload(sales(["2024-01-01"]), "sales/weekly", columns_keys={"ts": "Date"})
    with pytest.raises(pdb.FrameNotFound) as info:
        db.get("sales/dayly")
    assert str(info.value) == "frame 'sales/dayly' does not exist; did you mean 'sales/daily'?"
    assert info.value.close[0] == "sales/daily" and info.value.name == "sales/dayly"
    with pytest.raises(pdb.FrameNotFound, match=r"^frame 'zzz' does not exist$"):
        db.versions("zzz")


def test_keyword_typos_name_the_closest_keyword():
    db = pdb.open("memory://")
    with pytest.raises(
        TypeError,
        match="get\\(\\) unexpected keyword argument 'star_date'; did you mean 'start_date'\\?",
    ):
        db.get("f", star_date="2024-01-01")
    with pytest.raises(pdb.UnknownParameter, match="did you mean 'columns_keys'"):
        db.upload(sales(["2024-01-01"]), "f", colums_keys={"ts": "Date"})


def test_messages_read_well(db):
    db.upload(sales(["2024-01-01"]), "sales/daily", columns_keys={"ts": "Date"})
    with pytest.raises(pdb.InvalidArgument) as info:
        db.upload(sales(["2024-01-01"]), "sales/daily", format="parquet")
    assert "''s" not in str(info.value) and "frame 'sales/daily' is stored as 'csv.gz'" in str(
        info.value
    )
    with pytest.raises(pdb.InvalidArgument) as info:
        db.upload(sales(["2024-01-01"]), "sales/daily", columns_keys={"v": "ID"})
    assert str(info.value).startswith(
        "columns_keys: frame 'sales/daily' is laid out by ts (Date), not v (ID)"
    )
    with pytest.raises(pdb.InvalidArgument, match="partition_value needs an ID layout"):
        db.get("sales/daily", partition_value=1)


# ---------------------------------------------------------------------------------- version


def test_the_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert pdb.__version__ == version("pandasdb")
    out = subprocess.run(
        [sys.executable, "-m", "pandasdb_core.cli", "--version"], capture_output=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.decode().strip() == f"pandasdb {pdb.__version__}"


# ---------------------------------------------------------------------------------- surfaces


def cli(store, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pandasdb_core.cli", "--store", str(store), *args],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_the_cli_prints_the_same_tables_and_json(tmp_path):
    store = tmp_path / "s"
    db = pdb.open(store)
    db.upload(sales(["2024-01-01", "2024-01-03"]), "sales/daily", columns_keys={"ts": "Date"})
    listing = cli(store, "ls")
    assert listing.splitlines()[0] == "1 frame" and "ts (Date)" in listing
    assert "2024-01-01 .. 2024-01-03" in listing
    assert SHOWN_TIME.search(listing)
    history = json.loads(cli(store, "versions", "sales/daily", "--json"))
    assert ISO_UTC.match(history[0]["created_at"])
    assert repr(db.versions("sales/daily")) in cli(store, "versions", "sales/daily")
    assert cli(store, "dates", "sales/daily") == "2024-01-01\n2024-01-03\n"
    assert json.loads(cli(store, "dates", "sales/daily", "--json")) == ["2024-01-01", "2024-01-03"]


def test_http_answers_use_iso_times_and_the_sdk_gives_the_same_results(users_server):
    token = users_server.tokens["alice"]
    sdk = pdb.connect(users_server.url, token=token, progress=False)
    assert "token-alice" not in repr(sdk)
    sdk.upload(sales(["2024-01-02", "2024-01-01"]), "readable/daily", columns_keys={"ts": "Date"})
    headers = {"Authorization": f"Bearer {token}"}

    raw = requests.get(f"{users_server.url}/dataframes/readable/daily/versions", headers=headers)
    assert ISO_UTC.match(raw.json()[0]["created_at"])
    listed = requests.get(f"{users_server.url}/dataframes?prefix=readable/", headers=headers)
    assert ISO_UTC.match(listed.json()[0]["updated_at"])
    (stats,) = listed.json()[0]["stats"]
    assert (stats["lo"], stats["hi"], stats["rows"], stats["chunks"]) == (
        "2024-01-01",
        "2024-01-02",
        2,
        2,
    )
    days = requests.get(f"{users_server.url}/dataframes/readable/daily/dates", headers=headers)
    assert days.json() == ["2024-01-01", "2024-01-02"]

    history = sdk.versions("readable/daily")
    assert isinstance(history, VersionList) and history[0].rows_total == 2
    assert history.caption() == "1 version of 'readable/daily'"
    assert close_to_now(history.to_pandas()["created_at"].iloc[0])
    frames = sdk.list(prefix="readable/")
    assert isinstance(frames, FrameList) and isinstance(frames[0].updated_at, float)
    assert frames[0].stats[0].hi == "2024-01-02" and frames[0].chunks == 2
    assert sdk.dates("readable/daily") == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]

    with pytest.raises(pdb.FrameNotFound, match="did you mean 'readable/daily'"):
        sdk.get("readable/dayly")
