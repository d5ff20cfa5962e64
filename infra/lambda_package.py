"""Build the Lambda package: pandasdb_core + pandasdb_lambdas + their dependencies, as wheels
for the Lambda platform, checked against the 250 MB unzipped limit.

The platform is Lambda's ``python3.13`` runtime on ``arm64`` (Graviton: about 20% cheaper per
GB-second than x86_64; polars, pydantic-core and every other compiled dependency publish
manylinux aarch64 wheels). pip's ``--platform``/``--python-version`` fetch those wheels on any
machine, so the package builds from this project's Python 3.11. python3.10 and python3.11
are deprecated on Lambda (their Amazon Linux 2 base ends; Lambda runtimes page), python3.13
runs on Amazon Linux 2023 (glibc 2.34, so manylinux_2_28 wheels load).

Run by hand: ``python -m infra.lambda_package [DEST]`` prints the size. The Pulumi program calls
:func:`build_package` and uploads the folder, zipped, to the stage's artifact bucket: the
package zips to more than the 50 MB a direct upload allows (Lambda quotas).

Reproducible: pip installs exactly the versions pinned in ``infra/lambda-constraints.txt``
(what pip resolved for :data:`REQUIREMENTS` on the Lambda platform), so the same sources
build the same package, with the same digest, and ``pulumi up`` updates the functions only
when something changed. ``python -m infra.lambda_package --lock`` resolves
:data:`REQUIREMENTS` afresh and rewrites the file (commit it: that is how a dependency is
upgraded).

No bytecode: ``.pyc`` files are specific to the Python version that compiles them (their
magic number), and this builder runs Python 3.11, not the runtime's 3.13. Lambda's package
folder is read-only, so the functions compile what they import at each cold start.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Platform:
    """A Python version and the wheel platform tags pip may pick for it (both manylinux tags:
    with only the newer one pip falls back to old source-less versions)."""

    python_version: str
    platforms: tuple[str, ...]
    #: Lambda's name for the architecture
    architecture: str

    @property
    def runtime(self) -> str:
        """Lambda's runtime identifier.

        Example
        -------
        >>> LAMBDA.runtime, LAMBDA.architecture
        ('python3.13', 'arm64')
        """
        return f"python{self.python_version}"


#: what the functions run on
LAMBDA = Platform("3.13", ("manylinux_2_28_aarch64", "manylinux2014_aarch64"), "arm64")
#: this machine's platform: a package built for it can be imported here (tests)
HOST = Platform(
    f"{sys.version_info.major}.{sys.version_info.minor}",
    ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "x86_64",
)
#: the server path runs on polars alone: no pandas, numpy or pyarrow (see DESIGN.md)
REQUIREMENTS = (
    "polars>=1.33",
    "aws-lambda-powertools>=3.0",
    "pydantic>=2.6",
    "requests>=2.31",
    # IfNoneMatch on PutObject (the store's conditional writes) came with the S3 API update
    # of 2024-08-20: boto3 and botocore 1.35.2 (boto3 changelog)
    "boto3>=1.35.2",
    "botocore>=1.35.2",
    "tqdm>=4.66",
    "isal>=1.6",
)
#: the exact versions the package is built with (``--lock`` writes it)
CONSTRAINTS = ROOT / "infra" / "lambda-constraints.txt"
#: the packages of this repository the functions import, and where each lives in it
SOURCES = {"pandasdb_core": "pandasdb_core", "pandasdb_lambdas": "lambdas/pandasdb_lambdas"}
LIMIT_BYTES = 250 * 1024 * 1024
#: botocore ships every service's model; the functions call only these
BOTOCORE_SERVICES = {"s3", "dynamodb", "sts"}


class PackageTooLarge(RuntimeError):
    """The unzipped package is over Lambda's limit."""


@dataclass(frozen=True)
class PackageReport:
    """Where the package is, how big it is unzipped, and a digest of its content (it names
    the uploaded object, so a new package makes a new object and the function updates)."""

    path: Path
    size_bytes: int
    digest: str

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1024 / 1024


def folder_size(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def folder_digest(path: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in path order.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "a.py").write_text("x = 1")
    ...     len(folder_digest(Path(d)))
    64
    """
    digest = hashlib.sha256()
    for file in sorted(f for f in path.rglob("*") if f.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _prune(dest: Path) -> None:
    for cache in list(dest.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    data = dest / "botocore" / "data"
    if data.is_dir():
        for service in data.iterdir():
            if service.is_dir() and service.name not in BOTOCORE_SERVICES:
                shutil.rmtree(service)
    shutil.rmtree(dest / "bin", ignore_errors=True)


def _pip_install(dest: Path, platform: Platform, quiet: bool) -> list[str]:
    """pip's command that installs wheels for ``platform`` into ``dest`` (without the
    requirements)."""
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
        platform.python_version,
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-compile",
    ]
    for tag in platform.platforms:
        command += ["--platform", tag]
    if quiet:
        command.append("--quiet")
    return command


def canonical_name(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503).

    Example
    -------
    >>> canonical_name("Typing_Extensions"), canonical_name("aws.lambda-powertools")
    ('typing-extensions', 'aws-lambda-powertools')
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def read_constraints(path: Path = CONSTRAINTS) -> dict[str, str]:
    """The pins of a constraints file: canonical name -> version.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "c.txt").write_text("# pins\\nPolars==2.1.0\\n")
    ...     read_constraints(Path(d) / "c.txt")
    {'polars': '2.1.0'}
    """
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical_name(name)] = version.strip()
    return pins


def lock(path: Path = CONSTRAINTS, *, platform: Platform = LAMBDA) -> dict[str, str]:
    """Resolve :data:`REQUIREMENTS` for ``platform`` with pip (nothing is installed) and
    write every resolved distribution, pinned, to ``path``; returns the pins."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = _pip_install(Path(scratch) / "target", platform, quiet=True)
        command[4:4] = ["--dry-run", "--ignore-installed", "--report", str(report)]
        subprocess.run([*command, *REQUIREMENTS], check=True)
        resolved = json.loads(report.read_text())["install"]
    pins = {
        canonical_name(item["metadata"]["name"]): item["metadata"]["version"] for item in resolved
    }
    lines = [
        f"# What pip resolved for infra/lambda_package.py's REQUIREMENTS on {platform.runtime} "
        f"({platform.architecture}).",
        "# The Lambda package is built with exactly these versions; regenerate with",
        "# `python -m infra.lambda_package --lock` and commit the result.",
        *(f"{name}=={version}" for name, version in sorted(pins.items())),
    ]
    path.write_text("\n".join(lines) + "\n")
    return pins


def build_package(
    dest: Path | str, *, platform: Platform = LAMBDA, quiet: bool = True
) -> PackageReport:
    """Install the dependencies for ``platform`` into ``dest``, add the project's packages,
    and check the size.

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
    command = _pip_install(dest, platform, quiet)
    if CONSTRAINTS.is_file():
        command += ["--constraint", str(CONSTRAINTS)]
    subprocess.run([*command, *REQUIREMENTS], check=True)
    for package, folder in SOURCES.items():
        shutil.copytree(
            ROOT / folder, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
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
    return PackageReport(dest, size, folder_digest(dest))


if __name__ == "__main__":  # pragma: no cover - a manual entry point
    if sys.argv[1:] == ["--lock"]:
        locked = lock()
        print(f"{CONSTRAINTS}: {len(locked)} distributions pinned")
        raise SystemExit(0)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "lambda"
    report = build_package(target, quiet=False)
    print(f"Lambda package: {report.path} ({report.size_mb:.1f} MB unzipped, limit 250 MB)")
