"""Sign-in for the SDK and the CLI: how a :class:`~pandasdb_core.client.RemoteStore` gets the
token it sends, and gets a fresh one.

On AWS the API's ``GET /auth/config`` names a Cognito user pool and app client. A user signs
in with Cognito's ``USER_PASSWORD_AUTH`` flow, called through Cognito's JSON API with
``requests`` (no boto3 in the SDK), and sends the ID token. ID tokens last an hour: a
:class:`CognitoSession` gets a new one with the refresh token shortly before it expires, and
once when the API answers 401; a second 401 is an error. A temporary password (Cognito's
``NEW_PASSWORD_REQUIRED``) is answered with :class:`NewPasswordRequired`, which says what to do.

Cognito's endpoint is ``https://cognito-idp.{region}.amazonaws.com/``, or the one named by
``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`` or ``AWS_ENDPOINT_URL``, as boto3 reads them
(tests point them at moto's server).

Passwords and tokens never appear in a ``repr``, a message or a log line.

Example
-------
>>> pool = CognitoPool("us-east-1_abc", "client1", "us-east-1")
>>> pool.endpoint({})
'https://cognito-idp.us-east-1.amazonaws.com/'
>>> StaticToken("secret-token-1")
<StaticToken>
"""

from __future__ import annotations

import getpass
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from .errors import InvalidArgument, StoreUnavailable, Unauthorized
from .profiles import DEFAULT_PROFILE, Profile, load_profile

#: seconds before an ID token expires at which it is refreshed (requests in flight finish)
REFRESH_MARGIN = 300
_TARGET = "AWSCognitoIdentityProviderService."
_TIMEOUT = 30.0


class TokenSource(Protocol):
    """What a RemoteStore asks for the ``Authorization`` header, and for a new token."""

    #: the user the token belongs to, when known (for ``repr``)
    user: str | None

    def headers(self) -> dict[str, str]:
        """The header(s) to send, refreshed first if the token is about to expire."""
        ...

    def refresh(self) -> bool:
        """Get a new token after the API refused this one; False if there is no way to."""
        ...


