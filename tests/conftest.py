from __future__ import annotations

import pytest
from moto import mock_aws

import pandasdb_core as pdb
from pandasdb_core.testing.moto_server import SerialMotoServer

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch):
    """No test may reach real AWS: fake credentials, no endpoint overrides, no profile."""
    for key, value in _AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_REGION",
    ):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def aws():
    """moto's in-process AWS for the duration of a test."""
    with mock_aws():
        yield


@pytest.fixture(params=["memory", "local", "aws"])
def db(request, tmp_path):
    """A fresh store on each adapter pair: memory, local files + SQLite, S3 + DynamoDB."""
    if request.param == "memory":
        yield pdb.open("memory://", chunk_rows=1000)
    elif request.param == "local":
        yield pdb.open(tmp_path / "store", chunk_rows=1000)
    else:
        with mock_aws():
            yield pdb.open("s3://test-bucket", table="meta", create=True, chunk_rows=1000)


@pytest.fixture
def local_db(tmp_path) -> pdb.Store:
    return pdb.open(tmp_path / "store", chunk_rows=1000)


@pytest.fixture(scope="session")
def moto_server():
    """A real moto HTTP server on loopback, one request at a time (see
    :mod:`pandasdb_core.testing.moto_server`); yields its endpoint URL."""
    with SerialMotoServer() as url:
        yield url


@pytest.fixture
def server_db(moto_server, monkeypatch, request):
    """A store on S3 + DynamoDB served by moto's HTTP server, reached via AWS_ENDPOINT_URL."""
    import uuid

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    return pdb.open(
        f"s3://{bucket}", table=f"t-{uuid.uuid4().hex[:12]}", create=True, chunk_rows=1000
    )


class ServerProcess:
    """``pandasdb serve`` running as a real process; its logs go to a file."""

    def __init__(self, data, users: dict[str, str] | None, log_path) -> None:
        import json
        import re
        import subprocess
        import sys
        import time

        args = [
            sys.executable,
            "-m",
            "pandasdb_core.cli",
            "serve",
            "--data",
            str(data),
            "--port",
            "0",
        ]
        if users is not None:
            users_file = data.parent / f"{data.name}-users.json"
            users_file.write_text(json.dumps(users))
            args += ["--users", str(users_file)]
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            found = re.search(rb"on (http://[0-9.]+:\d+)", log_path.read_bytes())
            if found:
                self.url = found.group(1).decode()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start: {log_path.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def users_server(tmp_path_factory):
    """A server with a users file: alice and bob, each with their own folder."""
    base = tmp_path_factory.mktemp("served")
    server = ServerProcess(
        base / "data", {"alice": "token-alice-1", "bob": "token-bob-22"}, base / "server.log"
    )
    server.tokens = {"alice": "token-alice-1", "bob": "token-bob-22"}
    yield server
    server.stop()


@pytest.fixture(scope="session")
def open_server(tmp_path_factory):
    """A single-user server without tokens (loopback only)."""
    base = tmp_path_factory.mktemp("open")
    server = ServerProcess(base / "data", None, base / "server.log")
    yield server
    server.stop()


def pytest_addoption(parser):
    parser.addoption(
        "--soak",
        action="store_true",
        help="run the long soak and crash loops (8 x 50 uploads, 200 kills)",
    )


@pytest.fixture
def soak(request) -> bool:
    return bool(request.config.getoption("--soak"))
