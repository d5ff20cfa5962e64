"""Saved sign-ins (``pandasdb login``): one profile per API and user, holding a Cognito
refresh token, in ``credentials.json`` of the user's configuration folder, readable by its
owner only.

The folder is ``$XDG_CONFIG_HOME/pandasdb`` (default ``~/.config/pandasdb``), or
``%APPDATA%\\pandasdb`` on Windows. The file is written whole to a new file with mode 0600,
then renamed over the old one, so it is never left half-written nor readable by others.

Example
-------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> saved = Profile("work", "https://api.example/prod", "alice", "us-east-1_abc", "c1", "rt-1")
>>> path = save_profile(saved, folder)
>>> oct(path.stat().st_mode & 0o777), load_profile("work", folder) == saved
('0o600', True)
>>> "rt-1" in repr(saved)  # the refresh token is never shown
False
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidArgument

DEFAULT_PROFILE = "default"
CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Profile:
    """A saved sign-in: which API, which user of which Cognito pool, and a refresh token."""

    name: str
    api_url: str
    user: str
    user_pool_id: str
    client_id: str
    refresh_token: str = field(repr=False)

    @property
    def region(self) -> str:
        """The pool's region (a pool id is ``{region}_{id}``)."""
        return self.user_pool_id.split("_", 1)[0]


def config_dir() -> Path:
    """The user's pandasdb configuration folder (see the module docstring)."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "pandasdb"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "pandasdb"


def _read(folder: Path) -> dict[str, Any]:
    path = folder / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path} cannot be read ({type(exc).__name__}); remove it") from None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return profiles if isinstance(profiles, dict) else {}


def load_profile(name: str = DEFAULT_PROFILE, folder: Path | None = None) -> Profile:
    """The profile ``name``, or :class:`InvalidArgument` saying how to create it."""
    folder = folder or config_dir()
    entry = _read(folder).get(name)
    try:
        return Profile(name=name, **entry)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgument(
            f"no profile {name!r} in {folder / CREDENTIALS_FILE}: run "
            f"'pandasdb login --api URL --user NAME --profile {name}' first"
        ) from None


def save_profile(profile: Profile, folder: Path | None = None) -> Path:
    """Add or replace ``profile``; returns the credentials file (mode 0600)."""
    folder = folder or config_dir()
    profiles = _read(folder)
    entry = asdict(profile)
    del entry["name"]
    profiles[profile.name] = entry
    return _write(folder, profiles)


def remove_profile(name: str, folder: Path | None = None) -> bool:
    """Forget profile ``name``; whether it existed."""
    folder = folder or config_dir()
    profiles = _read(folder)
    if profiles.pop(name, None) is None:
        return False
    _write(folder, profiles)
    return True


def _write(folder: Path, profiles: dict[str, Any]) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / CREDENTIALS_FILE
    fresh = folder / f".{CREDENTIALS_FILE}.{os.getpid()}"
    fresh.unlink(missing_ok=True)  # a leftover of a crash, whatever its mode
    # created 0600 (not chmod-ed later): the refresh token is never readable by others
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"profiles": profiles}, out, indent=2)
    os.replace(fresh, path)
    return path
