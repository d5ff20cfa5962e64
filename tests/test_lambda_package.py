"""The Lambda package builds for the Lambda platform (python3.13 on arm64) from this machine,
fits the limit, and its handlers import with nothing but the package and the standard
library on the path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.lambda_package import (
    HOST,
    LAMBDA,
    LIMIT_BYTES,
    build_package,
    canonical_name,
    read_constraints,
)

#: ELF e_machine of 64-bit ARM
EM_AARCH64 = 183


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_package_is_built_for_the_lambda_runtime(tmp_path):
    """Lambda runtimes page: python3.13 on arm64 runs CPython 3.13 on aarch64 Linux
    (Amazon Linux 2023). Every compiled module and every wheel of the package must be built
    for it; pip's --platform/--python-version fetch them on this x86_64 Python 3.11 machine."""
    report = build_package(tmp_path / "lambda")
    assert 0 < report.size_bytes < LIMIT_BYTES
    assert len(report.digest) == 64
    assert not (report.path / "pandas").exists() and not (report.path / "pyarrow").exists()
    print(f"Lambda package: {report.size_mb:.1f} MB unzipped")
    tags = {
        line.split(":", 1)[1].strip()
        for wheel in report.path.glob("*.dist-info/WHEEL")
        for line in wheel.read_text().splitlines()
        if line.startswith("Tag:")
    }
    assert tags and all(
        tag.endswith("-none-any")
        or (tag.split("-")[1] in ("cp313", "abi3") and "aarch64" in tag.split("-")[2])
        for tag in tags
    ), tags
    extensions = list(report.path.rglob("*.so"))
    assert extensions, "polars and pydantic-core ship compiled modules"
    for extension in extensions:
        assert elf_machine(extension) == EM_AARCH64, extension
        assert "x86_64" not in extension.name and "cpython-311" not in extension.name
    for handler in ("aws.py", "provisioning.py"):
        assert (report.path / "pandasdb_lambdas" / handler).is_file()
    assert LAMBDA.runtime == "python3.13"
    # exactly the pinned versions (infra/lambda-constraints.txt): the same sources build the
    # same package, so its digest, and the functions, change only when something did
    installed = {}
    for metadata in report.path.glob("*.dist-info/METADATA"):
        headers = metadata.read_text().split("\n\n", 1)[0]  # the description follows
        fields = dict(line.split(": ", 1) for line in headers.splitlines() if ": " in line)
        installed[canonical_name(fields["Name"])] = fields["Version"]
    assert installed == read_constraints()


def test_package_handlers_import_from_the_package_alone(tmp_path):
    """The same package built for this machine imports both handlers (the API and the
    sign-up trigger) with only the package and the standard library."""
    report = build_package(tmp_path / "lambda", platform=HOST)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pandasdb_lambdas.aws as a; "
        "import pandasdb_lambdas.provisioning as p; import polars, boto3; "
        "print(callable(a.handler) and callable(p.handler), polars.__version__)"
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
