# MicroPython script (run in the WebAssembly VM by test_app_vm.py): the App's own asyncio loop
# serving scripted host lines, with a camera that sees nothing (and fails once). Prints every
# line the App wrote, then "DONE".
import asyncio
import sys

sys.path.append("/tests")
from test_store import MemFs  # noqa: E402
from vitale.app import App  # noqa: E402
from vitale.compat import ticks_diff, ticks_ms  # noqa: E402
from vitale.cred.trust import Trust  # noqa: E402
from vitale.hal.board import Board, Clock  # noqa: E402
from vitale.store import Store  # noqa: E402


class Host:
    def __init__(self):
        self.inbox = bytearray()
        self.out = bytearray()

    def read(self):
        d = bytes(self.inbox)
        self.inbox = bytearray()
        return d

    def write(self, b):
        self.out.extend(b)


class Cam:
    def __init__(self):
        self.fail = False

    def capture(self):
        if self.fail:
            self.fail = False
            raise RuntimeError("camera wedged")
        return (bytes(160 * 120), 160, 120)


host = Host()
cam = Cam()
app = App(Board("vm-board", Clock(ticks_ms, ticks_diff), camera=cam, host=host), store=Store("/data", MemFs()))
app.state.trust = Trust.of_certs([])  # no credential is shown: no certificate is needed


async def wait_for(marker, count):
    t0 = ticks_ms()
    while host.out.count(marker) < count and ticks_diff(ticks_ms(), t0) < 20000:
        await asyncio.sleep(0.02)


async def main():
    task = asyncio.create_task(app.run())
    for line in (b'{"id":1,"cmd":"hello","args":{"nonce":"0102030405060708"}}',
                 b'{"id":2,"cmd":"time.set","args":{"unix":1790000000}}',
                 b'{"id":3,"cmd":"reader.public_key"}',
                 b'{"id":4,"cmd":"read.start","args":{"channel":"qr","timeout_ms":1000}}'):
        host.inbox.extend(line + b"\n")
        await asyncio.sleep(0.03)
    await wait_for(b'"event": "refusal"', 1)
    cam.fail = True
    host.inbox.extend(b'{"id":5,"cmd":"read.start","args":{"channel":"any","timeout_ms":5000}}\n')
    await wait_for(b'"event": "refusal"', 2)
    host.inbox.extend(b'{"id":6,"cmd":"read.start","args":{"channel":"qr"}}\n')
    await asyncio.sleep(0.2)
    host.inbox.extend(b'{"id":7,"cmd":"read.cancel"}\n')
    await wait_for(b'"event": "refusal"', 3)
    await asyncio.sleep(0.05)
    app.stop()
    await task
    sys.stdout.write(host.out.decode())
    print("DONE")


asyncio.create_task(main())
