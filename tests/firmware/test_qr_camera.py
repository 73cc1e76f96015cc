"""The camera scan loop (vitale.vision.camera) with a fake board camera, blocking and asyncio."""

from test_qr_support import matrix, payload, render

from vitale.vision import camera

# The WebAssembly port's asyncio runs on the JavaScript event loop: it has no
# asyncio.run() to drive a coroutine from a test. The loop logic it shares with
# scan_sync runs in the VM; the asyncio variant runs under CPython.
VM_SKIP = ("test_async_scan_yields_to_other_tasks",)


class FakeCamera:
    """capture() -> (frame, w, h) from a list, cycling; None entries mean 'no frame ready'."""

    def __init__(self, frames, w, h):
        self.frames = frames
        self.w = w
        self.h = h
        self.calls = 0

    def capture(self):
        f = self.frames[self.calls % len(self.frames)]
        self.calls += 1
        if f is None:
            return None
        return f, self.w, self.h


class FakeBoard:
    def __init__(self, cam):
        self.camera = cam


_W = 200
_H = 180


def _frame(name):
    n, m = matrix(name)
    return render(n, m, _W, _H, 4, 12)


def test_vqr_text_is_handed_to_the_callback():
    seen = []

    def on_text(text):
        seen.append(text)
        return True

    board = FakeBoard(FakeCamera([None, bytes(_W * _H), _frame("v5m_vqr")], _W, _H))
    res = camera.scan_sync(board, on_text, 20000)
    assert res.status == camera.ACCEPTED
    assert seen == [payload("v5m_vqr").decode()] and res.text == seen[0]
    assert res.frames == 2 and res.codes == 1


def test_refused_texts_then_timeout():
    calls = []
    board = FakeBoard(FakeCamera([_frame("v5m_vqr")], _W, _H))
    res = camera.scan_sync(board, lambda t: calls.append(t) and False, 300)
    assert res.status == camera.REJECTED
    assert len(calls) >= 1 and res.text == payload("v5m_vqr").decode()


def test_other_contents_are_not_a_credential():
    others = []
    board = FakeBoard(FakeCamera([_frame("v4h_text")], _W, _H))
    res = camera.scan_sync(board, lambda t: True, 300, on_other=others.append)
    assert res.status == camera.NOT_A_CREDENTIAL
    assert res.other == payload("v4h_text") and others[0] == payload("v4h_text")


def test_timeout_and_camera_error():
    board = FakeBoard(FakeCamera([bytes(_W * _H)], _W, _H))
    assert camera.scan_sync(board, lambda t: True, 200).status == camera.TIMEOUT
    board = FakeBoard(FakeCamera([None], _W, _H))
    assert camera.scan_sync(board, lambda t: True, 100).status == camera.CAMERA_ERROR


def test_vqr_text_filter():
    assert camera.vqr_text(b"VQR1:ABC") == "VQR1:ABC"
    assert camera.vqr_text(b"VQR2:ABC") is None
    assert camera.vqr_text(b"VQR1:\xff") is None


def test_async_scan_yields_to_other_tasks():
    import asyncio

    ticks = [0]
    done = [False]

    async def other():
        while not done[0]:
            ticks[0] += 1
            await asyncio.sleep(0)

    async def main():
        t = asyncio.create_task(other())
        board = FakeBoard(FakeCamera([bytes(_W * _H), _frame("v5m_vqr")], _W, _H))
        res = await camera.scan(board, lambda text: True, 20000)
        done[0] = True
        await t
        return res

    res = asyncio.run(main())
    assert res.status == camera.ACCEPTED and res.text == payload("v5m_vqr").decode()
    # the other task ran many times while frames were being decoded
    assert ticks[0] >= 10, ticks[0]
