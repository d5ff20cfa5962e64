"""The HTTP API's sessions and keyed uploads, in process, on every adapter: an abort racing
a commit, a session opened with a committed key, CSV typed toward recorded types, pieces
typed toward the frame's own types only, staged repeats compared with their first request."""

from __future__ import annotations

import base64
import io
import json
import threading
from typing import Any

import polars as pl
import pytest
from pandasdb_lambdas.context import StoreContext
from pandasdb_lambdas.handler import make_handler

import pandasdb_core as pdb
from pandasdb_core import sessions
from pandasdb_core.errors import CommitConflict, InvalidArgument
from pandasdb_core.operations import UploadOptions
from pandasdb_core.sessions import UploadSession


class Api:
    """The Lambda handler over one store, called with API Gateway proxy events."""

    def __init__(self, db: pdb.Store) -> None:
        self.db = db
        self.handle = make_handler(lambda caller: StoreContext(db, lambda method, key: key))

    def __call__(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | str | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any]:
        binary = isinstance(body, bytes)
        event = {
            "httpMethod": method,
            "path": path,
            "headers": {"Content-Type": content_type} if content_type else {},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "requestContext": {"requestId": "r1", "authorizer": {"claims": {"sub": "u1"}}},
            "body": base64.b64encode(body).decode() if binary else body,
            "isBase64Encoded": binary,
        }
        response = self.handle(event, None)
        text = response["body"] or ""
        try:
            return response["statusCode"], json.loads(text)
        except ValueError:
            return response["statusCode"], text


def parquet(frame: pl.DataFrame) -> bytes:
    data = io.BytesIO()
    frame.write_parquet(data)
    return data.getvalue()


def open_session(api: Api, **params: str) -> str:
    status, body = api("POST", "/dataframes/sessions", {"dataframe_name": "f", **params})
    assert status == 200, body
    return body["session"]


def send_piece(api: Api, session: str, number: int, data: bytes, kind: str) -> tuple[int, Any]:
    return api(
        "POST",
        f"/dataframes/sessions/{session}/pieces",
        {"piece": str(number)},
        data,
        "application/vnd.apache.parquet" if kind == "parquet" else "text/csv",
    )