class StaticToken:
    """A token given as is (a users-file token, or an ID token got elsewhere): never
    refreshed."""

    def __init__(self, token: str | None) -> None:
        self._token = token
        self.user: str | None = None

    def __repr__(self) -> str:
        return "<StaticToken>"

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer TOKEN``, or nothing without a token."""
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def refresh(self) -> bool:
        """A given token cannot be renewed."""
        return False


class NewPasswordRequired(Unauthorized):
    """Cognito asks the user to replace a temporary password before signing in."""

    def __init__(self, user: str, pool: CognitoPool, session: str) -> None:
        super().__init__(
            f"Cognito asks user {user!r} to choose a new password: the password given is a "
            "temporary one. Run 'pandasdb login --api URL --user "
            f"{user}' in a terminal once, which asks for the new password, then sign in with it"
        )
        self.user = user
        self.pool = pool
        self._session = session


@dataclass(frozen=True)
class CognitoPool:
    """The user pool, app client and region an API's ``GET /auth/config`` names."""

    user_pool_id: str
    client_id: str
    region: str

    @classmethod
    def of_api(cls, api_url: str, timeout: float = _TIMEOUT) -> CognitoPool:
        """Ask the API (``GET /auth/config``, no token) which pool its users sign in to."""
        url = api_url.rstrip("/") + "/auth/config"
        try:
            response = requests.get(url, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise StoreUnavailable(f"cannot reach {url}: {type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict):
            raise StoreUnavailable(
                f"{url} answered {response.status_code}, not the API's sign-in configuration"
            )
        return cls.from_config(answer, api_url)

    @classmethod
    def from_config(cls, answer: Mapping[str, Any], api_url: str = "the API") -> CognitoPool:
        """The pool of a ``GET /auth/config`` answer (the original backend's fields).

        Example
        -------
        >>> CognitoPool.from_config({"auth": "users-file", "message": "send a token"}, "http://h")
        Traceback (most recent call last):
        ...
        pandasdb_core.errors.InvalidArgument: http://h has nothing to sign in to (send a token): ...
        """
        pool, client, region = (answer.get(k) for k in ("userPoolId", "userPoolClientId", "region"))
        if not all(isinstance(v, str) and v for v in (pool, client, region)):
            said = answer.get("message") or "it names no Cognito user pool"
            raise InvalidArgument(
                f"{api_url} has nothing to sign in to ({said}): connect with token=... instead "
                "of user and password"
            )
        return cls(pool, client, region)  # type: ignore[arg-type]

    def endpoint(self, environ: Mapping[str, str] | None = None) -> str:
        """Cognito's endpoint for this pool's region, unless the environment names another."""
        env = os.environ if environ is None else environ
        override = env.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER") or env.get(
            "AWS_ENDPOINT_URL"
        )
        return (
            (override.rstrip("/") + "/")
            if override
            else (f"https://cognito-idp.{self.region}.amazonaws.com/")
        )

    def call(self, action: str, payload: dict[str, Any], user: str) -> dict[str, Any]:
        """One Cognito API call (unsigned, as these public actions are); refusals become
        :class:`Unauthorized` with Cognito's reason, which never repeats a secret."""
        try:
            response = requests.post(
                self.endpoint(),
                data=json.dumps(payload),
                headers={
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": _TARGET + action,
                },
                timeout=_TIMEOUT,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise StoreUnavailable(
                f"cannot reach Cognito at {self.endpoint()}: {type(exc).__name__}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 500:
            raise StoreUnavailable(f"Cognito answered {response.status_code} to {action}")
        if response.status_code >= 400:
            kind = str(body.get("__type", "error")).rsplit("#", 1)[-1]
            reason = body.get("message") or body.get("Message") or kind
            raise Unauthorized(f"Cognito refused the sign-in of {user!r} ({kind}): {reason}")
        return body


class CognitoSession:
    """A signed-in Cognito user: the ID token to send, refreshed with the refresh token.

    ``clock`` is the time source (tests move it forward to reach expiry). Safe to share
    between threads: one refresh runs at a time.
    """

    def __init__(
        self,
        pool: CognitoPool,
        user: str,
        refresh_token: str,
        *,
        id_token: str | None = None,
        expires_at: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.user: str | None = user
        self.clock = clock
        self._refresh_token = refresh_token
        self._id_token = id_token
        self._expires_at = expires_at
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CognitoSession {self.user} in {self.pool.user_pool_id}>"

    @property
    def refresh_token(self) -> str:
        """The refresh token, for ``pandasdb login`` to save (never shown)."""
        return self._refresh_token

    @classmethod
    def sign_in(
        cls,
        pool: CognitoPool,
        user: str,
        password: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> CognitoSession:
        """Sign in with ``USER_PASSWORD_AUTH``.

        Raises
        ------
        NewPasswordRequired
            The password is temporary (answer it with :meth:`set_new_password`).
        Unauthorized
            Cognito refused the user or password (its reason is in the message).
        """
        answer = pool.call(
            "InitiateAuth",
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": pool.client_id,
                "AuthParameters": {"USERNAME": user, "PASSWORD": password},
            },
            user,
        )
        return cls._from_answer(pool, user, answer, clock)

    @classmethod
    def set_new_password(
        cls,
        challenge: NewPasswordRequired,
        new_password: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> CognitoSession:
        """Answer Cognito's ``NEW_PASSWORD_REQUIRED`` with the password the user chose."""
        answer = challenge.pool.call(
            "RespondToAuthChallenge",
            {
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "ClientId": challenge.pool.client_id,
                "Session": challenge._session,
                "ChallengeResponses": {"USERNAME": challenge.user, "NEW_PASSWORD": new_password},
            },
            challenge.user,
        )
        return cls._from_answer(challenge.pool, challenge.user, answer, clock)

    @classmethod
    def _from_answer(
        cls, pool: CognitoPool, user: str, answer: dict[str, Any], clock: Callable[[], float]
    ) -> CognitoSession:
        if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            raise NewPasswordRequired(user, pool, str(answer.get("Session", "")))
        result = answer.get("AuthenticationResult")
        if not isinstance(result, dict) or "IdToken" not in result:
            challenge = answer.get("ChallengeName", "no tokens")
            raise Unauthorized(
                f"Cognito asked user {user!r} for {challenge}, which pandasdb cannot answer; "
                "sign in once with the AWS console or CLI to settle it"
            )
        return cls(
            pool,
            user,
            result["RefreshToken"],
            id_token=result["IdToken"],
            expires_at=clock() + float(result.get("ExpiresIn", 3600)),
            clock=clock,
        )

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer ID_TOKEN``, refreshed first when it expires within
        :data:`REFRESH_MARGIN` seconds."""
        with self._lock:
            if self._id_token is None or self.clock() >= self._expires_at - REFRESH_MARGIN:
                self._renew()
            return {"Authorization": f"Bearer {self._id_token}"}

    def refresh(self) -> bool:
        """Get a new ID token now (the API refused the current one)."""
        with self._lock:
            self._renew()
        return True

    def _renew(self) -> None:
        try:
            answer = self.pool.call(
                "InitiateAuth",
                {
                    "AuthFlow": "REFRESH_TOKEN_AUTH",
                    "ClientId": self.pool.client_id,
                    "AuthParameters": {"REFRESH_TOKEN": self._refresh_token},
                },
                str(self.user),
            )
        except Unauthorized as exc:
            raise Unauthorized(
                f"the sign-in of {self.user!r} has expired or was revoked ({exc}); sign in again "
                "(pandasdb login)"
            ) from None
        result = answer.get("AuthenticationResult") or {}
        if "IdToken" not in result:
            raise Unauthorized(f"Cognito gave no new token for {self.user!r}; sign in again")
        self._id_token = result["IdToken"]
        self._expires_at = self.clock() + float(result.get("ExpiresIn", 3600))


def password_for(user: str) -> str:
    """The password of ``user``: ``PANDASDB_PASSWORD`` if set, else asked for without echo
    (never a command-line value, which shell history and ``ps`` would keep)."""
    given = os.environ.get("PANDASDB_PASSWORD")
    if given:
        return given
    return getpass.getpass(f"Password for {user}: ")


def session_from_profile(profile: Profile) -> CognitoSession:
    """The sign-in a profile saved (its first request refreshes the ID token)."""
    pool = CognitoPool(profile.user_pool_id, profile.client_id, profile.region)
    return CognitoSession(pool, profile.user, profile.refresh_token)


def connection_auth(
    url: str | None,
    token: str | None,
    user: str | None,
    password: str | None,
    profile: str | None,
) -> tuple[str, TokenSource | None]:
    """The API URL and token source :func:`pandasdb_core.connect` was asked for: a token
    (or none), a user signing in with a password, or a profile saved by ``pandasdb login``
    (``profile``, or the default one when neither a URL nor a token is given).

    Example
    -------
    >>> connection_auth("http://h", "token-1", None, None, None)
    ('http://h', None)
    >>> connection_auth("http://h", "token-1", "alice", None, None)
    Traceback (most recent call last):
    ...
    pandasdb_core.errors.InvalidArgument: connect: give token, user (and password) or profile...
    """
    if sum(x is not None for x in (token, user, profile)) > 1:
        raise InvalidArgument("connect: give token, user (and password) or profile, not several")
    if password is not None and user is None:
        raise InvalidArgument("connect: password goes with user")
    if user is not None:
        if url is None:
            raise InvalidArgument("connect: signing in as a user needs the API's url")
        pool = CognitoPool.of_api(url)
        return url, CognitoSession.sign_in(pool, user, password or password_for(user))
    if profile is None and (url is not None or token is not None):
        if url is None:
            raise InvalidArgument("connect: a token needs the API's url")
        return url, None
    saved = load_profile(profile or DEFAULT_PROFILE)
    if url is not None and url.rstrip("/") != saved.api_url.rstrip("/"):
        raise InvalidArgument(
            f"connect: profile {saved.name!r} signs in to {saved.api_url}, not {url}"
        )
    return saved.api_url, session_from_profile(saved)
