"""Provisioning the virtual reader through its host link, as practice software would (docs/host-protocol.md).

`provision(request, world)` runs, in order: `hello`, `provision.pin` (the
authority's trust-list key), `provision.trust_list`, `provision.status_list`,
`time.set`, `reader.csr` -> `Authority.issue_reader_cert` ->
`provision.reader_cert`, `reader.public_key`; then pins the reader's key on
this computer (`vitale_host.pins.PinStore`, under `$VITALE_HOME`).

`request(cmd, args, timeout)` is either `vitale_host.connection.Connection.request`
over the pty or `HostLink.request` (the emulator's own channel on the same link).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from typing import Any

from vitale_host.errors import ReaderError
from vitale_host.pins import PinStore

from .world import World

__all__ = ["provision", "upload_list", "set_time", "Request", "CHUNK"]

Request = Callable[[str, "dict[str, Any] | None", float], Any]
CHUNK = 48 * 1024  # list bytes per line (base64 grows it by 4/3: under the 64 KiB line limit)


def upload_list(request: Request, cmd: str, data: bytes, timeout: float = 20.0) -> dict[str, Any]:
    """Send a trust or status list (`cmd` = provision.trust_list / provision.status_list), chunked when large."""
    if len(data) <= CHUNK:
        res: dict[str, Any] = request(cmd, {"data": base64.b64encode(data).decode()}, timeout)
        return res
    total = len(data)
    for off in range(0, total, CHUNK):
        piece = base64.b64encode(data[off: off + CHUNK]).decode()
        res = request(cmd, {"data": piece, "offset": off, "total": total}, timeout)
    return res


def set_time(request: Request, unix: int | None = None) -> int:
    """Set the reader clock (host time by default); returns the reader's `now`."""
    res = request("time.set", {"unix": int(time.time()) if unix is None else int(unix)}, 5.0)
    return int(res["now"])


def provision(request: Request, world: World, *, pins: PinStore | None = None, clock: bool = True,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Provision the reader; returns {"kid", "public_key", "board", "reader_cert_subject", "steps"}.

    Raises ReaderError with the reader's code when a step is refused. A reader
    already pinned to this authority's key is accepted; one pinned to another key is refused (`already_pinned`).
    """
    steps: list[str] = []

    def step(name: str) -> None:
        steps.append(name)
        if log is not None:
            log("provision: " + name)

    hello = request("hello", {"nonce": os.urandom(16).hex()}, 10.0)
    step("hello (board %s, firmware %s)" % (hello.get("board"), hello.get("firmware")))
    key = world.trust_key_sec1()
    res = request("provision.pin", {"key": key.hex()}, 5.0)  # another key pinned: already_pinned, raised
    step("trust-list key already pinned" if res.get("already") else "pinned the trust-list key")
    res = upload_list(request, "provision.trust_list", world.trust_list())
    step("trust list seq %s" % res.get("seq"))
    try:
        res = upload_list(request, "provision.status_list", world.status_list())
        step("status list seq %s" % res.get("seq"))
    except ReaderError as e:
        if e.code != "rollback":  # the reader already has this list (a restart on the same flash)
            raise
        step("status list already installed")
    if clock:
        step("clock set to %d" % set_time(request))
    csr = request("reader.csr", {"cn": "Vitale Virtual Reader"}, 30.0)["csr"]
    cert = world.issue_reader_cert(bytes.fromhex(csr))
    res = request("provision.reader_cert", {"cert": cert.hex()}, 30.0)
    step("reader certificate installed (%s)" % res.get("subject"))
    pk = request("reader.public_key", {}, 10.0)
    public_key = bytes.fromhex(pk["public_key"])
    store = pins if pins is not None else PinStore()
    kid = store.pin(public_key, str(hello.get("board", "")))
    step("reader key %s pinned in %s" % (kid, store.path))
    return {"kid": kid, "public_key": public_key.hex(), "board": hello.get("board"),
            "reader_cert_subject": res.get("subject"), "steps": steps}
