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
        old = self.fs.files[self.path]
        end = self.pos + keep
        self.fs.files[self.path] = old[:self.pos] + bytes(data[:keep]) + old[end:]
        self.pos = end
        if keep < len(data):
            raise PowerCut()
        return len(data)

    def read(self, n=-1):
        data = self.fs.files[self.path]
        end = len(data) if n < 0 else self.pos + n
        out = data[self.pos:end]
        self.pos += len(out)
        return out

    def readinto(self, buf):
        out = self.read(len(buf))
        buf[:len(out)] = out
        return len(out)

    def seek(self, pos, whence=0):
        self.pos = pos if whence == 0 else (self.pos + pos if whence == 1 else len(self.fs.files[self.path]) + pos)
        return self.pos

    def flush(self):
        pass

    def close(self):
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


def _stream(store, name, payload, piece=64):
    w = store.writer(name, len(payload))
    for off in range(0, len(payload), piece):
        w.write(payload[off:off + piece])
    w.commit()


def test_writer_streams_a_framed_file():
    fs = MemFs()
    s = Store("/s", fs)
    payload = bytes(range(256)) * 5
    _stream(s, "big", payload, piece=100)
    assert fs.files["/s/big"] == frame(payload)
    assert s.read("big") == payload
    assert s.locate("big") == ("/s/big", len(payload))
    assert "/s/big.tmp" not in fs.files
    _stream(s, "big", b"second")
    assert s.read("big") == b"second" and unframe(fs.files["/s/big.bak"]) == payload
    _stream(s, "empty", b"")
    assert s.read("empty") == b""


def test_writer_refuses_overrun_short_and_closed():
    fs = MemFs()
    s = Store("/s", fs)
    s.write("f", b"old")
    w = s.writer("f", 4)
    w.write(b"ab")
    for bad in (lambda: w.write(b"cde"), w.commit):  # past total; commit before total is reached
        try:
            bad()
        except StoreError:
            continue
        raise AssertionError("accepted")
    assert "/s/f.tmp" not in fs.files and s.read("f") == b"old"  # the short write was dropped
    try:
        w.write(b"x")
    except StoreError:
        pass
    else:
        raise AssertionError("write after abort")
    w = s.writer("f", 3)
    w.write(b"new")
    w.abort()
    w.abort()
    assert "/s/f.tmp" not in fs.files and s.read("f") == b"old"
    for name, total in (("x/y", 1), ("f", -1), ("f", 5 * 1024 * 1024)):
        try:
            s.writer(name, total)
        except StoreError:
            continue
        raise AssertionError("writer for %r %d" % (name, total))


def test_unfinished_stream_is_never_read():
    # a complete temporary whose header was not yet patched is no frame: the old copy stays
    fs = MemFs()
    s = Store("/s", fs)
    s.write("f", b"old")
    w = s.writer("f", 3)
    w.write(b"new")
    assert s.read("f") == b"old"
    fs.files.pop("/s/f")
    fs.files.pop("/s/f.bak", None)
    assert s.get("f") is None and s.locate("f") is None
    s.recover("f")
    assert "/s/f.tmp" not in fs.files


def cut_runs(setup, action, check, tears=(0.0, 0.5, 0.99)):
    """Run action(fs) with the power cut after every fs step (at each tear point), then check(fs, completed, where).

    Returns (steps of an uncut run, runs made).
    """
    fs = MemFs()
    setup(fs)
    fs.steps = 0
    action(fs)
    total = fs.steps
    runs = 0
    for tear in tears:
        for cut in range(total + 1):
            fs = MemFs()
            setup(fs)
            fs.steps = 0
            fs.budget = cut
            fs.tear_at = tear
            try:
                action(fs)
                completed = True
            except PowerCut:
                completed = False
            fs.budget = -1  # power back
            check(fs, completed, (cut, tear))
            runs += 1
    return total, runs


def test_power_cut_at_every_step_of_a_streamed_write():
    old = b"old-" * 50
    new = b"NEW+" * 70

    def check(fs, completed, where):
        s = Store("/s", fs)
        got = s.read("trust")
        assert got in (old, new), where
        if completed:
            assert got == new, where
        s.recover("trust")
        assert s.read("trust") == got and unframe(fs.files["/s/trust"]) == got, where
        _stream(s, "trust", b"next")
        assert s.read("trust") == b"next"

    total, runs = cut_runs(lambda fs: Store("/s", fs).write("trust", old),
                            lambda fs: _stream(Store("/s", fs), "trust", new, piece=50), check)
    assert total >= 10 and runs == 3 * (total + 1)


def test_power_cut_at_every_step_of_a_staged_replace():
    old = b"old-" * 50
    new = b"NEW+" * 70

    def action(fs):
        s = Store("/s", fs)
        _stream(s, "trust.new", new, piece=50)
        s.replace("trust.new", "trust")

    def check(fs, completed, where):
        s = Store("/s", fs)
        got = s.read("trust")
        assert got in (old, new), where
        if completed:
            assert got == new and s.locate("trust.new") is None, where
            assert unframe(fs.files["/s/trust.bak"]) == old, where
        s.recover("trust")
        assert s.read("trust") == got, where

    total, runs = cut_runs(lambda fs: Store("/s", fs).write("trust", old), action, check)
    assert total >= 12 and runs == 3 * (total + 1)


def test_replace_needs_an_intact_staged_file_and_drop_backup():
    fs = MemFs()
    s = Store("/s", fs)
    s.write("cur", b"v1")
    s.write("cur", b"v2")
    try:
        s.replace("none", "cur")
    except StoreError:
        pass
    else:
        raise AssertionError("replaced by a missing file")
    s.write("new", b"v3")
    fs.files["/s/new"] = fs.files["/s/new"][:-1]
    try:
        s.replace("new", "cur")
    except StoreError:
        pass
    else:
        raise AssertionError("replaced by a torn file")
    assert s.read("cur") == b"v2"
    s.drop_backup("cur")
    assert "/s/cur.bak" not in fs.files and s.read("cur") == b"v2"
    s.write("cur", b"v4")
    fs.files["/s/cur"] = b"torn"
    s.drop_backup("cur")  # the backup is the only good copy: kept
    assert s.read("cur") == b"v2"
