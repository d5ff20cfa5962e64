"""Cognito: the user pool, the SDK's app client, and one user per configured user."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .config import UserSpec


@dataclass(frozen=True)
class AuthArgs:
    """Users to create, and whether people may sign themselves up."""

    users: tuple[UserSpec, ...]
    allow_self_signup: bool = False


class Auth(pulumi.ComponentResource):
    """A user pool with a strong password policy, admin-created users, and an SDK client."""

    def __init__(
        self, name: str, args: AuthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pandasdb:index:Auth", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
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
            deletion_protection="ACTIVE",
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
        self.users = [
            aws.cognito.User(
                f"{name}-user-{user.name}",
                user_pool_id=self.pool.id,
                username=user.name,
                attributes={"email": user.email, "email_verified": "true"} if user.email else None,
                desired_delivery_mediums=["EMAIL"] if user.email else None,
                opts=child,
            )
            for user in args.users
        ]
        self.register_outputs({"user_pool_id": self.pool.id, "client_id": self.client.id})
