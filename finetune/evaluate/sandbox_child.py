"""The process that runs one untrusted program inside the sandbox.

The parent starts it as `python -I -c <this file's source> <limits JSON>` inside bubblewrap
or `unshare`, writes the program to its stdin and reads one JSON result line from its
stdout. It imports only the standard library, so it never loads this project or its
dependencies into the sandbox. Before the program runs, it locks itself down with what
the kernel enforces (no Python-level guard can be undone by the program):

- with `unshare` (no bubblewrap): the same minimal root bubblewrap builds, made here
  inside the new user and mount namespaces (`_enter_minimal_root`): the interpreter's
  directories bound read-only, a few device nodes, a size-capped tmpfs as working
  directory, and the host's filesystem detached (`pivot_root`), so nothing else of the
  host can be read or written;
- resource limits: address space, CPU seconds, file size, open files, no core dumps;
- a seccomp filter: no new processes (fork, vfork, clone without CLONE_THREAD, clone3,
  execve, execveat), no sockets, no io_uring (its IORING_OP_SOCKET makes sockets without
  the socket syscall), no mounts or namespace changes, no memory-backed files or SysV
  shared memory (RAM outside the capped tmpfs); threads stay allowed.

The program's own stdin/stdout/stderr go to /dev/null; the result goes to a private
duplicate of the original stdout, as `{"status": "passed"}` or
`{"status": "failed", "error": "..."}`. The program could forge that line (it shares the
process); the sandbox protects the machine from accidents of generated code, and the
score is only as honest as the code it runs.
"""

import builtins
import contextlib
import ctypes
import errno
import json
import os
import platform
import resource
import struct
import sys
from typing import Any

_MAX_ERROR_CHARS = 500

# seccomp constants (linux/seccomp.h, linux/filter.h, linux/audit.h)
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_CLONE_THREAD = 0x00010000
_X32_SYSCALL_BIT = 0x40000000

# Denied syscalls: new processes (fork, vfork, execve, execveat; clone3 answers ENOSYS so
# libc falls back to clone, which is checked for CLONE_THREAD), sockets and io_uring
# (whose IORING_OP_SOCKET opens sockets without the socket syscall), everything that could
# undo the read-only mounts or leave the namespaces (mount family, unshare, setns, chroot,
# pivot_root), reach another process (ptrace), or hold RAM outside the capped tmpfs
# (memfd_create, shmget).
_DENIED = (
    "fork", "vfork", "execve", "execveat", "clone3", "socket", "socketpair", "ptrace",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "memfd_create", "shmget",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
)  # fmt: skip
# numbered alike on every architecture since Linux 5.1
_COMMON = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
           "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
           "fsmount": 432, "fspick": 433, "clone3": 435, "mount_setattr": 442}  # fmt: skip
# per architecture: audit arch and syscall numbers (arch/*/include/uapi/asm/unistd*.h)
_ARCHES = {
    "x86_64": (0xC000003E, {
        "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "socket": 41,
        "socketpair": 53, "ptrace": 101, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "unshare": 272, "setns": 308, "memfd_create": 319, "shmget": 29,
        **_COMMON,
    }),
    "aarch64": (0xC00000B7, {
        "clone": 220, "execve": 221, "execveat": 281, "socket": 198, "socketpair": 199,
        "ptrace": 117, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "unshare": 97, "setns": 268, "memfd_create": 279, "shmget": 194, **_COMMON,
    }),
}  # fmt: skip

# mount(2), mount_setattr(2), umount2(2) (linux/mount.h)
_SYS_MOUNT_SETATTR = 442
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 0x2
# what bubblewrap's --dev provides, minus the terminal: /dev/shm stays a read-only folder
_DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV_LINKS = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
              "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}  # fmt: skip


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _syscall_numbers() -> tuple[int, dict[str, int]]:
    """This machine's audit arch and syscall numbers; an unknown one is a sandbox error."""
    arch = platform.machine()
    if arch not in _ARCHES:
        raise OSError(errno.ENOSYS, f"no seccomp filter for the {arch} architecture")
    return _ARCHES[arch]


def _seccomp_program() -> bytes:
    """A BPF filter: deny the listed syscalls, clone only for threads, allow the rest."""
    audit_arch, numbers = _syscall_numbers()
    deny_all = _insn(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, audit_arch),
        deny_all,
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _insn(_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        deny_all,
    ]
    for name in _DENIED:
        if name in numbers:  # aarch64 has no fork/vfork syscalls
            err = errno.ENOSYS if name == "clone3" else errno.EPERM
            prog += [_insn(_JEQ_K, 0, 1, numbers[name]), _insn(_RET_K, 0, 0, _RET_ERRNO | err)]
    prog += [
        _insn(_JEQ_K, 0, 3, numbers["clone"]),
        _insn(_LD_W_ABS, 0, 0, 16),  # low half of seccomp_data.args[0]: the clone flags
        _insn(_JSET_K, 1, 0, _CLONE_THREAD),
        deny_all,
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    ]
    return b"".join(prog)


