"""The Lambda package builds for the Lambda platform, fits the limit, and its handler imports
with nothing but the package and the standard library on the path."""

from __future__ import annotations

import subprocess
import sys

from infra.lambda_package import LIMIT_BYTES, build_package


def test_package_builds_fits_and_imports(tmp_path):
    report = build_package(tmp_path / "lambda")
    assert 0 < report.size_bytes < LIMIT_BYTES
    assert not (report.path / "pandas").exists() and not (report.path / "pyarrow").exists()
    print(f"Lambda package: {report.size_mb:.1f} MB unzipped")
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lambdas.aws as a; "
        "import polars, boto3; print(callable(a.handler), polars.__version__)"
    )
    # -S: no site-packages, so only what the package carries can be imported
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(report.path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("True ")
