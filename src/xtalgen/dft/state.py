"""Where DFT work is tracked between commands: the submission ledger, the job store, the LaunchPad.

A state folder outlives every command run on it, so ``submit`` can be repeated without submitting a
candidate twice, and ``status``/``collect`` find the store and LaunchPad the flows were sent to. The
job store defaults to an embedded maggma MontyStore (sqlite) inside the folder; a MongoDB URI from
``dft.store`` or ``XTALGEN_JOBSTORE_URI`` replaces it on clusters. The FireWorks default is the
mongomock file backend, so the embedded config needs no database server.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xtalgen.errors import InputError, UnavailableError, setting
from xtalgen.io import atomic_output

if TYPE_CHECKING:
    from jobflow import JobStore

__all__ = ["JOBSTORE_ENV", "Ledger", "StateConfig", "job_store", "launchpad"]

JOBSTORE_ENV = "XTALGEN_JOBSTORE_URI"
MONGOMOCK_ENV = "MONGOMOCK_SERVERSTORE_FILE"


@dataclass
class StateConfig:
    """How a state folder reaches its job store and LaunchPad; written once, read by every command."""

    backend: str
    store: str | None = None
    launchpad: str | None = None

    @classmethod
    def load(cls, folder: Path) -> StateConfig:
        """The settings the folder's first submission recorded."""
        path = folder / "state.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: run `xtalgen dft submit --state {folder}` first")
        return cls(**json.loads(path.read_text()))

    def save(self, folder: Path) -> None:
        """Keep the first submission's backend: one folder never mixes two job stores."""
        path = folder / "state.json"
        if path.exists():
            old = StateConfig(**json.loads(path.read_text()))
            if (old.backend, old.store, old.launchpad) != (self.backend, self.store, self.launchpad):
                raise InputError(
                    f"{folder} holds work submitted with backend {old.backend!r} "
                    f"(store {old.store!r}, launchpad {old.launchpad!r}); use another "
                    "state folder for other settings, or delete it to start over"
                )
            return
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")


def job_store(folder: Path, uri: str | None = None) -> JobStore:
    """The jobflow store of a state folder: MongoDB at ``uri``, else a MontyStore inside it."""
    from jobflow import JobStore  # noqa: PLC0415

    uri = uri or os.environ.get(JOBSTORE_ENV)
    if uri:
        from maggma.stores import MongoURIStore  # noqa: PLC0415

        return JobStore(
            MongoURIStore(uri, "outputs"),
            additional_stores={"data": MongoURIStore(uri, "outputs_data")},
        )
    from maggma.stores import MontyStore  # noqa: PLC0415

    path = str((folder / "jobstore").resolve())
    return JobStore(
        MontyStore("outputs", database_path=path, storage="sqlite", database_name="xtalgen"),
        additional_stores={
            "data": MontyStore("outputs_data", database_path=path, storage="sqlite", database_name="xtalgen")
        },
    )


def mongomock_file(folder: Path) -> Path:
    """The file FireWorks' mongomock backend keeps the embedded LaunchPad in."""
    return (folder / "launchpad.json").resolve()


def launchpad(folder: Path, launchpad_file: str | None) -> Any:
    """The LaunchPad of ``launchpad_file`` (a real MongoDB), or the embedded mongomock one."""
    if launchpad_file:
        from fireworks import LaunchPad  # noqa: PLC0415

        if not Path(launchpad_file).is_file():
            raise FileNotFoundError(f"{setting('dft.launchpad')}: {launchpad_file} does not exist")
        return LaunchPad.from_file(launchpad_file)
    path = mongomock_file(folder)
    fresh = not path.exists()
    if fresh:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    configured = os.environ.get(MONGOMOCK_ENV)
    if "fireworks.fw_config" in sys.modules and configured != str(path):
        raise UnavailableError(
            f"FireWorks was imported before {MONGOMOCK_ENV} pointed at {path}; "
            "run this command in a fresh process"
        )
    os.environ[MONGOMOCK_ENV] = str(path)
    from fireworks import LaunchPad  # noqa: PLC0415

    pad = LaunchPad(name="xtalgen")
    if fresh:
        pad.reset("", require_password=False)
    # What `rlaunch -l <folder>/my_launchpad.yaml rapidfire` needs, with MONGOMOCK_SERVERSTORE_FILE.
    yaml = folder / "my_launchpad.yaml"
    if not yaml.exists():
        pad.to_file(str(yaml))
    return pad


@dataclass
class Ledger:
    """Every submission of a state folder, keyed on candidate id and maker, saved after each change."""

    folder: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path) -> Ledger:
        """The folder's ledger, empty before the first submission."""
        path = folder / "submissions.json"
        entries = json.loads(path.read_text()) if path.exists() else {}
        return cls(folder, entries)

    def record(self, key: str, **values: Any) -> None:
        """Update one submission and save at once, so a crash loses nothing recorded."""
        self.entries.setdefault(key, {}).update(values)
        with atomic_output(self.folder / "submissions.json") as tmp:
            tmp.write_text(json.dumps(self.entries, indent=1, default=str) + "\n")

    def interrupted(self, key: str) -> bool:
        """A local run left 'running' by a process of this host that no longer exists."""
        entry = self.entries.get(key, {})
        if entry.get("state") != "running" or entry.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(entry.get("pid", 0)), 0)
        except (OSError, ValueError):
            return True
        return False
