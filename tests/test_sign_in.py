"""Signing in from pandasdb's SDK and CLI, as the original backend's SDK did: the pool from
``GET /auth/config``, Cognito's ``USER_PASSWORD_AUTH`` over Cognito's JSON API (moto's HTTP
server here), the ID token refreshed before it expires and once on a 401, saved sign-ins
readable by their owner only, and no secret in any output."""

from __future__ import annotations

import logging
import os
import stat
import time

import pandas as pd
import pytest
from cognito_api import PASSWORD, deployed

import pandasdb_core as pdb
from pandasdb_core.cli import main
from pandasdb_core.client import RemoteStore
from pandasdb_core.profiles import CREDENTIALS_FILE, config_dir
from pandasdb_core.sdk_auth import REFRESH_MARGIN, CognitoPool, CognitoSession, NewPasswordRequired


@pytest.fixture
def stage(moto_server, monkeypatch):
    with deployed(moto_server, monkeypatch) as stage:
        yield stage


class Clock:
    """A clock the test moves forward."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_connect_with_user_and_password_reads_the_pool_from_the_api(stage):
    db = pdb.connect(stage.url, user="alice", password=PASSWORD)
    db.upload(pd.DataFrame({"x": [1, 2]}), "signed/in")
    assert db.get("signed/in")["x"].tolist() == [1, 2]
    assert repr(db) == f"<pandasdb RemoteStore {stage.url} as alice>"
    bob = pdb.connect(stage.url, user="bob", password=PASSWORD)
    assert bob.list() == [] and repr(bob).endswith("as bob>")
    with pytest.raises(pdb.Unauthorized, match="Incorrect username or password") as refused:
        pdb.connect(stage.url, user="alice", password="Wrong-pass-1!")
    assert "Wrong-pass-1!" not in str(refused.value)


def test_the_id_token_is_refreshed_before_it_expires(stage):
    clock = Clock()
    session = CognitoSession.sign_in(CognitoPool.of_api(stage.url), "alice", PASSWORD, clock=clock)
    db = RemoteStore(stage.url, auth=session)
    db.list()
    db.list()
    first = stage.authorizer.seen[-1]
    assert stage.authorizer.seen[-2:] == [first, first], "a fresh token is reused"
    clock.now += 3600 - REFRESH_MARGIN + 1  # within the margin of its hour
    db.list()
    assert stage.authorizer.seen[-1] != first
    assert len(stage.authorizer.seen) == 3, "refreshed before sending: no request refused"


def test_a_refused_token_is_refreshed_once(stage):
    db = pdb.connect(stage.url, user="alice", password=PASSWORD)
    db.list()
    stage.authorizer.refused.add(stage.authorizer.seen[-1])  # as if it had expired early
    assert db.list() == []
    assert len(set(stage.authorizer.seen)) == 2 and len(stage.authorizer.seen) == 3


def test_an_expired_token_is_refreshed_once_then_the_error_is_raised(stage):
    db = pdb.connect(stage.url, user="alice", password=PASSWORD)
    db.list()
    stage.authorizer.skew = 2 * 3600  # every token the pool issues has expired
    before = len(stage.authorizer.seen)
    with pytest.raises(pdb.Unauthorized, match="Unauthorized"):
        db.list()
    tried = stage.authorizer.seen[before:]
    assert len(tried) == 2 and tried[0] != tried[1], "one refresh, then the error"


def test_a_token_of_another_app_client_is_refused(stage):
    other = CognitoPool(stage.pool_id, stage.other_client_id, "us-east-1")
    db = RemoteStore(stage.url, auth=CognitoSession.sign_in(other, "alice", PASSWORD))
    with pytest.raises(pdb.Unauthorized, match="another app client"):
        db.list()
    assert len(stage.authorizer.seen) == 2, "refreshed once, refused again"


def test_a_temporary_password_says_what_to_do_and_login_replaces_it(
    stage, tmp_path, monkeypatch, capsys
):
    stage.add_user("carol", "Temp-pass-1!", temporary=True)
    with pytest.raises(NewPasswordRequired) as asked:
        pdb.connect(stage.url, user="carol", password="Temp-pass-1!")
    assert "new password" in str(asked.value) and "pandasdb login" in str(asked.value)
    assert isinstance(asked.value, pdb.Unauthorized)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PANDASDB_PASSWORD", "Temp-pass-1!")
    monkeypatch.setenv("PANDASDB_NEW_PASSWORD", "Chosen-pass-2!")
    assert main(["login", "--api", stage.url, "--user", "carol"]) == 0
    assert "as carol" in capsys.readouterr().out
    assert pdb.connect(stage.url, user="carol", password="Chosen-pass-2!").list() == []


def test_login_saves_profiles_readable_by_their_owner_only(stage, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PANDASDB_PASSWORD", PASSWORD)
    assert main(["login", "--api", stage.url, "--user", "alice", "--profile", "work"]) == 0
    assert main(["login", "--api", stage.url, "--user", "bob"]) == 0
    out = capsys.readouterr().out
    assert "profile 'work' saved" in out and "profile 'default' saved" in out
    path = config_dir() / CREDENTIALS_FILE
    assert path.parent == tmp_path / "config" / "pandasdb"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    monkeypatch.delenv("PANDASDB_PASSWORD")
    work = pdb.connect(profile="work")
    work.upload(pd.DataFrame({"x": [7]}), "from/profile")
    assert repr(work).endswith("as alice>")
    assert pdb.connect().list() == [], "the default profile is bob's"
    assert main(["--profile", "work", "ls", "--json"]) == 0
    assert '"from/profile"' in capsys.readouterr().out
    assert main(["--profile", "work", "vacuum"]) == 2
    assert "works on a store, not over HTTP" in capsys.readouterr().err
    with pytest.raises(pdb.InvalidArgument, match="signs in to"):
        pdb.connect("http://elsewhere", profile="work")
    assert main(["logout", "--profile", "work"]) == 0
    with pytest.raises(pdb.InvalidArgument, match="pandasdb login"):
        pdb.connect(profile="work")


def test_login_refused_by_the_api_saves_nothing(stage, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PANDASDB_PASSWORD", PASSWORD)
    stage.add_user("dave", provisioned=False)  # in the pool, but the stack made no bucket
    assert main(["login", "--api", stage.url, "--user", "dave"]) == 2
    err = capsys.readouterr().err
    assert "refused the signed-in token" in err and "no storage provisioned" in err
    assert not (config_dir() / CREDENTIALS_FILE).exists()


def test_no_token_or_password_is_ever_shown(stage, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PANDASDB_PASSWORD", PASSWORD)
    assert main(["login", "--api", stage.url, "--user", "alice"]) == 0
    session = CognitoSession.sign_in(CognitoPool.of_api(stage.url), "alice", PASSWORD)
    db = RemoteStore(stage.url, auth=session)
    db.list()
    stage.authorizer.skew = 2 * 3600
    with pytest.raises(pdb.Unauthorized) as refused:
        db.list()
    secrets = {PASSWORD, session.refresh_token, *stage.authorizer.seen}
    secrets.add(session.headers()["Authorization"].split()[1])
    shown = [
        capsys.readouterr(),
        caplog.text,
        repr(db),
        repr(session),
        repr(session.pool),
        str(refused.value),
        repr(pdb.connect(profile="default")),
    ]
    for secret in secrets:
        assert not any(secret in str(text) for text in shown)
    saved = (config_dir() / CREDENTIALS_FILE).read_text()
    assert PASSWORD not in saved and os.environ["PANDASDB_PASSWORD"] == PASSWORD


def test_a_server_with_a_users_file_has_nothing_to_sign_in_to(users_server):
    with pytest.raises(pdb.InvalidArgument, match="users file") as refused:
        pdb.connect(users_server.url, user="alice", password="token-alice-1")
    assert "token=" in str(refused.value)
    assert pdb.connect(users_server.url, token="token-alice-1").list() is not None
