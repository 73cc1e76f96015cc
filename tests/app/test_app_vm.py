"""The App's asyncio loop inside the MicroPython VM: replies, timeout, an exception in a read, cancel.

The VM's asyncio has no asyncio.run: the script starts the App with
create_task, as the virtual reader does. The signed events it wrote are checked
here with the SDK's verifier.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT
from vitale_host.signed import verify_signed_event
from vitale_tools import mpvm

HERE = Path(__file__).parent


@pytest.mark.vm
@pytest.mark.slow
def test_app_loop_in_the_vm() -> None:
    res = mpvm.run_file(HERE / "vm_app_loop.py", mounts={"/tests": ROOT / "tests" / "firmware"}, timeout=300)
    assert res.returncode == 0 and "DONE" in res.stdout, res.stdout[-3000:] + res.stderr[-3000:]
    objs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    replies = {o["id"]: o for o in objs if "id" in o}
    assert all(r["ok"] for r in replies.values()), replies
    pub = bytes.fromhex(replies[3]["result"]["public_key"])
    nonce = bytes.fromhex("0102030405060708")
    counter = 0
    codes = []
    for ev in (o for o in objs if o.get("event") == "refusal"):
        result, counter = verify_signed_event(ev, pub, nonce, counter)
        codes.append((result["read_id"], result["refusal"]["code"]))
    assert codes == [(1, "timeout"), (2, "internal"), (3, "cancelled")]
    assert replies[7]["result"] == {"cancelled": True, "read_id": 3}
    states = [(o["read_id"], o["state"]) for o in objs if o.get("event") == "state"]
    assert states[:3] == [(1, "scanning"), (1, "reporting"), (1, "idle")]
