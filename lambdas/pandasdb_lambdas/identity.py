"""Who is calling: read from the authorizer's verified claims, never from the request.

Storage follows the ``sub`` alone (a caller's bucket and DynamoDB partition; see
:mod:`pandasdb_lambdas.aws`), which is strictly checked. The user name only labels logs and
messages, so any name Cognito allows is accepted: 1-128 letters, marks, symbols, numbers or
punctuation (Cognito API reference, AdminCreateUser and SignUp, ``Username``: pattern
``[\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+``), "José" and "o'brien" included.

Example
-------
>>> caller_from_claims({"sub": "1f0c", "cognito:username": "alice", "aud": "sdk"})
Caller(user_id='1f0c', username='alice', client_id='sdk')
>>> caller_from_claims({"sub": "1f0c", "cognito:username": "José/ü"}).username
'José/ü'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pandasdb_core.errors import Unauthorized

#: a Cognito ``sub`` (a UUID) or the user name ``pandasdb serve`` puts there
_SAFE_ID = re.compile(r"[A-Za-z0-9._@+-]{1,128}")
#: the Unicode general categories of Cognito's user name pattern (letters, marks, symbols,
#: numbers, punctuation): no spaces, no control characters
_USERNAME_CATEGORIES = frozenset("LMSNP")


def is_cognito_username(name: object) -> bool:
    """Whether ``name`` is a user name Cognito could have issued.

    Example
    -------
    >>> is_cognito_username("o'brien+1"), is_cognito_username("a b"), is_cognito_username("")
    (True, False, False)
    """
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 128
        and all(unicodedata.category(c)[0] in _USERNAME_CATEGORIES for c in name)
    )


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
    if not is_cognito_username(username):
        raise Unauthorized("missing or invalid token")
    client_id = claims.get("client_id" if claims.get("token_use") == "access" else "aud")
    if client_id is not None and not isinstance(client_id, str):
        raise Unauthorized("missing or invalid token")
    return Caller(user_id=user_id, username=username, client_id=client_id)
