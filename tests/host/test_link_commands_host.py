"""Provisioning over the link with real signed lists from the test authority: install, rollback, bad signatures."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from vitale.hal.board import Board, Clock
from vitale.link.commands import ReaderState, register
from vitale.link.protocol import Dispatcher
from vitale.store import Store
from vitale_tools.authority import Authority

NOW = 1750000000


class Reader:
    """A dispatcher with the commands over a store in a folder (the status list is read from files)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = ReaderState(Board("host-test", Clock(lambda: 0, lambda a, b: a - b)), Store(str(root)))
        self.d = Dispatcher()
        register(self.d, self.state)
        self.next_id = 0

    def req(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        line = json.dumps({"id": self.next_id, "cmd": cmd, "args": args}).encode()
        out = self.d.handle_line(line)
        assert out is not None and out.endswith(b"\n")
        reply: dict[str, Any] = json.loads(out)
        assert reply["id"] == self.next_id
        return reply

    def ok(self, cmd: str, **args: Any) -> Any:
        r = self.req(cmd, **args)
        assert r["ok"] is True, r
        return r["result"]

    def err(self, cmd: str, **args: Any) -> str:
        r = self.req(cmd, **args)
        assert r["ok"] is False, r
        code: str = r["error"]["code"]
        return code


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pinned(auth: Authority) -> str:
    return str(auth.keys["trust-list"].public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint).hex())


def _authority(tmp_path: Path, name: str = "a") -> Authority:
    return Authority.init(tmp_path / name, NOW)


def _provisioned(auth: Authority) -> Reader:
    r = Reader(auth.path.parent / ("store-" + auth.path.name))
    r.ok("time.set", unix=NOW + 100)
    r.ok("provision.pin", key=_pinned(auth))
    res = r.ok("provision.trust_list", data=_b64((auth.path / "trust-list.cose").read_bytes()))
    assert res == {"complete": True, "seq": 1, "issued_at": NOW}
    return r


def test_provision_both_lists_and_info(tmp_path: Path) -> None:
    auth = _authority(tmp_path)
    r = _provisioned(auth)
    info = r.ok("info")
    assert info["trust_list"] == {"seq": 1, "issued_at": NOW, "age_s": 100}
    assert info["status_list"] is None
    res = r.ok("provision.status_list", data=_b64((auth.path / "status-list.cose").read_bytes()))
    assert res["complete"] is True and res["seq"] == 1 and res["next_update"] == NOW + 86400
    info = r.ok("info")
    assert info["status_list"] == {"seq": 1, "issued_at": NOW, "next_update": NOW + 86400, "age_s": 100}
    # after a reboot both lists are read back from the store
    again = Reader(r.root)
    info = again.ok("info")
    assert info["trust_list"]["seq"] == 1 and info["status_list"]["seq"] == 1 and info["pinned"] is True
    assert again.state.trust is not None and again.state.trust.status is not None
    assert again.state.trust.status.is_revoked(0) is False


def test_trust_list_rollback_and_replay(tmp_path: Path) -> None:
    auth = _authority(tmp_path)
    r = _provisioned(auth)
    old = (auth.path / "trust-list.cose").read_bytes()
    newer = auth.write_trust_list(NOW + 50)
    assert r.ok("provision.trust_list", data=_b64(newer))["seq"] == 2
    assert r.err("provision.trust_list", data=_b64(old)) == "rollback"
    # same sequence number, different content
    assert r.err("provision.trust_list", data=_b64(auth.trust_list_bytes(NOW + 60, 2))) == "rollback"
    assert r.ok("provision.trust_list", data=_b64(newer))["seq"] == 2  # the same list again is fine
    assert r.ok("info")["trust_list"]["seq"] == 2
    assert Reader(r.root).ok("info")["trust_list"]["seq"] == 2


