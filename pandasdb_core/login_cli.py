"""``pandasdb login`` and ``pandasdb logout``: save and forget a sign-in to an API on AWS.

``pandasdb login --api URL --user NAME [--profile P]`` asks the API which Cognito pool it
uses (``GET /auth/config``), signs in (the password from ``PANDASDB_PASSWORD`` or a prompt,
never a flag), checks the token with ``GET /auth/verify``, and saves the refresh token as
profile ``P`` (default ``default``; see :mod:`pandasdb_core.profiles`). A temporary password
is replaced on the spot: the new one comes from ``PANDASDB_NEW_PASSWORD`` or a prompt on a
terminal. Then ``pdb.connect(profile=P)`` and ``pandasdb --profile P ls`` use it.

Example
-------
``pandasdb login --api https://abc.execute-api.eu-west-1.amazonaws.com/prod --user alice``
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

import requests

from .errors import InvalidArgument, StoreUnavailable, Unauthorized
from .http_routes import ROUTES_BY_NAME
from .profiles import DEFAULT_PROFILE, Profile, remove_profile, save_profile
from .sdk_auth import CognitoPool, CognitoSession, NewPasswordRequired, password_for


def _new_password(challenge: NewPasswordRequired) -> str:
    given = os.environ.get("PANDASDB_NEW_PASSWORD")
    if given:
        return given
    if not sys.stdin.isatty():
        raise challenge  # nobody to ask: its message says what to do
    print(f"The password of {challenge.user} is temporary; choose a new one.", file=sys.stderr)
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("New password again: "):
        raise InvalidArgument("the two new passwords differ; nothing was changed")
    return first


def _verified_user(api: str, session: CognitoSession) -> str:
    """The user the API says the token belongs to (401 for a pool or app client it refuses)."""
    url = api + ROUTES_BY_NAME["auth_verify"].url()
    try:
        answer = requests.get(url, headers=session.headers(), timeout=30)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise StoreUnavailable(f"cannot reach {url}: {type(exc).__name__}") from None
    if answer.status_code != 200:
        try:
            reason = answer.json().get("message", "")
        except (ValueError, AttributeError):
            reason = answer.text[:200]
        raise Unauthorized(f"{api} refused the signed-in token ({answer.status_code}): {reason}")
    return str(answer.json().get("user") or session.user)


def cmd_login(args: argparse.Namespace) -> None:
    """Sign in and save the profile (see the module docstring)."""
    api = args.api.rstrip("/")
    pool = CognitoPool.of_api(api)
    try:
        session = CognitoSession.sign_in(pool, args.user, password_for(args.user))
    except NewPasswordRequired as challenge:
        session = CognitoSession.set_new_password(challenge, _new_password(challenge))
    user = _verified_user(api, session)
    path = save_profile(
        Profile(
            args.profile, api, args.user, pool.user_pool_id, pool.client_id, session.refresh_token
        )
    )
    print(f"signed in to {api} as {user}; profile {args.profile!r} saved in {path}")


def cmd_logout(args: argparse.Namespace) -> None:
    """Forget a saved profile."""
    if not remove_profile(args.profile):
        raise InvalidArgument(f"no profile {args.profile!r} to forget")
    print(f"profile {args.profile!r} forgotten")


def register(subparsers: Any) -> None:
    """Add ``login`` and ``logout`` to the ``pandasdb`` command."""
    login = subparsers.add_parser(
        "login", help="sign in to a pandasdb API on AWS and save the sign-in as a profile"
    )
    login.add_argument("--api", required=True, help="the API's URL (the api_url stack output)")
    login.add_argument("--user", required=True, help="your Cognito user name")
    login.add_argument(
        "--profile", default=DEFAULT_PROFILE, help=f"name to save it as (default {DEFAULT_PROFILE})"
    )
    login.set_defaults(func=cmd_login, needs_store=False)
    logout = subparsers.add_parser("logout", help="forget a saved sign-in")
    logout.add_argument("--profile", default=DEFAULT_PROFILE)
    logout.set_defaults(func=cmd_logout, needs_store=False)
