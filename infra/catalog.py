"""An optional Glue database (``pandasdb:glueDatabase: true``) where a stage's frames can be
registered as Athena tables over their symlink manifests.

pandasdb writes, beside each frame's data, ``{name}/_symlink_format_manifest/{column}/manifest``
(:mod:`pandasdb_core.manifest`): the committed chunk files of the latest version, one URI a
line. A table whose location is that folder and whose input format is
``SymlinkTextInputFormat`` reads exactly one version, where a table over the frame's folder
would read superseded and uncommitted files too. ``pandasdb manifest NAME --ddl DB.TABLE``
prints the ``CREATE EXTERNAL TABLE`` statement to run in Athena (see the README).

Example
-------
>>> glue_database_name("prod-eu")
'pandasdb_prod_eu'
"""

from __future__ import annotations

import re

import pulumi
import pulumi_aws as aws


def glue_database_name(stage: str) -> str:
    """The stage's Glue database: Athena names are lowercase letters, digits and ``_``."""
    return "pandasdb_" + re.sub(r"[^a-z0-9_]", "_", stage.lower())


class Catalog(pulumi.ComponentResource):
    """One Glue database for the stage's frames."""

    def __init__(self, name: str, stage: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pandasdb:index:Catalog", name, None, opts)
        self.database = aws.glue.CatalogDatabase(
            name,
            name=glue_database_name(stage),
            description=(
                "pandasdb frames as Athena tables over their symlink manifests "
                "(pandasdb manifest NAME --ddl DB.TABLE)"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.database.name})
