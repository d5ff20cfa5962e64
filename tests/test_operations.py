"""One definition per operation: the request types, and every surface built from them (Python
keywords, query strings, JSON bodies, CLI flags, the route table, the OpenAPI document, the
SDK)."""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandasdb_lambdas.api import HANDLERS
from pandasdb_lambdas.handler import route_path
from pandasdb_lambdas.openapi import openapi_document

import pandasdb_core as pdb
from pandasdb_core.client import RemoteStore
from pandasdb_core.http_routes import ROUTES, ROUTES_BY_NAME, find
from pandasdb_core.names import validate_addressable
from pandasdb_core.operations import OutputOptions, ReadQuery, UploadOptions, VacuumOptions

names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}(/[a-z0-9][a-z0-9_-]{0,8}){0,2}", fullmatch=True)
columns = st.lists(
    st.from_regex(r"[A-Za-z][A-Za-z0-9 _]{0,10}", fullmatch=True), min_size=1, max_size=4
)


@st.composite
def read_queries(draw: st.DrawFn) -> ReadQuery:
    values: dict = {"name": draw(names)}
    if draw(st.booleans()):
        values["start_date"] = draw(st.dates()).isoformat()
    if draw(st.booleans()):
        values["end_date"] = draw(
            st.datetimes(timezones=st.sampled_from([None, dt.UTC]))
        ).isoformat()
    if draw(st.booleans()):
        values["partition_value"] = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1))
    if draw(st.booleans()):
        values["columns"] = draw(columns.filter(lambda c: all("," not in x for x in c)))
    if draw(st.booleans()):
        values["as_of"] = draw(st.integers(1, 10**6))
    return ReadQuery.build(**values)


@settings(max_examples=60, deadline=None)
@given(read_queries())
def test_a_read_query_survives_the_query_string(query):
    assert ReadQuery.from_query(query.to_query(), name=query.name) == query


def _addressable(name: str) -> bool:
    try:
        validate_addressable(name)
    except pdb.InvalidName:
        return False
    return True


@settings(max_examples=40, deadline=None)
@given(
    names.filter(_addressable),
    st.sampled_from([None, {"ts": "Date"}, {"uid": "ID", "ts": "date"}]),
    st.booleans(),
    st.one_of(st.none(), st.integers(1, 10**8)),
)
def test_upload_options_survive_query_strings_and_json(name, keys, keep_last, chunk_rows):
    opts = UploadOptions.build(
        name=name, columns_keys=keys, keep_last=keep_last, chunk_rows=chunk_rows
    )
    assert UploadOptions.from_query(opts.to_query()) == opts
    assert UploadOptions.from_json(opts.to_json()) == opts


def test_a_misspelt_keyword_names_the_closest_one():
    db = pdb.open("memory://")
    db.upload(pd.DataFrame({"a": [1]}), "f")
    with pytest.raises(TypeError, match=r"'star_date'; did you mean 'start_date'\?"):
        db.get("f", star_date="2024-01-01")
    with pytest.raises(pdb.UnknownParameter, match=r"did you mean 'keep_last'"):
        db.upload(pd.DataFrame({"a": [1]}), "f", keeplast=True)
    with pytest.raises(pdb.UnknownParameter, match=r"query parameter 'startdate'"):
        ReadQuery.from_query({"startdate": "2024"}, name="f")


def test_text_is_parsed_but_python_values_must_have_their_type():
    assert ReadQuery.from_query({"as_of": "3", "use_last": "true"}, name="f").as_of == 3
    with pytest.raises(pdb.InvalidArgument, match="as_of must be a version number, got '3'"):
        ReadQuery.build(name="f", as_of="3")
    with pytest.raises(pdb.InvalidArgument, match="as_of must be a version number, got True"):
        ReadQuery.build(name="f", as_of=True)
    with pytest.raises(pdb.InvalidArgument, match="keep_last must be true or false"):
        UploadOptions.from_query({"dataframe_name": "f", "keep_last": "yes"})
    with pytest.raises(pdb.InvalidArgument, match="chunk_rows"):
        UploadOptions.from_json({"dataframe_name": "f", "chunk_rows": "12"})


def test_one_error_keeps_its_class_and_several_are_joined():
    with pytest.raises(pdb.InvalidName, match="'..' segment"):
        ReadQuery.build(name="../x")
    with pytest.raises(pdb.InvalidArgument, match=r"start_id.*; .*as_of"):
        ReadQuery.from_query({"start_id": "x", "as_of": "y"}, name="f")