def _install_seccomp() -> None:
    code = _seccomp_program()
    buffer = ctypes.create_string_buffer(code, len(code))

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = _Prog(len(code) // 8, ctypes.addressof(buffer))
    libc = _libc()
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    encoded = [None if text is None else text.encode() for text in (source, target, fstype)]
    _check(_libc().mount(*encoded, flags, data.encode() or None), f"mount {target}")


def _make_readonly(target: str, flags: int) -> None:
    attr = _MountAttr(_MOUNT_ATTR_RDONLY, 0, 0, 0)
    result = _libc().syscall(
        _SYS_MOUNT_SETATTR, _AT_FDCWD, target.encode(), flags, ctypes.byref(attr),
        ctypes.sizeof(attr),
    )  # fmt: skip
    _check(result, f"make {target} read-only")


def _bind_file(source: str, target: str) -> None:
    with open(target, "x"):
        pass
    _mount(source, target, None, _MS_BIND)


def _enter_minimal_root(root: dict[str, Any]) -> None:
    """Swap the host's filesystem for a root holding only what the program needs.

    We are root of fresh user, mount and PID namespaces, so none of these mounts reaches
    the host. `root` (from the parent): `mountpoint`, an empty host folder to build on;
    `ro`, folders bound read-only at the same path; `files`, single files likewise;
    `links`, symbolic links such as /lib -> usr/lib; `workdir` and `tmp_bytes`, the only
    writable place, a tmpfs of that size. The root itself ends read-only.
    """
    new = root["mountpoint"]
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount("tmpfs", new, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    for path in root["ro"]:
        os.makedirs(new + path)
        _mount(path, new + path, None, _MS_BIND | _MS_REC)
        _make_readonly(new + path, _AT_RECURSIVE)
    for path in root["files"]:
        os.makedirs(os.path.dirname(new + path), exist_ok=True)
        _bind_file(path, new + path)
        _make_readonly(new + path, 0)
    for link, target in {**root["links"], **_DEV_LINKS}.items():
        os.makedirs(os.path.dirname(new + link), exist_ok=True)
        os.symlink(target, new + link)
    os.makedirs(new + "/dev/shm")
    for name in _DEVICES:
        _bind_file(f"/dev/{name}", f"{new}/dev/{name}")
    os.makedirs(new + "/proc")
    # the proc that `unshare --mount-proc` mounted for the new PID namespace, not the host's
    _mount("/proc", new + "/proc", None, _MS_BIND | _MS_REC)
    os.makedirs(new + root["workdir"])
    size = f"size={root['tmp_bytes']},mode=0755"
    _mount("tmpfs", new + root["workdir"], "tmpfs", _MS_NOSUID | _MS_NODEV, size)
    os.chdir(new)
    pivot_root = _syscall_numbers()[1]["pivot_root"]
    _check(_libc().syscall(pivot_root, b".", b"."), "pivot_root")
    _check(_libc().umount2(b".", _MNT_DETACH), "detach the host's filesystem")
    _make_readonly("/", 0)
    os.chdir(root["workdir"])


def _set_limits(limits: dict[str, int]) -> None:
    for name, value in (
        ("RLIMIT_AS", limits["memory_bytes"]),
        ("RLIMIT_CPU", limits["cpu_seconds"]),
        ("RLIMIT_FSIZE", limits["file_bytes"]),
        ("RLIMIT_NOFILE", limits["open_files"]),
        ("RLIMIT_CORE", 0),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))


def _redirect_stdio() -> int:
    """Send fds 0–2 to /dev/null; return a private duplicate of stdout for the result."""
    report = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return report


def _report(fd: int, result: dict[str, str]) -> None:
    """Write the result line; a program that closed the descriptor leaves no result."""
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(result) + "\n").encode())


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_ERROR_CHARS]


def main() -> None:
    limits = json.loads(sys.argv[1])
    source = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    report = _redirect_stdio()
    try:
        if limits.get("root"):
            _enter_minimal_root(limits["root"])
        _set_limits(limits)
        _install_seccomp()
    except OSError as exc:
        _report(report, {"status": "sandbox_error", "error": _describe(exc)})
        sys.exit(3)
    namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        exec(compile(source, "<program>", "exec"), namespace)
    except BaseException as exc:
        _report(report, {"status": "failed", "error": _describe(exc)})
        os._exit(1)  # skips atexit hooks and threads the program left behind
    _report(report, {"status": "passed"})
    os._exit(0)


if __name__ == "__main__":
    main()
