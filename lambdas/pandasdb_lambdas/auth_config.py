"""``GET /auth/config``: how a caller of this API gets a token. It needs no token itself.

On AWS, API Gateway's Cognito authorizer checks tokens, so the answer names the user pool,
the app client and the region to sign in with (Cognito ``USER_PASSWORD_AUTH``; the ID token
is the bearer token), as the original backend's SDK expects (``../shared/SEED-WIRE.md``) and
as pandasdb's SDK uses (:mod:`pandasdb_core.sdk_auth`). They come from the function's
environment, set by the stack (see :mod:`pandasdb_lambdas.aws`): ``PANDASDB_USER_POOL_ID``
and the first of ``PANDASDB_CLIENT_IDS``; a pool id begins with its region.

A resolver that checks tokens itself says how with an ``auth_config()`` method: ``pandasdb
serve`` takes the tokens of its users file, or none at all.

Example
-------
>>> cognito_config({"PANDASDB_USER_POOL_ID": "eu-west-1_abc", "PANDASDB_CLIENT_IDS": "sdk"})
{'auth': 'cognito', 'userPoolId': 'eu-west-1_abc', 'userPoolClientId': 'sdk', 'region': 'eu-west-1'}
>>> users_file_config(per_user=True)["auth"]
'users-file'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pandasdb_core.errors import StoreUnavailable

#: the ``auth`` of each answer: Cognito; a users file of tokens; no token at all
COGNITO, USERS_FILE, NO_TOKEN = "cognito", "users-file", "none"


def auth_config(resolve: Any) -> dict[str, Any]:
    """The answer of ``GET /auth/config`` for an API whose callers ``resolve`` maps to stores:
    the resolver's own ``auth_config()`` if it has one, else Cognito from the environment."""
    describe = getattr(resolve, "auth_config", None)
    return describe() if callable(describe) else cognito_config(os.environ)


def cognito_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """The user pool, app client and region callers sign in with, from the function's
    environment (:class:`StoreUnavailable`, a 503, when the stack did not set them)."""
    pool = environ.get("PANDASDB_USER_POOL_ID", "").strip()
    clients = [c.strip() for c in environ.get("PANDASDB_CLIENT_IDS", "").split(",") if c.strip()]
    if "_" not in pool or not clients:
        raise StoreUnavailable(
            "the function has no PANDASDB_USER_POOL_ID or PANDASDB_CLIENT_IDS configured"
        )
    # the SDK's app client comes first; a pool id is "{region}_{id}"
    return {
        "auth": COGNITO,
        "userPoolId": pool,
        "userPoolClientId": clients[0],
        "region": pool.split("_", 1)[0],
    }


def users_file_config(per_user: bool) -> dict[str, Any]:
    """The answer of ``pandasdb serve``: tokens come from its users file (``per_user``), or
    it serves one user and needs none. No Cognito: the pool fields are null.

    Example
    -------
    >>> users_file_config(per_user=False)["message"]
    'this server (pandasdb serve without --users) needs no token'
    """
    if per_user:
        auth, message = (
            USERS_FILE,
            "this server (pandasdb serve --users) takes the tokens of its users file: send "
            "'Authorization: Bearer TOKEN' (or the token alone); there is nothing to sign in to",
        )
    else:
        auth, message = NO_TOKEN, "this server (pandasdb serve without --users) needs no token"
    return {
        "auth": auth,
        "userPoolId": None,
        "userPoolClientId": None,
        "region": None,
        "message": message,
    }
