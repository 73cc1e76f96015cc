"""A national-size status list (~718 kB: 70 million indices, 1 % revoked) provisioned in chunks.

The list is made by the test authority (vitale_tools.authority), sent through the
real dispatcher in the SDK's piece size, streamed to flash (docs/host-protocol.md
"Chunked upload"), verified there, and then answers `is_revoked` lookups read from
the files, under CPython over a store in a folder (tracemalloc's peak shows the
list is never held in RAM). In the MicroPython VM the same list is staged piece by
piece and verified from flash as provision.status_list does, with gc.mem_alloc
counting everything those steps allocate (the link itself is covered in the VM by
tests/firmware/test_link_commands.py with small lists).
"""

from __future__ import annotations

import base64
import json
import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import VM_REPORTS
from fwsupport import report
from vitale.hal.board import Board, Clock
from vitale.link.commands import ReaderState, register
from vitale.link.protocol import Dispatcher
from vitale.store import Store
from vitale_host.provision import CHUNK
from vitale_tools.authority import DAY, Authority, make_status_list

pytestmark = pytest.mark.slow

NOW = 1750000000
COUNT = 70_000_000
N_REVOKED = COUNT // 100
# The VM run feeds decoded pieces of this size to the staging writer, as provision.status_list does
# (the link's base64 is left out there: this VM's binascii is pure Python and keeps what it allocates).
VM_CHUNK = 4096


class National:
    """The authority, its trust list, a ~718 kB status list and lookup probes with their answers."""

    def __init__(self, root: Path) -> None:
        self.auth = Authority.init(root / "auth", NOW)
        rng = random.Random(7)
        revoked = sorted(rng.sample(range(COUNT), N_REVOKED))
        self.status = make_status_list(self.auth.keys["status-list"], revoked, COUNT, 2, NOW, NOW + DAY)
        self.trust = (self.auth.path / "trust-list.cose").read_bytes()
        self.pinned = self.auth.keys["trust-list"].public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint).hex()
        rev = set(revoked)
        picks = rng.sample(revoked, 100) + [rng.randrange(COUNT) for _ in range(100)] + [0, COUNT - 1]
        picks += [x + 1 for x in revoked[:50] if x + 1 < COUNT]
        self.probes = [(x, x in rev) for x in picks]


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> National:
    return National(tmp_path_factory.mktemp("national"))


def _line(rid: int, cmd: str, args: dict[str, Any]) -> bytes:
    """One request line of the link."""
    return json.dumps({"id": rid, "cmd": cmd, "args": args}).encode()


def _ok(d: Dispatcher, rid: int, cmd: str, args: dict[str, Any]) -> Any:
    """The result of one request, which must succeed."""
    out = d.handle_line(_line(rid, cmd, args))
    assert out is not None
    reply = json.loads(out)
    assert reply["ok"] is True, reply
    return reply["result"]


