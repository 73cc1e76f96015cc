"""Hardware-in-the-loop suite: `pytest -m hil --hil-port PORT [--hil-board NAME] [--hil-phone-port PORT2]`.

The options are registered in tests/conftest.py (pytest only takes command-line
options from the root conftest or plugins; a conftest in a sub-folder is loaded
too late for options given on the command line). Every test here carries the
`hil` marker; without `--hil-port` they are collected and skipped with the
reason below, so a normal `pytest` run lists them as skipped.

State the suite keeps between runs: its test authority (whose trust-list key
the board pins once, for good) lives in `$VITALE_HIL_HOME` (default
`~/.cache/vitale-hil`), so a board provisioned by an earlier run accepts the
next run's lists. The host's pinned reader keys go to a temporary store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

NO_PORT = ("hardware-in-the-loop: no board attached; run `pytest -m hil --hil-port PORT "
           "[--hil-board NAME] [--hil-phone-port PORT2]` with a reader on PORT")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the `hil` tests, with the reason, when no --hil-port was given."""
    if config.getoption("--hil-port"):
        return
    skip = pytest.mark.skip(reason=NO_PORT)
    for item in items:
        if item.get_closest_marker("hil") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def hil_port(request: pytest.FixtureRequest) -> str:
    """The reader's serial port (--hil-port)."""
    port = request.config.getoption("--hil-port")
    if not port:
        pytest.skip(NO_PORT)
    return str(port)


@pytest.fixture(scope="session")
def hil_board(request: pytest.FixtureRequest) -> str:
    """The board id (--hil-board), needed to build and deploy the firmware."""
    name = request.config.getoption("--hil-board")
    if not name:
        pytest.skip("give --hil-board NAME (boards/NAME.json) to deploy the firmware onto the board")
    return str(name)


@pytest.fixture(scope="session")
def phone_port(request: pytest.FixtureRequest) -> str:
    """The serial port of the second PN532 that plays the phone (--hil-phone-port)."""
    port = request.config.getoption("--hil-phone-port")
    if not port:
        pytest.skip("NFC reads need a second PN532 on a USB-UART playing the phone: give --hil-phone-port PORT2")
    return str(port)


@pytest.fixture(scope="session")
def hil_home() -> Path:
    """Where the suite keeps its test authority between runs."""
    home = Path(os.environ.get("VITALE_HIL_HOME", Path.home() / ".cache" / "vitale-hil"))
    home.mkdir(parents=True, exist_ok=True)
    return home


@pytest.fixture(scope="session")
def authority(hil_home: Path) -> object:
    """The suite's test authority (made on the first run) with patient 0 issued."""
    from vitale_tools.authority import Authority
    from vitale_tools.sim_world import make_world

    path = hil_home / "authority"
    if not (path / "authority.json").exists():
        make_world(path, patients=1)
    return Authority(path)


@pytest.fixture(scope="session")
def pins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary host pin store (the suite never touches the user's $VITALE_HOME)."""
    yield tmp_path_factory.mktemp("pins") / "readers.json"
