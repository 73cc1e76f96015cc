"""Reader certificate provisioning through the App: the device's CSR, the certificate checks, then a real-time NFC read.

This module's board runs the PN532 emulator in real time (RealClock), as a
virtual reader without a modelled clock does.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from appsupport import NONCE, Rig, world
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from vitale.app import App  # type: ignore[import-not-found,unused-ignore]
from vitale_tools.authority import Authority, der

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Rig:
    base = tmp_path_factory.mktemp("app-prov")
    return Rig(world(base / "authority"), base / "store", modelled_nfc=False)


async def _lists_only(r: Rig) -> None:
    """Everything provision() does but the reader certificate."""
    auth = r.auth
    await r.ok("hello", {"nonce": NONCE.hex()})
    r.counter = 0
    await r.ok("time.set", {"unix": int(time.time())})
    pinned = auth.keys["trust-list"].public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    await r.ok("provision.pin", {"key": pinned.hex()})
    for cmd, name in (("provision.trust_list", "trust-list.cose"), ("provision.status_list", "status-list.cose")):
        await r.ok(cmd, {"data": base64.b64encode((auth.path / name).read_bytes()).decode()})
    r.public_key = bytes.fromhex((await r.ok("reader.public_key"))["public_key"])


def test_csr_reader_cert_checks_then_nfc_read(rig: Rig, tmp_path: Path) -> None:
    other = Authority.init(tmp_path / "other", int(time.time()) - 3600)
    rig.tap("0")

    async def go(r: Rig) -> dict[str, Any]:
        await _lists_only(r)
        out: dict[str, Any] = {}
        # no reader certificate yet: an NFC read cannot authenticate the reader to the phone
        await r.ok("read.start", {"channel": "nfc"})
        out["uncertified"] = r.verify([e for e in await r.events_until() if e["event"] == "refusal"][0])
        out["csr"] = bytes.fromhex((await r.ok("reader.csr"))["csr"])
        out["csr_cn"] = bytes.fromhex((await r.ok("reader.csr", {"cn": "Cabinet 12"}))["csr"])
        csr = out["csr"]
        auth = r.auth
        bad = {
            "someone else's key": der(auth.reader_cert),
            "another authority's reader CA": other.issue_reader_cert(csr),
            "expired": auth.issue_reader_cert(csr, now=int(time.time()) - 10 * 86400, days=2),
            "a document signer": der(auth.ds_cert),
        }
        out["bad"] = {k: await r.error("provision.reader_cert", {"cert": v.hex()}) for k, v in bad.items()}
        out["installed"] = await r.ok("provision.reader_cert", {"cert": auth.issue_reader_cert(csr).hex()})
        out["info"] = await r.ok("info")
        await r.ok("read.start", {"channel": "nfc"})
        events = await r.events_until()
        out["card"] = r.verify([e for e in events if e["event"] in ("card", "refusal")][0])
        return out

    out = rig.run(go)
    assert out["uncertified"]["refusal"]["code"] == "reader_not_trusted"
    assert "provision.reader_cert" in out["uncertified"]["refusal"]["detail"]
    req = x509.load_der_x509_csr(out["csr"])
    assert req.is_signature_valid
    assert req.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint) == rig.public_key
    assert req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Vitale Reader test-rig"
    named = x509.load_der_x509_csr(out["csr_cn"])
    assert named.is_signature_valid and named.subject.rfc4514_string() == "CN=Cabinet 12"
    assert out["bad"] == {k: "bad_reader_cert" for k in out["bad"]}
    assert out["installed"]["installed"] is True and out["installed"]["subject"] == "Vitale Reader test-rig"
    assert out["installed"]["not_after"] > time.time() + 86400
    assert out["info"]["reader_cert"] is True
    assert out["card"]["status"] == "verified" and out["card"]["channel"] == "nfc", out["card"]
    # the certificate survives a restart of the app
    again = App(rig.board)
    assert again.state.reader_cert is not None and again.reads.reader_cert() == rig.app.state.reader_cert