def test_trust_list_bad_signature_and_wrong_key(tmp_path: Path) -> None:
    auth = _authority(tmp_path)
    other = _authority(tmp_path, "other")
    r = Reader(tmp_path / "store")
    r.ok("provision.pin", key=_pinned(auth))
    good = (auth.path / "trust-list.cose").read_bytes()
    tampered = good[:-1] + bytes([good[-1] ^ 1])  # last byte of the signature
    assert r.err("provision.trust_list", data=_b64(tampered)) == "bad_list_signature"
    foreign = (other.path / "trust-list.cose").read_bytes()
    assert r.err("provision.trust_list", data=_b64(foreign)) == "bad_list_signature"
    assert r.err("provision.trust_list", data=_b64(b"\xa0")) == "malformed"
    assert r.ok("info")["trust_list"] is None
    assert r.err("provision.status_list", data=_b64((auth.path / "status-list.cose").read_bytes())) \
        == "no_trust_list"
    assert r.err("provision.pin", key=_pinned(other)) == "already_pinned"


def test_status_list_rollback_and_wrong_signer(tmp_path: Path) -> None:
    auth = _authority(tmp_path)
    other = _authority(tmp_path, "other")
    r = _provisioned(auth)
    first = (auth.path / "status-list.cose").read_bytes()
    second = auth.write_status_list(NOW + 10)
    assert r.ok("provision.status_list", data=_b64(second))["seq"] == 2
    assert r.err("provision.status_list", data=_b64(first)) == "rollback"
    assert r.err("provision.status_list", data=_b64((other.path / "status-list.cose").read_bytes())) \
        == "bad_list_signature"
    tampered = second[:-1] + bytes([second[-1] ^ 1])
    assert r.err("provision.status_list", data=_b64(tampered)) == "bad_list_signature"
    assert r.ok("info")["status_list"]["seq"] == 2


def test_chunked_upload(tmp_path: Path) -> None:
    auth = _authority(tmp_path)
    r = Reader(tmp_path / "store")
    r.ok("provision.pin", key=_pinned(auth))
    data = (auth.path / "trust-list.cose").read_bytes()
    step = 300
    parts = [data[i:i + step] for i in range(0, len(data), step)]
    assert len(parts) > 2
    for n, part in enumerate(parts[:-1]):
        res = r.ok("provision.trust_list", data=_b64(part), offset=n * step, total=len(data))
        assert res == {"received": (n + 1) * step, "total": len(data), "complete": False}
    assert r.ok("info")["trust_list"] is None  # nothing installed before the last chunk
    res = r.ok("provision.trust_list", data=_b64(parts[-1]), offset=(len(parts) - 1) * step, total=len(data))
    assert res["complete"] is True and res["seq"] == 1
    # a chunked upload restarts at offset 0; a skipped chunk aborts it
    status_list = (auth.path / "status-list.cose").read_bytes()
    half = len(status_list) // 2
    r.ok("provision.status_list", data=_b64(status_list[:half]), offset=0, total=len(status_list))
    assert r.err("provision.status_list", data=_b64(status_list[half + 1:]), offset=half + 1,
                 total=len(status_list)) == "bad_chunk"
    assert r.err("provision.status_list", data=_b64(status_list[half:]), offset=half,
                 total=len(status_list)) == "bad_chunk"
    r.ok("provision.status_list", data=_b64(status_list[:half]), offset=0, total=len(status_list))
    assert r.ok("provision.status_list", data=_b64(status_list[half:]), offset=half,
                total=len(status_list))["seq"] == 1
    # a bad list assembled from chunks is refused like a whole one
    bad = status_list[:-1] + bytes([status_list[-1] ^ 1])
    r.ok("provision.status_list", data=_b64(bad[:half]), offset=0, total=len(bad))
    assert r.err("provision.status_list", data=_b64(bad[half:]), offset=half, total=len(bad)) \
        == "bad_list_signature"


def test_typed_info_after_provisioning(tmp_path: Path) -> None:
    auth = _authority(tmp_path)
    r = _provisioned(auth)
    text = r.d.handle_line(b"info")
    assert text is not None and b"seq: 1" in text and b"board: host-test" in text
