"""Request types of upload sessions over HTTP (see :mod:`pandasdb_core.sessions`): a piece
written into an open session, the commit of all of them, and the abort of a session.

Opening a session takes :class:`~pandasdb_core.operations.UploadOptions` itself.

Example
-------
>>> PieceRequest.from_query({"piece": "3"}, session="0" * 32).piece
3
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from .base import Operation
from .fields import IN_PATH, Count, _whole

PieceNumber = Annotated[int, BeforeValidator(_whole("a piece number")), Field(ge=0)]
#: the most pieces one session takes (``pandasdb_core.sessions.MAX_PIECES``, which a test
#: keeps equal): a commit's ``pieces`` beyond it names pieces no session can hold, and its
#: check would build a list of that many numbers (``pieces=2147483648`` took 16 GB)
MAX_PIECES = 1_000_000

#: an upload session id (32 hex digits)
SESSION_ID = r"^[0-9a-f]{32}$"


class PieceRequest(Operation):
    """One piece of an upload session: the body (parquet carrying its schema, CSV or JSON
    records), or data staged by ``POST /dataframes/staging``."""

    verb = "write_piece"

    session: str = Field(
        pattern=SESSION_ID, description="The upload session.", json_schema_extra=IN_PATH
    )
    piece: PieceNumber = Field(
        description=(
            "The piece's number, from 0; piece 0 fixes the columns and types, and must be "
            "written first. Writing a number again replaces that piece."
        ),
    )
    staged: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{32}$",
        description="The upload id of data PUT to a URL from POST /dataframes/staging.",
    )


class CommitRequest(Operation):
    """The commit of an upload session: every piece, as one version."""

    verb = "commit"

    session: str = Field(
        pattern=SESSION_ID, description="The upload session.", json_schema_extra=IN_PATH
    )
    pieces: Annotated[Count, Field(le=MAX_PIECES)] | None = Field(
        None,
        description=(
            "How many pieces were sent (0 .. pieces-1): the commit is refused if one is "
            "missing, so a lost piece can never make a short version."
        ),
    )


class SessionRef(Operation):
    """One upload session, by id: its abort (``DELETE /dataframes/sessions/{session}``)."""

    verb = "abort"

    session: str = Field(
        pattern=SESSION_ID, description="The upload session.", json_schema_extra=IN_PATH
    )
