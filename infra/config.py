"""The stack's settings, read from Pulumi config with documented defaults, checked against the
AWS limits they meet, so a bad value fails at ``pulumi up`` time with an error naming its key.

Example
-------
>>> StackSettings(users=(UserSpec("alice"),)).log_retention_days
30
>>> StackSettings(users=(), log_retention_days=10)
Traceback (most recent call last):
...
ValueError: pandasdb:logRetentionDays: 10 is not a retention CloudWatch Logs accepts; ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from pandasdb_core.adapters.aws_access import check_bucket_prefix

_USER = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
#: the only values PutRetentionPolicy accepts (CloudWatch Logs API reference,
#: PutRetentionPolicy, ``retentionInDays``)
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
#: API Gateway ends a REST integration after 29 s unless a quota increase is granted (API
#: Gateway quotas, "Integration timeout")
INTEGRATION_TIMEOUT_S = 29
#: what the function keeps, inside its own timeout, to serialise and return its answer
RESPONSE_MARGIN_S = 3
#: e-mails a user pool sends per day with Cognito's default e-mail (``COGNITO_DEFAULT``):
#: invitations (AdminCreateUser) and sign-up codes alike; past it Cognito refuses to send
#: (Cognito developer guide, "Quotas in Amazon Cognito" and "Email settings for Amazon
#: Cognito user pools")
COGNITO_DEFAULT_DAILY_EMAILS = 50
#: a verified SES identity, as ``pandasdb:sesSourceArn`` names it
_SES_IDENTITY = re.compile(r"arn:aws[a-z-]*:ses:[a-z0-9-]+:\d{12}:identity/(?P<identity>.+)")
#: Lambda function names: 1-64 of [a-zA-Z0-9-_] (Lambda API reference, CreateFunction,
#: ``FunctionName``: "If you specify only the function name, it is limited to 64
#: characters"); API Gateway stage names: [a-zA-Z0-9-_], at most 128 (API Gateway API
#: reference, ``Stage.stageName``)
_STAGE = re.compile(r"[A-Za-z0-9_-]+")
FUNCTION_NAME_MAX = 64
#: the longest name before the stage's in the functions' names (``{component}-{stage}``)
FUNCTION_NAME_PREFIXES = ("pandasdb-api-", "pandasdb-provisioning-")
#: tags per AWS resource, and their key and value lengths (Tagging AWS resources, "Tag
#: naming limits and requirements")
TAGS_MAX, TAG_KEY_MAX, TAG_VALUE_MAX = 50, 128, 256
#: what Lambda takes of a function's environment variables, all together (Lambda quotas,
#: "Environment variables": 4 KB)
LAMBDA_ENVIRONMENT_MAX = 4096
#: the setting each of the functions' larger variables comes from, for the error of an
#: environment over the limit
_SETTING_OF = {
    "PANDASDB_BUCKET_TAGS": "pandasdb:tags (fewer or shorter tags)",
    "PANDASDB_CORS_ORIGINS": "pandasdb:corsOrigins",
}


@dataclass(frozen=True)
class UserSpec:
    """One configured user: a Cognito user name and, optionally, an e-mail address. Users
    without one get no welcome message; an operator sets their temporary password
    (``python -m infra.admin set-password``)."""

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
    lambda_timeout_s: int = INTEGRATION_TIMEOUT_S - 1
    noncurrent_days: int = 30
    staging_days: int = 1
    bucket_prefix: str | None = None
    manage_account_logging: bool = False
    #: a Glue database to register frames in as Athena tables (:mod:`infra.catalog`)
    glue_database: bool = False
    #: each commit through the API rewrites the frame's symlink manifests
    #: (``PANDASDB_MANIFESTS``; ``POST /dataframes/{name}/manifest`` writes them on demand)
    manifests: bool = False
    #: tags every taggable resource of the stage carries (:func:`infra.program.build`)
    tags: dict[str, str] = field(default_factory=dict)
    #: a verified Amazon SES identity Cognito sends its e-mail through (``DEVELOPER``), and
    #: the From address; without one, Cognito's default e-mail sends at most
    #: :data:`COGNITO_DEFAULT_DAILY_EMAILS` a day
    ses_source_arn: str | None = None
    email_from: str | None = None

    def __post_init__(self) -> None:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"pandasdb:logRetentionDays: {self.log_retention_days} is not a retention "
                f"CloudWatch Logs accepts; use one of {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        if not RESPONSE_MARGIN_S < self.lambda_timeout_s < INTEGRATION_TIMEOUT_S:
            raise ValueError(
                f"pandasdb:lambdaTimeoutS: {self.lambda_timeout_s} must be between "
                f"{RESPONSE_MARGIN_S + 1} and {INTEGRATION_TIMEOUT_S - 1}: API Gateway answers "
                f"504 after {INTEGRATION_TIMEOUT_S} s, and an upload still running then may "
                "commit after the client gave up"
            )
        if not 128 <= self.lambda_memory_mb <= 10240:
            raise ValueError(
                f"pandasdb:lambdaMemoryMb: {self.lambda_memory_mb} must be 128-10240 (Lambda)"
            )
        for key, days in (
            ("noncurrentDays", self.noncurrent_days),
            ("stagingDays", self.staging_days),
        ):
            if days < 1:
                raise ValueError(f"pandasdb:{key}: {days} must be at least 1 (S3 lifecycle)")
        if self.bucket_prefix is not None:
            check_bucket_prefix(self.bucket_prefix, "pandasdb:bucketPrefix")
        self._check_email()
        check_tags(self.tags)

    def _check_email(self) -> None:
        if self.ses_source_arn is not None:
            found = _SES_IDENTITY.fullmatch(self.ses_source_arn)
            if not found:
                raise ValueError(
                    f"pandasdb:sesSourceArn: {self.ses_source_arn!r} is not the ARN of an SES "
                    "identity (arn:aws:ses:REGION:ACCOUNT:identity/example.com)"
                )
            if "@" not in found["identity"] and not self.email_from:
                raise ValueError(
                    "pandasdb:emailFrom: a domain identity in pandasdb:sesSourceArn needs a "
                    "From address of that domain (e.g. no-reply@example.com)"
                )
        elif self.email_from:
            raise ValueError(
                "pandasdb:emailFrom needs pandasdb:sesSourceArn: Cognito's default e-mail sends "
                "from no-reply@verificationemail.com only"
            )
        mailed = sum(1 for u in self.users if u.email)
        if self.ses_source_arn is None and mailed > COGNITO_DEFAULT_DAILY_EMAILS:
            raise ValueError(
                f"pandasdb:sesSourceArn: {mailed} configured users have an e-mail address, and "
                f"Cognito's default e-mail sends at most {COGNITO_DEFAULT_DAILY_EMAILS} a day: "
                "invitations past that are refused and `pulumi up` fails. Set "
                "pandasdb:sesSourceArn to a verified SES identity (and pandasdb:emailFrom), or "
                f"add at most {COGNITO_DEFAULT_DAILY_EMAILS} users with e-mail a day"
            )

    @property
    def time_budget_s(self) -> int:
        """Seconds a request may run, commit retries included (``PANDASDB_TIME_BUDGET_S``).

        Example
        -------
        >>> StackSettings(users=()).time_budget_s
        25
        """
        return self.lambda_timeout_s - RESPONSE_MARGIN_S


def check_tags(tags: object) -> dict[str, str]:
    """``pandasdb:tags``: at most 50 tags of string keys (1-128 characters, not beginning with
    ``aws:``) and string values (at most 256).

    Example
    -------
    >>> check_tags({"team": "data"})
    {'team': 'data'}
    >>> check_tags({"aws:x": "1"})
    Traceback (most recent call last):
    ...
    ValueError: pandasdb:tags: 'aws:x' ...
    """
    if not isinstance(tags, dict) or len(tags) > TAGS_MAX:
        raise ValueError(f"pandasdb:tags must be an object of at most {TAGS_MAX} tags")
    for key, value in tags.items():
        if not (
            isinstance(key, str)
            and 1 <= len(key) <= TAG_KEY_MAX
            and not key.lower().startswith("aws:")
            and isinstance(value, str)
            and len(value) <= TAG_VALUE_MAX
        ):
            raise ValueError(
                f"pandasdb:tags: {key!r} must be a key of 1-{TAG_KEY_MAX} characters not "
                f"beginning with 'aws:', with a string value of at most {TAG_VALUE_MAX}"
            )
    return tags


def check_environment(variables: Mapping[str, str], function: str) -> dict[str, str]:
    """A function's environment ``variables`` if they fit in what Lambda takes, else a
    ValueError naming the largest of them. Lambda takes at most 4 KB of variables in all
    (Lambda quotas, "Environment variables"); counted here as their JSON, as the Lambda API
    is sent them (a few bytes of quotes more than their text: on the safe side).

    Example
    -------
    >>> check_environment({"A": "1"}, "the trigger")
    {'A': '1'}
    >>> check_environment({"PANDASDB_BUCKET_TAGS": "x" * 5000}, "the trigger")
    Traceback (most recent call last):
    ...
    ValueError: the trigger's environment is 5,027 bytes, over Lambda's 4,096 ...
    """
    size = len(json.dumps(dict(variables), separators=(",", ":")).encode())
    if size > LAMBDA_ENVIRONMENT_MAX:
        largest = max(variables, key=lambda k: len(variables[k].encode()))
        setting = _SETTING_OF.get(largest, "the stack's settings")
        raise ValueError(
            f"{function}'s environment is {size:,} bytes, over Lambda's {LAMBDA_ENVIRONMENT_MAX:,} "
            f"for all its variables; the largest, {largest} ({len(variables[largest]):,} "
            f"characters), comes from {setting}: make it shorter"
        )
    return dict(variables)


def check_stage_name(stage: str) -> str:
    """The stack's name, which names the stage and its functions: only [A-Za-z0-9_-], short
    enough for the longest function name to fit Lambda's 64 characters.

    Example
    -------
    >>> check_stage_name("prod-eu_1")
    'prod-eu_1'
    >>> check_stage_name("prod.eu")
    Traceback (most recent call last):
    ...
    ValueError: stack name 'prod.eu': ...
    """
    longest = FUNCTION_NAME_MAX - max(len(p) for p in FUNCTION_NAME_PREFIXES)
    if not _STAGE.fullmatch(stage) or len(stage) > longest:
        raise ValueError(
            f"stack name {stage!r}: it names the API Gateway stage and the Lambda functions "
            f"(pandasdb-provisioning-{stage}), so it must be 1-{longest} of A-Z, a-z, 0-9, "
            "'-' and '_' (no '.'); create the stack under another name (pulumi stack init)"
        )
    return stage


def bucket_prefix(settings: StackSettings, stage: str, account_id: str) -> str:
    """The stage's bucket prefix: ``pandasdb:bucketPrefix``, else ``pdb-{stage}-{account}``
    (S3 bucket names are global: the account id keeps two accounts' stages apart).

    Example
    -------
    >>> bucket_prefix(StackSettings(users=()), "prod", "123456789012")
    'pdb-prod-123456789012'
    """
    if settings.bucket_prefix:
        return settings.bucket_prefix
    return check_bucket_prefix(
        f"pdb-{stage.lower()}-{account_id}",
        "pandasdb:bucketPrefix (its default pdb-<stack>-<account id> does not fit; set one)",
    )


def parse_users(raw: object) -> tuple[UserSpec, ...]:
    """``["alice", {"name": "bob", "email": "b@x"}]`` -> UserSpecs, checked. An empty list
    suits a stage whose users all sign themselves up.

    Example
    -------
    >>> parse_users(["alice", {"name": "bob", "email": "bob@example.com"}])[1].email
    'bob@example.com'
    """
    if not isinstance(raw, list):
        raise ValueError("pandasdb:users must be a list of user names or {name, email} objects")
    users = []
    for entry in raw:
        spec = UserSpec(entry) if isinstance(entry, str) else UserSpec(**entry)
        if not _USER.fullmatch(spec.name):
            raise ValueError(
                f"pandasdb:users: {spec.name!r} must be 1-31 of [a-z0-9-], beginning with a "
                "letter or digit"
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
        users=parse_users(cfg.get_object("users") or []),
        chunk_rows=cfg.get_int("chunkRows") or 250_000,
        log_retention_days=cfg.get_int("logRetentionDays") or 30,
        cors_origins=tuple(origins),
        alarm_email=cfg.get("alarmEmail"),
        allow_self_signup=cfg.get_bool("allowSelfSignup") or False,
        throttle_rate=cfg.get_float("throttleRate") or 50.0,
        throttle_burst=cfg.get_int("throttleBurst") or 100,
        lambda_memory_mb=cfg.get_int("lambdaMemoryMb") or 2048,
        lambda_timeout_s=cfg.get_int("lambdaTimeoutS") or INTEGRATION_TIMEOUT_S - 1,
        noncurrent_days=cfg.get_int("noncurrentDays") or 30,
        staging_days=cfg.get_int("stagingDays") or 1,
        bucket_prefix=cfg.get("bucketPrefix"),
        manage_account_logging=cfg.get_bool("manageAccountLogging") or False,
        glue_database=cfg.get_bool("glueDatabase") or False,
        manifests=cfg.get_bool("manifests") or False,
        tags=cfg.get_object("tags") or {},
        ses_source_arn=cfg.get("sesSourceArn"),
        email_from=cfg.get("emailFrom"),
    )
