"""Operator commands for a deployed stage.

``python -m infra.admin set-password --user-pool-id POOL USER`` gives USER a new temporary
password and prints it once: for a user configured without an e-mail address (Cognito sends
them no welcome message, so they have no password at all), or one who lost theirs. They sign
in with it and choose their own (Cognito answers ``NEW_PASSWORD_REQUIRED``). The AWS CLI
equivalent, with a password of your choosing::

    aws cognito-idp admin-set-user-password --user-pool-id POOL --username USER \\
        --password 'Temp-Pass-1234' --no-permanent

``POOL`` is ``pulumi stack output user_pool_id``; AWS credentials and region come from the
usual AWS configuration.
"""

from __future__ import annotations

import argparse
import secrets
import string
from typing import Any

#: a subset of the symbols Cognito accepts, chosen to need no shell quoting care
SYMBOLS = "!#%*+-=?@^_"
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, SYMBOLS)


def temporary_password(length: int = 16) -> str:
    """A random password meeting the pool's policy (12+ characters, lower and upper case
    letters, digits and symbols).

    Example
    -------
    >>> password = temporary_password()
    >>> len(password), all(any(c in cls for c in password) for cls in CLASSES)
    (16, True)
    """
    if length < 12:
        raise ValueError(f"length: {length} is below the pool's minimum of 12")
    chosen = [secrets.choice(cls) for cls in CLASSES]
    alphabet = "".join(CLASSES)
    chosen += [secrets.choice(alphabet) for _ in range(length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


def set_temporary_password(idp: Any, pool_id: str, username: str) -> str:
    """Give ``username`` a new temporary password (they must change it at first sign-in);
    return it."""
    password = temporary_password()
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=False
    )
    return password


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    set_password = commands.add_parser(
        "set-password", help="give a user a new temporary password and print it"
    )
    set_password.add_argument("--user-pool-id", required=True)
    set_password.add_argument("username")
    args = parser.parse_args(argv)
    import boto3

    password = set_temporary_password(boto3.client("cognito-idp"), args.user_pool_id, args.username)
    print(f"temporary password for {args.username}: {password}")
    print("they sign in with it and choose their own; it expires after 3 days")
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line entry point
    raise SystemExit(main())