def test_cli_flags_come_from_the_same_fields():
    parser = argparse.ArgumentParser()
    ReadQuery.add_cli_arguments(parser)
    args = parser.parse_args(
        [
            "--start-date",
            "2024-01-01",
            "--partition-value",
            "3",
            "--partition-value",
            "1,2",
            "--columns",
            "a,b",
            "--as-of",
            "2",
        ]
    )
    query = ReadQuery.from_cli(args, name="f")
    assert (query.partition_value, query.columns, query.as_of, query.start_date.day) == (
        (1, 2, 3),
        ("a", "b"),
        2,
        "2024-01-01",
    )
    assert ReadQuery.from_cli(parser.parse_args(["--use-last"]), name="f").use_last is True
    flags = {a.dest for a in parser._actions} - {"help"}
    assert flags == set(ReadQuery.model_fields) - {"name"}
    vacuum = argparse.ArgumentParser()
    VacuumOptions.add_cli_arguments(vacuum)
    assert VacuumOptions.from_cli(vacuum.parse_args(["--dry-run"])).dry_run is True


def test_store_and_sdk_share_one_interface():
    local, remote = pdb.open("memory://"), RemoteStore("http://127.0.0.1:9")
    assert isinstance(local, pdb.FrameStore) and isinstance(remote, pdb.FrameStore)
    shared = ("upload", "get", "list", "versions", "delete", "iter_batches", "files", "scan")
    shared += ("manifest", "dates", "replace", "delete_rows", "compact")
    for method in (*shared, "to_dask"):
        ours = inspect.signature(getattr(pdb.Store, method))
        theirs = inspect.signature(getattr(RemoteStore, method))
        assert ours == theirs, method
    assert "start_date" in inspect.signature(pdb.Store.get).parameters
    assert "start_date" in (pdb.Store.get.__doc__ or "")


def test_every_route_has_a_handler_an_openapi_entry_and_a_label():
    assert sorted(HANDLERS) == sorted(r.name for r in ROUTES)
    paths = openapi_document()["paths"]
    for route in ROUTES:
        operation = paths[route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        if route.request is not None:
            documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
            assert documented == set(route.request.query_fields())
        concrete = route.url(**{param: "a/b" for param in re.findall(r"\{(\w+)\}", route.path)})
        assert find(route.method, concrete) == route
        assert route_path(concrete, route.method)[1] == f"{route.method} {route.path}"


def test_frame_names_with_slashes_match_the_longest_route():
    assert find("GET", "/dataframes/x/versions").name == "versions"
    assert find("GET", "/dataframes/versions").name == "read"  # a frame named "versions"
    assert find("GET", "/dataframes/a/b/c").path_params("/dataframes/a/b/c") == {"name": "a/b/c"}
    assert ROUTES_BY_NAME["versions"].url(name="a/b") == "/dataframes/a%2Fb/versions"
    assert find("PATCH", "/dataframes/x") is None


@pytest.mark.parametrize("name", ["get/report", "report/versions", "a/b/dates", "sessions/x"])
def test_a_name_no_route_reaches_is_refused_by_every_write_that_creates_a_frame(
    name, tmp_path, capsys
):
    """A name that can be stored must be reachable on every surface: the local store and the
    CLI refuse what the HTTP API would take for another route, as the API does."""
    with pytest.raises(pdb.InvalidName, match="cannot be reached over HTTP"):
        UploadOptions.build(name=name)
    with pytest.raises(pdb.InvalidName, match=r"^dataframe_name .*cannot be reached over HTTP"):
        UploadOptions.from_query({"dataframe_name": name})
    db = pdb.open(tmp_path / "store")
    with pytest.raises(pdb.InvalidName, match="cannot be reached over HTTP"):
        db.upload(pd.DataFrame({"a": [1]}), name)
    with pytest.raises(pdb.InvalidName, match="cannot be reached over HTTP"):
        db.upload(iter([pd.DataFrame({"a": [1]})]), name)
    assert len(db.list()) == 0
    from pandasdb_core.cli import main

    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    assert main(["--store", str(tmp_path / "store"), "upload", str(source), name]) == 2
    assert "cannot be reached over HTTP" in capsys.readouterr().err
    assert len(db.list()) == 0


def test_output_options_are_validated_once_for_the_store_and_the_sdk():
    """batch_rows, engine and storage_options belong to no request type: one validator."""
    assert OutputOptions.build(batch_rows=5, engine="polars").engine == "polars"
    for bad, message in [
        ({"batch_rows": 0}, "batch_rows must be a positive integer, got 0"),
        ({"batch_rows": -3}, "batch_rows must be a positive integer"),
        ({"batch_rows": True}, "batch_rows must be a positive integer"),
        ({"batch_rows": 2.0}, "batch_rows must be a positive integer"),
        ({"engine": "dask"}, "engine must be 'pandas' or 'polars'"),
        ({"storage_options": "aws_region=x"}, "storage_options must be a dict"),
    ]:
        with pytest.raises(pdb.InvalidArgument, match=message):
            OutputOptions.build(**bad)
    with pytest.raises(pdb.UnknownParameter):
        OutputOptions.build(batchrows=3)
