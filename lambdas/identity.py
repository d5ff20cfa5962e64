"""Who is calling: read from the authorizer's verified claims, never from the request.

Example
-------
>>> caller_from_claims({"sub": "1f0c", "cognito:username": "alice", "aud": "sdk"})
Caller(user_id='1f0c', username='alice', client_id='sdk')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pandasdb_core.errors import Unauthorized

_SAFE_ID = re.compile(r"[A-Za-z0-9._@+-]{1,128}")


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: a stable id (Cognito ``sub``), a user name, and the app
    client the token was issued to (``aud`` of an ID token, ``client_id`` of an access token;
    None when the claims carry neither, as for ``pandasdb serve``)."""

    user_id: str
    username: str
    client_id: str | None = None


def caller_from_claims(claims: Any) -> Caller:
    """Build the caller from authorizer claims or raise :class:`Unauthorized`."""
    if not isinstance(claims, dict):
        raise Unauthorized("missing or invalid token")
    user_id = claims.get("sub")
    username = claims.get("cognito:username") or claims.get("username") or user_id
    if not isinstance(user_id, str) or not _SAFE_ID.fullmatch(user_id):
        raise Unauthorized("missing or invalid token")
    if not isinstance(username, str) or not _SAFE_ID.fullmatch(username):
        raise Unauthorized("missing or invalid token")
    client_id = claims.get("client_id" if claims.get("token_use") == "access" else "aud")
    if client_id is not None and not isinstance(client_id, str):
        raise Unauthorized("missing or invalid token")
    return Caller(user_id=user_id, username=username, client_id=client_id)
