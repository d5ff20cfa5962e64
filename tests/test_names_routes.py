"""Frame names in HTTP paths: every name an upload accepts is reached as itself by every route
of the table, on every method; a name some route would take for another frame or route is
refused up front, by a rule derived from the route table (a new route updates it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pandasdb_core import http_routes
from pandasdb_core import names as frame_names
from pandasdb_core.errors import InvalidName
from pandasdb_core.http_routes import ROUTES, Route, find
from pandasdb_core.names import reserved_words, validate_addressable

WORDS = [
    "get",
    "versions",
    "dates",
    "files",
    "replace",
    "compact",
    "delete_rows",
    "upload",
    "sessions",
    "manifest",
    "pieces",
    "commit",
]
segments = st.one_of(st.sampled_from(WORDS), st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True))
names = st.lists(segments, min_size=1, max_size=4).map("/".join)


def reached(name: str) -> bool:
    """Whether every route on a frame, given ``name``, is the route its path finds, with
    ``name`` as its parameter (paths as routers see them: %2F decoded)."""
    for route in ROUTES:
        if "{name}" in route.path:
            path = route.path.replace("{name}", name)
            found = find(route.method, path)
            if found is not route or found.path_params(path) != {"name": name}:
                return False
    return True


@settings(max_examples=400, deadline=None)
@given(names)
def test_a_name_is_accepted_exactly_when_every_route_reaches_it(name):
    try:
        validate_addressable(name)
    except InvalidName as refused:
        assert not reached(name), name
        assert "cannot be reached over HTTP" in str(refused)
    else:
        assert reached(name), name


@settings(max_examples=300, deadline=None)
@given(names)
def test_the_stated_rule_is_the_route_tables(name):
    """The words the message and the README state are the whole rule."""
    first, last = reserved_words()
    parts = name.split("/")
    stated = (len(parts) > 1 and parts[0] in first) or parts[-1] in last
    assert stated == (not reached(name)), name


@pytest.mark.parametrize(
    "name, route",
    [
        ("get/report", "GET /dataframes/get/{name} with name 'report'"),
        ("report/versions", "GET /dataframes/{name}/versions with name 'report'"),
        ("a/b/dates", "GET /dataframes/{name}/dates with name 'a/b'"),
        ("files", "GET /dataframes/{name}/files with name 'get'"),
        ("sessions/x", "DELETE /dataframes/sessions/{session}"),
    ],
)
def test_the_refusal_names_the_route_that_would_take_the_path(name, route):
    with pytest.raises(InvalidName, match="cannot be reached over HTTP") as refused:
        validate_addressable(name, "dataframe_name")
    assert str(refused.value).startswith(f"dataframe_name {name!r}")
    assert route in str(refused.value)


def test_names_that_are_route_words_elsewhere_are_fine():
    for name in (
        "get",
        "upload",
        "sessions",
        "x/sessions",
        "x/replace",
        "x/manifest",
        "sessions-x/y",
        "x/get/y",
        "a/versions/b",
        "Versions",
    ):
        assert validate_addressable(name) == name


def test_a_new_route_on_a_frame_updates_the_rule(monkeypatch):
    stats = Route("stats", "GET", "/dataframes/{name}/stats", None, "Statistics")
    monkeypatch.setattr(http_routes, "ROUTES", (*ROUTES, stats))
    # what the table derives is computed once per process: computed again for the new one
    caches = (reserved_words, frame_names._route_clash, http_routes._in_order)
    for cache in caches:
        cache.cache_clear()
    try:
        assert "stats" in reserved_words()[1]
        with pytest.raises(InvalidName, match="/dataframes/{name}/stats"):
            validate_addressable("daily/stats")
    finally:
        monkeypatch.undo()
        for cache in caches:
            cache.cache_clear()
    assert validate_addressable("daily/stats") == "daily/stats"


def test_the_readme_states_the_rule():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    semantics = readme.split("## Semantics, in plain words", 1)[1].split("\n## ", 1)[0]
    first, last = reserved_words()
    for word in (*first, *last):
        assert f"`{word}`" in semantics, word
