"""store: a power cut at every step of a write leaves the old or the new content, never a torn one."""

from vitale.store import Store, StoreError, frame, unframe


class PowerCut(Exception):
    pass


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.mode = mode
        if "w" in mode:
            fs.step()
            fs.files[path] = b""
        elif path not in fs.files:
            raise OSError(2)
        self.pos = 0

    def write(self, data):
        # A cut during a write persists only a prefix: a torn file.
        keep = self.fs.step(len(data))
        self.fs.files[self.path] = self.fs.files[self.path] + bytes(data[:keep])
        if keep < len(data):
            raise PowerCut()
        return len(data)

    def read(self, n=-1):
        data = self.fs.files[self.path]
        return data if n < 0 else data[:n]

    def flush(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class MemFs:
    """In-memory filesystem that loses power after `budget` steps."""

    def __init__(self, files=None, budget=-1, tear_at=0.5):
        self.files = files if files is not None else {}
        self.budget = budget
        self.tear_at = tear_at
        self.steps = 0

    def step(self, nbytes=0):
        """Count one step; on the cut, raise (or for a write, return the bytes that reach flash)."""
        self.steps += 1
        if self.budget >= 0 and self.steps > self.budget:
            if nbytes:
                return int(nbytes * self.tear_at)
            raise PowerCut()
        return nbytes

    def open(self, path, mode):
        return _File(self, path, mode)

    def rename(self, a, b):
        if a not in self.files:
            raise OSError(2)
        self.step()
        self.files[b] = self.files.pop(a)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2)
        self.step()
        del self.files[path]

    def mkdir(self, path):
        pass

    def sync(self):
        self.step()


def _count_steps(old, new):
    fs = MemFs()
    Store("/s", fs).write("trust", old)
    fs.steps = 0
    Store("/s", fs).write("trust", new)
    return fs.steps


def test_frame_roundtrip_and_corruption():
    f = frame(b"payload")
    assert unframe(f) == b"payload"
    assert unframe(f[:-1]) is None
    bad = bytearray(f)
    bad[-1] ^= 1
    assert unframe(bytes(bad)) is None
    assert unframe(b"") is None


def test_read_missing_raises_store_error():
    s = Store("/s", MemFs())
    try:
        s.read("nothing")
    except StoreError:
        pass
    else:
        raise AssertionError("missing file read")
    assert s.get("nothing", b"d") == b"d"


def test_bad_names_refused():
    s = Store("/s", MemFs())
    for name in ("", "../x", "a/b", ".hidden"):
        try:
            s.write(name, b"x")
        except StoreError:
            continue
        raise AssertionError("accepted name " + name)


def test_power_cut_at_every_step_keeps_old_or_new():
    old = b"old-" * 50
    new = b"NEW+" * 70
    total = _count_steps(old, new)
    assert total >= 5
    checked = 0
    for tear in (0.0, 0.5, 0.99):
        for cut in range(total + 1):
            fs = MemFs()
            Store("/s", fs).write("trust", old)
            fs.steps = 0
            fs.budget = cut
            fs.tear_at = tear
            try:
                Store("/s", fs).write("trust", new)
                completed = True
            except PowerCut:
                completed = False
            fs.budget = -1  # power back
            s = Store("/s", fs)
            got = s.read("trust")
            assert got in (old, new), (cut, tear)
            if completed:
                assert got == new
            s.recover("trust")
            assert s.read("trust") == got
            assert unframe(fs.files["/s/trust"]) == got
            s.write("trust", b"next")
            assert s.read("trust") == b"next"
            checked += 1
    assert checked == 3 * (total + 1)


def test_first_write_cut_leaves_nothing_or_new():
    new = b"first"
    fs = MemFs()
    Store("/s", fs).write("cfg", b"x")
    n = fs.steps
    for cut in range(n + 1):
        fs = MemFs(budget=cut)
        try:
            Store("/s", fs).write("cfg", new)
        except PowerCut:
            pass
        fs.budget = -1
        assert Store("/s", fs).get("cfg") in (None, new)


def test_last_good_copy_survives_corrupted_main():
    fs = MemFs()
    s = Store("/s", fs)
    s.write("status", b"v1")
    s.write("status", b"v2")
    fs.files["/s/status"] = fs.files["/s/status"][:-1]  # flash corruption
    assert s.read("status") == b"v1"