def test_national_status_list_streams_to_flash(national: National, tmp_path: Path) -> None:
    data = national.status
    assert 700_000 < len(data) < 2 * 1024 * 1024
    state = ReaderState(Board("host-test", Clock(lambda: 0, lambda a, b: a - b)), Store(str(tmp_path / "flash")))
    d = Dispatcher()
    register(d, state)
    _ok(d, 1, "time.set", {"unix": NOW + 100})
    _ok(d, 2, "provision.pin", {"key": national.pinned})
    _ok(d, 3, "provision.trust_list", {"data": base64.b64encode(national.trust).decode()})
    peaks = []
    upload_s = 0.0
    reply: Any = None
    tracemalloc.start()
    for i, off in enumerate(range(0, len(data), CHUNK)):
        line = _line(10 + i, "provision.status_list",
                     {"data": base64.b64encode(data[off:off + CHUNK]).decode(), "offset": off, "total": len(data)})
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        out = d.handle_line(line)
        upload_s += time.perf_counter() - t0
        peaks.append(tracemalloc.get_traced_memory()[1] - start)
        assert out is not None
        reply = json.loads(out)
        assert reply["ok"] is True, reply
    tracemalloc.stop()
    assert reply["result"] == {"complete": True, "seq": 2, "issued_at": NOW, "next_update": NOW + DAY}
    # a request holds its piece (decoded and checked), never the list: the last one, which verifies
    # the whole list from flash, needs no more than the others
    assert max(peaks) < len(data) // 2, peaks
    assert peaks[-1] <= max(peaks[:-1]) + 16 * 1024, peaks
    files = sorted(p.name for p in (tmp_path / "flash").iterdir())
    assert "status-list" in files and not [f for f in files if ".new" in f or f.endswith(".tmp")], files
    assert (tmp_path / "flash" / "status-list").stat().st_size == len(data) + 16
    sl = state.trust.status
    assert sl.size == COUNT and sl.revoked_count == N_REVOKED
    assert [(x, sl.is_revoked(x)) for x, _ in national.probes] == national.probes
    # a restarted reader finds it on flash
    again = ReaderState(Board("host-test", Clock(lambda: 0, lambda a, b: a - b)), Store(str(tmp_path / "flash")))
    assert again.trust is not None and again.trust.status is not None and again.trust.status.seq == 2
    assert all(again.trust.status.is_revoked(x) == want for x, want in national.probes[:20])
    report("status list streamed (CPython)", bytes=len(data), pieces=-(-len(data) // CHUNK),
           upload_ms=round(upload_s * 1000), request_peak_kb=max(peaks) // 1024, install_peak_kb=peaks[-1] // 1024,
           probes=len(national.probes))


_VM_SCRIPT = r"""
import gc
import hashlib
import json
import binascii
from vitale.compat import ticks_diff, ticks_ms
from vitale.cred import status, trust
from vitale.crypto import p256
from vitale.store import Store

cfg = json.load(open("/data/cfg.json"))
store = Store("/flash")
with open("/data/trust.cose", "rb") as f:
    tl = trust.install(store, f.read(), binascii.unhexlify(cfg["pinned"]))
total = cfg["total"]
buf = bytearray(cfg["chunk"])
mv = memoryview(buf)


def stage():
    # what provision.status_list does with each decoded piece
    w = status.stage(store, total)
    with open("/data/status.cose", "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            w.write(mv[:n])
    w.commit()


def counted(fn, *args):
    # (result, ms, bytes allocated): gc off, so every allocation counts (an upper bound of the peak)
    gc.collect()
    a0 = gc.mem_alloc()
    gc.disable()
    t0 = ticks_ms()
    r = fn(*args)
    ms = ticks_diff(ticks_ms(), t0)
    used = gc.mem_alloc() - a0
    gc.enable()
    return r, ms, used


_, stage_ms, stage_alloc = counted(stage)
sl, verify_ms, verify_alloc = counted(trust.install_status, store, None, tl)
bad = [x for x, want in cfg["probes"] if sl.is_revoked(x) != want]
with open("/data/status.cose", "rb") as f:
    f.seek(total - 64)
    sig = f.read(64)
# the ES256 check alone (pure Python big integers here): the same for a list of any size
_, ecdsa_ms, ecdsa_alloc = counted(p256.ecdsa_verify_digest, tl.status_signer, hashlib.sha256(sig).digest(), sig)
_, lookup_ms, lookup_alloc = counted(sl.is_revoked, cfg["probes"][0][0])
print("RESULT", json.dumps({"seq": sl.seq, "size": sl.size, "revoked": sl.revoked_count, "bad": bad,
                           "probes": len(cfg["probes"]), "path": sl.src.path}))
print("REPORT status list staged and verified on flash bytes=%d stage_ms=%d stage_alloc_kb=%d verify_ms=%d "
      "verify_alloc_kb=%d ecdsa_alloc_kb=%d lookup_ms=%d lookup_alloc_b=%d"
      % (total, stage_ms, stage_alloc // 1024, verify_ms, verify_alloc // 1024, ecdsa_alloc // 1024, lookup_ms,
         lookup_alloc))
"""


@pytest.mark.vm
def test_national_status_list_staged_and_verified_in_vm(national: National, tmp_path: Path) -> None:
    from vitale_tools import mpvm

    (tmp_path / "status.cose").write_bytes(national.status)
    (tmp_path / "trust.cose").write_bytes(national.trust)
    (tmp_path / "cfg.json").write_text(json.dumps({
        "now": NOW + 100, "pinned": national.pinned, "total": len(national.status), "chunk": VM_CHUNK,
        "probes": national.probes[:120]}))
    script = tmp_path / "vm_status_stream.py"
    script.write_text(_VM_SCRIPT)
    res = mpvm.run_file(script, mounts={"/data": tmp_path}, timeout=600)
    assert res.returncode == 0, f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    got = [json.loads(line[7:]) for line in res.lines if line.startswith("RESULT ")]
    assert got == [{"seq": 2, "size": COUNT, "revoked": N_REVOKED, "bad": [], "probes": 120,
                    "path": "/flash/status-list"}]
    rep = [line for line in res.lines if line.startswith("REPORT ")]
    assert rep
    counts = dict(kv.split("=") for kv in rep[0].split()[8:])
    # besides the signature check, staging and verifying allocate a few kB in all (not per piece):
    # far below the 702 kB list
    assert int(counts["stage_alloc_kb"]) < 32, rep
    assert int(counts["verify_alloc_kb"]) - int(counts["ecdsa_alloc_kb"]) < 64, rep
    VM_REPORTS.extend(f"{line} (VM)" for line in rep)
