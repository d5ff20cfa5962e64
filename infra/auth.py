"""Cognito: the user pool (with the post-confirmation trigger that gives people who sign
themselves up their bucket), the SDK's app client, and one user per configured user.

Users are retained when removed from config (``retain_on_delete``): a user re-created under
the same name would get a new ``sub``, hence a new, empty bucket, while the old one stayed
behind. A user with an e-mail address gets Cognito's welcome message with a temporary
password; a user without one is created with the message suppressed, since Cognito has no
other way to tell them a password (Cognito API reference, AdminCreateUser,
``DesiredDeliveryMediums`` and ``MessageAction``): an operator sets their temporary password
(``python -m infra.admin set-password``).

E-mail goes through Cognito's default e-mail unless ``pandasdb:sesSourceArn`` names a
verified SES identity (``EmailSendingAccount: DEVELOPER``). The default sends at most 50
e-mails a day for the pool (Cognito developer guide, "Quotas in Amazon Cognito"): welcome
messages and self sign-up codes alike, so a stage that mails more users than that is refused
at config time (:class:`infra.config.StackSettings`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .config import UserSpec


@dataclass(frozen=True)
class AuthArgs:
    """Users to create, whether people may sign themselves up, and the post-confirmation
    trigger function."""

    users: tuple[UserSpec, ...]
    post_confirmation: aws.lambda_.Function
    allow_self_signup: bool = False
    #: a verified SES identity to send e-mail through, and its From address
    ses_source_arn: str | None = None
    email_from: str | None = None


def email_configuration(ses_source_arn: str | None, email_from: str | None) -> dict | None:
    """The pool's e-mail settings: through the SES identity (``DEVELOPER``), or None for
    Cognito's default e-mail (``COGNITO_DEFAULT``, at most 50 a day).

    Example
    -------
    >>> ses = "arn:aws:ses:us-east-1:123456789012:identity/example.com"
    >>> email_configuration(ses, "no-reply@example.com")["email_sending_account"]
    'DEVELOPER'
    >>> email_configuration(None, None) is None
    True
    """
    if ses_source_arn is None:
        return None
    found = {"email_sending_account": "DEVELOPER", "source_arn": ses_source_arn}
    if email_from:
        found["from_email_address"] = email_from
    return found


def user_delivery(user: UserSpec) -> dict[str, object]:
    """How Cognito tells ``user`` their temporary password: by e-mail, or not at all (an
    operator sets it).

    Example
    -------
    >>> user_delivery(UserSpec("bob"))
    {'message_action': 'SUPPRESS'}
    """
    if user.email:
        return {
            "attributes": {"email": user.email, "email_verified": "true"},
            "desired_delivery_mediums": ["EMAIL"],
        }
    return {"message_action": "SUPPRESS"}


class Auth(pulumi.ComponentResource):
    """A user pool with a strong password policy, admin-created users, and an SDK client."""

    def __init__(
        self, name: str, args: AuthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Auth", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        self.pool = aws.cognito.UserPool(
            name,
            password_policy={
                "minimum_length": 12,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "temporary_password_validity_days": 3,
            },
            admin_create_user_config={"allow_admin_create_user_only": not args.allow_self_signup},
            auto_verified_attributes=["email"],
            account_recovery_setting={
                "recovery_mechanisms": [{"name": "verified_email", "priority": 1}]
            },
            lambda_config={"post_confirmation": args.post_confirmation.arn},
            email_configuration=email_configuration(args.ses_source_arn, args.email_from),
            deletion_protection="ACTIVE",
            opts=keep,
        )
        aws.lambda_.Permission(
            f"{name}-post-confirmation",
            action="lambda:InvokeFunction",
            function=args.post_confirmation.name,
            principal="cognito-idp.amazonaws.com",
            source_arn=self.pool.arn,
            opts=child,
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-sdk",
            user_pool_id=self.pool.id,
            explicit_auth_flows=[
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
            generate_secret=False,
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            opts=child,
        )
        self.users = {
            user.name: aws.cognito.User(
                f"{name}-user-{user.name}",
                user_pool_id=self.pool.id,
                username=user.name,
                **user_delivery(user),
                opts=keep,
            )
            for user in args.users
        }
        self.register_outputs({"user_pool_id": self.pool.id, "client_id": self.client.id})
