"""Build the Lambda package: pandasdb_core + lambdas + their dependencies, as wheels for the
Lambda platform (CPython 3.11, manylinux x86_64), checked against the 250 MB unzipped limit.

Run by hand: ``python -m infra.lambda_package [DEST]`` prints the size. The Pulumi program calls
:func:`build_package` and deploys the folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.11"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
#: the server path runs on polars alone: no pandas, numpy or pyarrow (see DESIGN.md)
REQUIREMENTS = (
    "polars>=1.20",
    "aws-lambda-powertools>=3.0",
    "pydantic>=2.6",
    "requests>=2.31",
    "boto3>=1.35",
    "tqdm>=4.66",
)
SOURCES = ("pandasdb_core", "lambdas")
LIMIT_BYTES = 250 * 1024 * 1024
#: botocore ships every service's model; the functions call only these
BOTOCORE_SERVICES = {"s3", "dynamodb", "sts"}


class PackageTooLarge(RuntimeError):
    """The unzipped package is over Lambda's limit."""


@dataclass(frozen=True)
class PackageReport:
    """Where the package is and how big it is unzipped."""

    path: Path
    size_bytes: int

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1024 / 1024


def folder_size(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _prune(dest: Path) -> None:
    for cache in list(dest.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    data = dest / "botocore" / "data"
    if data.is_dir():
        for service in data.iterdir():
            if service.is_dir() and service.name not in BOTOCORE_SERVICES:
                shutil.rmtree(service)
    shutil.rmtree(dest / "bin", ignore_errors=True)


def build_package(dest: Path | str, *, quiet: bool = True) -> PackageReport:
    """Install the dependencies for the Lambda platform into ``dest``, add the project's
    packages, and check the size.

    Raises
    ------
    PackageTooLarge
        When the unzipped size is over 250 MB (the message gives the size and the biggest
        folders).
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(dest),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-compile",
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    if quiet:
        command.append("--quiet")
    subprocess.run([*command, *REQUIREMENTS], check=True)
    for package in SOURCES:
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    _prune(dest)
    size = folder_size(dest)
    if size > LIMIT_BYTES:
        biggest = sorted(
            ((folder_size(p), p.name) for p in dest.iterdir() if p.is_dir()), reverse=True
        )[:5]
        detail = ", ".join(f"{name} {b / 2**20:.0f} MB" for b, name in biggest)
        raise PackageTooLarge(
            f"the Lambda package is {size / 2**20:.1f} MB unzipped, over the 250 MB limit "
            f"({detail}); keep the server path on polars alone or ship a container image"
        )
    return PackageReport(dest, size)


if __name__ == "__main__":  # pragma: no cover - a manual entry point
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "lambda"
    report = build_package(target, quiet=False)
    print(f"Lambda package: {report.path} ({report.size_mb:.1f} MB unzipped, limit 250 MB)")