class Paused:
    """Holds a commit in flight at one step until the test lets it go on."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def wrap(self, step: Any) -> Any:
        def paused(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.release.wait(60), "the test never released the commit"
            return step(*args, **kwargs)

        return paused


def commit_in_thread(
    db: pdb.Store, session: str, pieces: int | None
) -> tuple[threading.Thread, dict]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["commit"] = UploadSession.resume(db, session).commit(pieces=pieces)
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def two_pieces(api: Api) -> str:
    session = open_session(api)
    for number in range(2):
        piece = pl.DataFrame({"a": [number * 10 + i for i in range(3)]})
        status, body = send_piece(api, session, number, parquet(piece), "parquet")
        assert status == 200, body
    return session


def test_an_abort_during_a_commit_in_flight_is_refused_and_the_commit_stands(db, monkeypatch):
    api = Api(db)
    session = two_pieces(api)
    paused = Paused()
    # the commit has claimed the session and is about to record its version
    monkeypatch.setattr(sessions, "record", paused.wrap(sessions.record))
    thread, outcome = commit_in_thread(db, session, 2)
    assert paused.entered.wait(60)
    status, body = api("DELETE", f"/dataframes/sessions/{session}")
    paused.release.set()
    thread.join(60)
    assert status == 409 and "being committed" in body["message"], body
    assert outcome["commit"].version == 1, outcome
    assert db.get("f")["a"].tolist() == [0, 1, 2, 10, 11, 12]
    assert db.check().ok
    status, body = api("DELETE", f"/dataframes/sessions/{session}")
    assert status == 409 and "committed as version 1" in body["message"], body


def test_an_abort_that_claims_the_session_first_refuses_its_commit(db, monkeypatch):
    api = Api(db)
    session = two_pieces(api)
    paused = Paused()
    # the commit has read the pieces and planned its version, but not claimed the session
    monkeypatch.setattr(UploadSession, "_removal", paused.wrap(UploadSession._removal))
    thread, outcome = commit_in_thread(db, session, 2)
    assert paused.entered.wait(60)
    status, body = api("DELETE", f"/dataframes/sessions/{session}")
    paused.release.set()
    thread.join(60)
    assert status == 200, body
    assert isinstance(outcome.get("error"), InvalidArgument), outcome
    assert "was aborted" in str(outcome["error"])
    assert len(db.list()) == 0
    assert not [b.key for b in db.blobs.list() if b.key.endswith(".parquet") or "/a/" in b.key]
    status, _ = api("DELETE", f"/dataframes/sessions/{session}")
    assert status == 404


def test_a_piece_acknowledged_while_a_commit_lists_the_pieces_is_in_the_version(db, monkeypatch):
    """A commit without ``pieces`` lists the pieces, then claims the session: a piece
    written between the two, and answered 200, was left out of the version."""
    api = Api(db)
    session = two_pieces(api)
    paused = Paused()
    # the commit has listed the pieces and planned its version, but not claimed the session
    monkeypatch.setattr(UploadSession, "_removal", paused.wrap(UploadSession._removal))
    thread, outcome = commit_in_thread(db, session, None)
    assert paused.entered.wait(60)
    status, body = send_piece(api, session, 2, parquet(pl.DataFrame({"a": [20]})), "parquet")
    paused.release.set()
    thread.join(60)
    assert status == 200, body
    assert outcome["commit"].rows == 7, outcome
    assert db.get("f")["a"].tolist() == [0, 1, 2, 10, 11, 12, 20]


def test_a_piece_written_after_a_commit_claimed_the_session_is_not_acknowledged(db, monkeypatch):
    """A piece whose write began before a commit claimed the session and ended after it may
    be left out of the version: it is answered 409, never 200."""
    api = Api(db)
    session = two_pieces(api)
    write_chunks = sessions.write_chunks

    def claimed_meanwhile(*args: Any, **kwargs: Any) -> Any:
        UploadSession.resume(db, session)._claim("commit")
        return write_chunks(*args, **kwargs)

    monkeypatch.setattr(sessions, "write_chunks", claimed_meanwhile)
    status, body = send_piece(api, session, 2, parquet(pl.DataFrame({"a": [20]})), "parquet")
    assert status == 409 and "began while piece 2 was written" in body["message"], body
    monkeypatch.setattr(sessions, "write_chunks", write_chunks)
    status, body = send_piece(api, session, 3, parquet(pl.DataFrame({"a": [30]})), "parquet")
    assert status == 400 and "is committed" in body["message"], body


def test_session_abort_and_committed_in_the_library(db):
    opts = UploadOptions.build(name="f")
    session = UploadSession.open(db, opts)
    session.write_piece(0, pl.DataFrame({"a": [1]}))
    assert session.committed() is None
    session.abort()
    with pytest.raises(InvalidArgument, match="no open upload session"):
        UploadSession.resume(db, session.session_id)
    with pytest.raises(InvalidArgument, match="aborted"):
        session.write_piece(1, pl.DataFrame({"a": [2]}))
    with pytest.raises(InvalidArgument, match="aborted"):
        session.commit(pieces=1)
    kept = UploadSession.open(db, opts)
    kept.write_piece(0, pl.DataFrame({"a": [1]}))
    commit = kept.commit(pieces=1)
    assert kept.committed() == commit
    with pytest.raises(CommitConflict, match="committed as version 1"):
        kept.abort()
    assert db.get("f")["a"].tolist() == [1]


def test_a_landed_commit_whose_answer_was_lost_is_committed(db, monkeypatch):
    """A commit that recorded its version, then ended before it recorded its answer, is
    found by its key: the session is committed, and an abort removes nothing."""
    session = UploadSession.open(db, UploadOptions.build(name="f"))
    session.write_piece(0, pl.DataFrame({"a": [1, 2]}))

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the process ended")

    monkeypatch.setattr(UploadSession, "_finish", lost)
    with pytest.raises(ConnectionError):
        session.commit(pieces=1)
    monkeypatch.undo()
    again = UploadSession.resume(db, session.session_id)
    assert again.committed().version == 1
    with pytest.raises(CommitConflict, match="committed as version 1"):
        again.abort()
    assert db.get("f")["a"].tolist() == [1, 2] and db.check().ok


def test_a_session_opened_with_a_committed_key_answers_the_commit_at_once(db):
    api = Api(db)
    keyed = {"idempotency_key": "load-1"}
    session = open_session(api, **keyed)
    assert send_piece(api, session, 0, parquet(pl.DataFrame({"a": [1, 2]})), "parquet")[0] == 200
    status, first = api("POST", f"/dataframes/sessions/{session}/commit", {"pieces": "1"})
    assert status == 200, first
    status, opened = api("POST", "/dataframes/sessions", {"dataframe_name": "f", **keyed})
    assert status == 200 and opened["commit"] == first, opened
    # a client that sends its pieces anyway is answered the same, and nothing is written
    again = opened["session"]
    assert send_piece(api, again, 0, parquet(pl.DataFrame({"a": [1, 2]})), "parquet")[0] == 200
    status, repeat = api("POST", f"/dataframes/sessions/{again}/commit", {"pieces": "1"})
    assert status == 200 and repeat == first
    assert [v.version for v in db.versions("f")] == [1]
    fresh = api("POST", "/dataframes/sessions", {"dataframe_name": "f"})[1]
    assert "commit" not in fresh


def test_a_session_repeating_a_committed_key_with_other_rows_is_refused(db):
    """As an upload repeating a key with other rows: a session opened with a committed key
    whose pieces hold other rows was answered the first commit, as if they were stored."""
    api = Api(db)
    keyed = {"idempotency_key": "load-2"}
    session = open_session(api, **keyed)
    assert send_piece(api, session, 0, parquet(pl.DataFrame({"a": [1, 2]})), "parquet")[0] == 200
    assert api("POST", f"/dataframes/sessions/{session}/commit", {"pieces": "1"})[0] == 200
    again = open_session(api, **keyed)
    assert send_piece(api, again, 0, parquet(pl.DataFrame({"a": [9]})), "parquet")[0] == 200
    status, body = api("POST", f"/dataframes/sessions/{again}/commit", {"pieces": "1"})
    assert status == 400 and "other rows" in body["message"], body
    assert db.get("f")["a"].tolist() == [1, 2]
    assert [v.version for v in db.versions("f")] == [1]


def test_a_csv_upload_keeps_the_text_of_a_string_column(db):
    api = Api(db)
    db.upload(pl.DataFrame({"code": ["a1"], "n": [1.5]}), "f")
    status, body = api(
        "POST", "/dataframes/upload", {"dataframe_name": "f"}, b"code,n\n007,2\n", "text/csv"
    )
    assert status == 200, body
    body = json.dumps({"dataframe": "code,n\n0010,3\n", "dataframe_name": "f"})
    status, answer = api("POST", "/dataframes/upload", body=body, content_type="application/json")
    assert status == 200, answer
    got = db.get("f", engine="polars")
    assert got["code"].to_list() == ["a1", "007", "0010"]
    assert got["n"].to_list() == [1.5, 2.0, 3.0]


def test_csv_pieces_are_typed_toward_the_frames_own_types_only(db):
    """Piece 0's new columns are not the frame's: a later piece's text is typed by its own
    values and reconciled at the commit (integers beside floats, values after nulls only)."""
    api = Api(db)
    db.upload(pl.DataFrame({"code": ["x"]}), "f")
    session = open_session(api)
    pieces = ["code,n,late\n007,1,\n008,2,\n", "code,n,late\n009,2.5,7\n"]
    for number, text in enumerate(pieces):
        status, body = send_piece(api, session, number, text.encode(), "csv")
        assert status == 200, body
    status, body = api("POST", f"/dataframes/sessions/{session}/commit", {"pieces": "2"})
    assert status == 200, body
    got = db.get("f", engine="polars")
    assert got["code"].to_list() == ["x", "007", "008", "009"]
    assert got["n"].to_list() == [None, 1.0, 2.0, 2.5]
    assert got["late"].dtype == pl.Int64 and got["late"].to_list() == [None, None, None, 7]


def staged(api: Api, data: bytes) -> str:
    status, body = api("POST", "/dataframes/staging")
    assert status == 200, body
    api.db.blobs.put(body["url"], data)  # the test's presigner answers the key itself
    return body["upload_id"]


def test_a_staged_repeat_must_ask_what_its_key_first_asked(db):
    api = Api(db)
    data = b"a\n1\n2\n"
    first_query = {"dataframe_name": "f", "idempotency_key": "k1", "staged": staged(api, data)}
    status, first = api("POST", "/dataframes/upload", first_query)
    assert status == 200, first
    # the first answer lost: a retry names the same staged id, discarded since
    status, again = api("POST", "/dataframes/upload", first_query)
    assert status == 200 and again["version"] == first["version"]
    other = {**first_query, "mode": "overwrite", "staged": staged(api, data)}
    status, body = api("POST", "/dataframes/upload", other)
    assert status == 400 and "idempotency_key 'k1'" in body["message"], body
    assert "an overwrite" in body["message"] or "an append" in body["message"]
    status, body = api(
        "POST",
        "/dataframes/f/replace",
        {"idempotency_key": "k1", "start_id": "0", "end_id": "9", "staged": staged(api, data)},
    )
    assert status == 400 and "idempotency_key 'k1'" in body["message"], body
    assert [v.version for v in db.versions("f")] == [1] and len(db.get("f")) == 2


def test_requests_of_a_missing_frame_never_list_the_frames(db, monkeypatch):
    """A missing frame is an answer to an upload or a session, not an error: the API reads
    its head (Store.find_head), never the listing Store.head makes for its suggestions."""
    api = Api(db)

    def listed(prefix: str = "") -> Any:
        raise AssertionError("the frames were listed")

    monkeypatch.setattr(db.meta, "frames", listed)
    status, body = api(
        "POST", "/dataframes/upload", {"dataframe_name": "new"}, b"a\n1\n", "text/csv"
    )
    assert status == 200, body
    session = open_session(api, dataframe_name="other")
    assert send_piece(api, session, 0, b"a,b\n1,x\n", "csv")[0] == 200
    query = {"dataframe_name": "third", "idempotency_key": "k", "staged": staged(api, b"a\n1\n")}
    assert api("POST", "/dataframes/upload", query)[0] == 200
