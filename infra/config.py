"""The stack's settings, read from Pulumi config with documented defaults.

Example
-------
>>> StackSettings(users=(UserSpec("alice"),)).log_retention_days
30
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi

_USER = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class UserSpec:
    """One configured user: a Cognito user name (also part of their bucket name) and e-mail."""

    name: str
    email: str | None = None


@dataclass(frozen=True)
class StackSettings:
    """Everything the program reads from config (``pandasdb:*`` keys)."""

    users: tuple[UserSpec, ...]
    chunk_rows: int = 250_000
    log_retention_days: int = 30
    cors_origins: tuple[str, ...] = ("*",)
    alarm_email: str | None = None
    allow_self_signup: bool = False
    throttle_rate: float = 50.0
    throttle_burst: int = 100
    lambda_memory_mb: int = 2048
    lambda_timeout_s: int = 60
    noncurrent_days: int = 30
    staging_days: int = 1
    tags: dict[str, str] = field(default_factory=dict)


def parse_users(raw: object) -> tuple[UserSpec, ...]:
    """``["alice", {"name": "bob", "email": "b@x"}]`` -> UserSpecs, checked.

    Example
    -------
    >>> parse_users(["alice", {"name": "bob", "email": "bob@example.com"}])[1].email
    'bob@example.com'
    """
    if not isinstance(raw, list) or not raw:
        raise ValueError("pandasdb:users must be a non-empty list of user names")
    users = []
    for entry in raw:
        spec = UserSpec(entry) if isinstance(entry, str) else UserSpec(**entry)
        if not _USER.fullmatch(spec.name):
            raise ValueError(
                f"pandasdb:users: {spec.name!r} must be 1-31 of [a-z0-9-] (it names a bucket)"
            )
        users.append(spec)
    names = [u.name for u in users]
    if len(set(names)) != len(names):
        raise ValueError("pandasdb:users lists a user twice")
    return tuple(users)


def load_settings() -> StackSettings:
    """Read the current stack's config."""
    cfg = pulumi.Config("pandasdb")
    origins = cfg.get_object("corsOrigins") or ["*"]
    return StackSettings(
        users=parse_users(cfg.require_object("users")),
        chunk_rows=cfg.get_int("chunkRows") or 250_000,
        log_retention_days=cfg.get_int("logRetentionDays") or 30,
        cors_origins=tuple(origins),
        alarm_email=cfg.get("alarmEmail"),
        allow_self_signup=cfg.get_bool("allowSelfSignup") or False,
        throttle_rate=cfg.get_float("throttleRate") or 50.0,
        throttle_burst=cfg.get_int("throttleBurst") or 100,
        lambda_memory_mb=cfg.get_int("lambdaMemoryMb") or 2048,
        lambda_timeout_s=cfg.get_int("lambdaTimeoutS") or 60,
        noncurrent_days=cfg.get_int("noncurrentDays") or 30,
        staging_days=cfg.get_int("stagingDays") or 1,
        tags=json.loads(cfg.get("tags") or "{}"),
    )
