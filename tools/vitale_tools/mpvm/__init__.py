"""Run firmware code inside the official MicroPython WebAssembly VM (under Node).

The `vitale` firmware package is copied into the VM's filesystem at
``/lib/vitale``; the script runs as ``__main__`` with ``sys.argv`` set. Extra
host files or folders can be mapped into the VM's filesystem.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VMError", "VMResult", "repo_root", "firmware_dir", "vm_module_path", "run_file", "run_code"]

DEFAULT_HEAP = 16 * 1024 * 1024
VM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
_RUNNER = Path(__file__).with_name("runner.mjs")


class VMError(RuntimeError):
    """The VM could not be started (no node, VM package not installed, ...)."""


@dataclass
class VMResult:
    """What a VM run returned."""

    returncode: int
    stdout: str
    stderr: str
    wall_ms: float = 0.0
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def repo_root() -> Path:
    """The project checkout this package runs from (editable install)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "package.json").is_file() and (parent / "firmware" / "vitale").is_dir():
            return parent
    env = os.environ.get("VITALE_REPO")
    if env:
        return Path(env)
    raise VMError("cannot find the project checkout (set VITALE_REPO)")


def firmware_dir() -> Path:
    """The `vitale` firmware package's folder."""
    return repo_root() / "firmware" / "vitale"


def vm_module_path() -> Path:
    """Path of the VM's JavaScript entry point, installed by `npm ci`."""
    p = repo_root() / "node_modules" / VM_PACKAGE / "micropython.mjs"
    if not p.is_file():
        raise VMError(f"{VM_PACKAGE} is not installed: run `npm ci` in {repo_root()}")
    return p


def _tree(host_dir: Path, vm_dir: str, suffixes: tuple[str, ...] | None) -> list[tuple[str, str]]:
    out = []
    for p in sorted(host_dir.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts:
            continue
        if suffixes is not None and p.suffix not in suffixes:
            continue
        out.append((vm_dir.rstrip("/") + "/" + p.relative_to(host_dir).as_posix(), str(p)))
    return out


def run_file(
    script: str | os.PathLike[str],
    *,
    args: list[str] | None = None,
    mounts: dict[str, str | os.PathLike[str]] | None = None,
    heap: int = DEFAULT_HEAP,
    timeout: float = 600.0,
    firmware: bool = True,
) -> VMResult:
    """Run a host script file inside the VM and return its exit status and output.

    `mounts` maps VM paths to host files or folders copied in before the run.
    The firmware package is at /lib/vitale unless `firmware` is False.
    """
    node = shutil.which("node")
    if node is None:
        raise VMError("node is not installed")
    script = Path(script)
    files: list[tuple[str, str]] = []
    if firmware:
        files += _tree(firmware_dir(), "/lib/vitale", (".py",))
    for vm_path, host in (mounts or {}).items():
        hp = Path(host)
        if hp.is_dir():
            files += _tree(hp, vm_path, None)
        else:
            files.append((vm_path, str(hp)))
    main = "/main/" + script.name
    files.append((main, str(script)))
    with tempfile.TemporaryDirectory(prefix="mpvm-") as tmp:
        job_path = Path(tmp) / "job.json"
        result_path = Path(tmp) / "result.json"
        job = {
            "module": str(vm_module_path()),
            "heap": heap,
            "files": files,
            "main": main,
            "argv": list(args or []),
            "result": str(result_path),
        }
        job_path.write_text(json.dumps(job))
        try:
            proc = subprocess.run(
                [node, str(_RUNNER), str(job_path)],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            return VMResult(124, out, f"VM run timed out after {timeout} s", timeout * 1000.0)
        wall = 0.0
        if result_path.is_file():
            wall = float(json.loads(result_path.read_text()).get("wall_ms", 0.0))
        return VMResult(proc.returncode, proc.stdout, proc.stderr, wall, proc.stdout.splitlines())


def run_code(code: str, **kwargs: object) -> VMResult:
    """Run a string of MicroPython code inside the VM (see `run_file`)."""
    with tempfile.TemporaryDirectory(prefix="mpvm-src-") as tmp:
        p = Path(tmp) / "snippet.py"
        p.write_text(code)
        return run_file(p, **kwargs)  # type: ignore[arg-type]
