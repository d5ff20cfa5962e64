"""pandasdb's Pulumi program: one stack per stage (``pulumi up -s prod``).

Reads (and checks) the stack config, builds the Lambda package, provisions every component.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi

# Pulumi runs this folder as a script; the project root holds infra/ and pandasdb_core/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.config import load_settings  # noqa: E402
from infra.lambda_package import ROOT, build_package  # noqa: E402
from infra.program import LambdaPackage, build  # noqa: E402

settings = load_settings()
package = build_package(ROOT / "build" / "lambda")
pulumi.log.info(f"Lambda package: {package.size_mb:.1f} MB unzipped (limit 250 MB)")
build(settings, LambdaPackage(pulumi.FileArchive(str(package.path)), package.digest))
