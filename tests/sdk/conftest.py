"""Fixtures of the SDK tests: a temporary VITALE_HOME, one test authority, a scripted reader on a pty."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdksupport import ScriptedReader, provision
from vitale_host.pins import PinStore
from vitale_tools.authority import Authority
from vitale_tools.sim_world import make_world


@pytest.fixture(autouse=True)
def vitale_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "vitale-home"
    monkeypatch.setenv("VITALE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """A test authority with patients 0, 1, 2; patient 2 is revoked."""
    d = make_world(tmp_path_factory.mktemp("world") / "authority")
    auth = Authority(d)
    meta = json.loads((d / "issued" / "2.json").read_text())
    auth.revoke(int(meta["statusIndex"]))
    auth.write_status_list(int(time.time()) - 60)
    return auth


@pytest.fixture
def device(tmp_path: Path) -> Iterator[ScriptedReader]:
    """An unprovisioned scripted reader."""
    d = ScriptedReader(tmp_path / "device")
    yield d
    d.close()


@pytest.fixture
def provisioned(device: ScriptedReader, world: Authority) -> ScriptedReader:
    """A provisioned reader whose key is pinned on this host."""
    provision(device, world)
    PinStore().pin(device.state.reader_key.public_key(), "sdk-test")
    return device
