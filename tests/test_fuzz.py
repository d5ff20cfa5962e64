"""Schemathesis against ``/openapi.json`` of a running server: no input yields a 5xx."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pandasdb_core.http_routes import ROUTES

EXAMPLES = 60


def test_no_generated_request_causes_a_server_error(users_server):
    schema = schemathesis.openapi.from_url(f"{users_server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {users_server.tokens['alice']}"}
    tried: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            label = f"{case.method.upper()} {case.path}"
            response = case.call(base_url=users_server.url, headers=headers, timeout=60)
            tried[label] = tried.get(label, 0) + 1
            assert response.status_code < 500, f"{label} {case}: {response.text}"

        check()
    # every route of the table was exercised, through the document derived from it (but the
    # document itself, which schemathesis leaves out)
    assert set(tried) == {f"{r.method} {r.path}" for r in ROUTES if r.name != "openapi"}, tried
    assert sum(tried.values()) >= len(ROUTES) * 20, tried


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
upload_bodies = st.fixed_dictionaries(
    {"dataframe_name": st.one_of(st.text(max_size=30), st.sampled_from(["f", "a/b", "../x"]))},
    optional={
        "dataframe": st.one_of(
            st.text(max_size=200),
            json_values,
            st.lists(
                st.dictionaries(st.sampled_from(["a", "b", "ts"]), json_values, max_size=3),
                max_size=5,
            ),
        ),
        "columns_keys": st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(["a", "b", "ts"]), st.sampled_from(["Date", "ID", "date", "x"])
            ),
        ),
        "external_key": json_values,
        "keep_last": json_values,
        "chunk_rows": json_values,
        "format": json_values,
    },
)


def test_fuzzed_upload_bodies_never_cause_a_server_error(users_server):
    headers = {"Authorization": f"Bearer {users_server.tokens['bob']}"}
    statuses: dict[int, int] = {}

    @given(body=upload_bodies | json_values)
    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(body):
        response = requests.post(
            f"{users_server.url}/dataframes/upload", json=body, headers=headers, timeout=60
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{body!r}: {response.text}"
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "message", "code"}

    check()
    assert statuses.get(400, 0) > 0
