"""What a jail process does to itself before it reads a byte of its input.

Each step is applied by the kernel and cannot be undone by the code that runs afterwards:

- **limits** (``setrlimit``, soft = hard; and a nice level): private memory (``RLIMIT_DATA``,
  which also bounds every ffmpeg the process starts, since children inherit it), address
  space (a looser belt), CPU seconds, written file size, open files, no core dumps;
- **no network, no other process** (seccomp): ``socket()`` of any family but ``AF_UNIX``
  fails with ``EACCES``, and so do ``io_uring_setup`` (its rings can open sockets without the
  ``socket`` call), ``ptrace``, ``process_vm_readv``/``writev`` and ``pidfd_getfd`` (the
  worker runs as the same user: where Yama allows, these would reach its memory and files);
  32-bit and x32 system calls, a way around a filter keyed on 64-bit numbers, fail too;
- **no files but its own** (Landlock, where the kernel has it): reading is allowed only under
  the Python installation, the engine's own package, the system's library folders, the one
  input file and the jail's working folder (the only place it may write). The service's data
  folder (SQLite, uploads, models), its configuration and its secrets are out of reach.

Each step reports whether it took effect; none is silently assumed. On a kernel without
Landlock or seccomp (or a container that forbids them) the jail still runs with its limits,
its empty environment and its time bound, and says what it lacks (``mouthpiece doctor``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import resource
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Confinement",
    "lower_priority",
    "set_limits",
    "block_network",
    "restrict_files",
    "readable_roots",
    "landlock_abi",
]

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
# per machine: (audit arch, socket, the calls refused outright): io_uring_setup (its rings
# open sockets without socket()), and the ways to another process's memory or files that a
# same-user process has where Yama allows it: ptrace, process_vm_readv/writev, pidfd_getfd
_SYSCALLS = {
    "x86_64": (0xC000003E, 41, (425, 101, 310, 311, 438)),
    "aarch64": (0xC00000B7, 198, (425, 117, 270, 271, 438)),
}
_X32_BIT = 0x40000000
_AF_UNIX = 1

_LANDLOCK_CREATE_RULESET = 444
_LANDLOCK_ADD_RULE = 445
_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_RULE_PATH_BENEATH = 1
_LANDLOCK_CREATE_RULESET_VERSION = 1
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_ABI1 = (1 << 13) - 1  # every right Landlock's first version knows
_FS_REFER = 1 << 13  # version 2
_FS_TRUNCATE = 1 << 14  # version 3
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE


@dataclass(frozen=True)
class Confinement:
    """What took effect in this process."""

    limits: bool = False
    network_blocked: bool = False
    files_restricted: bool = False

    def describe(self) -> str:
        parts = ["memory/CPU limits" if self.limits else "NO limits"]
        parts.append("no network" if self.network_blocked else "network NOT blocked (no seccomp)")
        parts.append(
            "files confined" if self.files_restricted else "files NOT confined (no Landlock)"
        )
        return ", ".join(parts)


def lower_priority(nice: int) -> None:
    """This process's CPU priority (``nice``: an intake check yields to renders under way)."""
    if nice <= 0:
        return
    os.nice(nice)
    # a jail leads its own session, and with the kernel's autogroups each session shares the
    # CPU as a group whatever its processes' nice: lower the group's weight too
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(nice))


def set_limits(*, memory_bytes: int, cpu_seconds: int, file_bytes: int = 16 << 20) -> bool:
    """Hard resource limits for this process and every process it starts."""
    wanted = [
        (resource.RLIMIT_DATA, memory_bytes),
        # address space: a loose belt (libraries map much they never touch)
        (resource.RLIMIT_AS, max(4 * memory_bytes, 4 << 30)),
        (resource.RLIMIT_CPU, max(1, cpu_seconds)),
        (resource.RLIMIT_FSIZE, file_bytes),
        (resource.RLIMIT_NOFILE, 256),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in wanted:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    return True


class _Filter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _no_new_privs(libc: ctypes.CDLL) -> bool:
    return libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def network_filter(machine: str | None = None) -> list[tuple[int, int, int, int]] | None:
    """The seccomp program (code, jt, jf, k) for this machine; None where it is not known."""
    numbers = _SYSCALLS.get(machine or platform.machine())
    if numbers is None:
        return None
    arch, socket_nr, refused = numbers
    deny = _RET_ERRNO | errno.EACCES
    program = [
        (_LD_W_ABS, 0, 0, 4),  # A = arch
        (_JEQ_K, 1, 0, arch),  # our machine's calls: skip the next
        (_RET_K, 0, 0, deny),  # any other convention (i386 on x86_64): refused
        (_LD_W_ABS, 0, 0, 0),  # A = number
        (_JGE_K, 0, 1, _X32_BIT),  # x32 numbering: to the next, else skip it
        (_RET_K, 0, 0, deny),
    ]
    for nr in refused:
        program += [(_JEQ_K, 0, 1, nr), (_RET_K, 0, 0, deny)]
    program += [
        (_JEQ_K, 0, 3, socket_nr),  # socket: check its family, else allow
        (_LD_W_ABS, 0, 0, 16),  # A = the address family (args[0], low word)
        (_JEQ_K, 1, 0, _AF_UNIX),  # AF_UNIX: allow
        (_RET_K, 0, 0, deny),  # any other family: refused
        (_RET_K, 0, 0, _RET_ALLOW),
    ]
    return program


def block_network() -> bool:
    """Install the seccomp filter (see the module's doc); False where it could not be."""
    program = network_filter()
    if program is None or not sys.platform.startswith("linux"):
        return False
    libc = _libc()
    if not _no_new_privs(libc):
        return False
    filters = (_Filter * len(program))(*(_Filter(*row) for row in program))
    prog = _Program(len(program), filters)
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def readable_roots() -> list[Path]:
    """Where the jail may read: the Python installation and its packages, the engine, and the
    system's programs and libraries (ffmpeg, its codecs, the C library)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    roots |= {Path(p) for p in sys.path if "site-packages" in p or "dist-packages" in p}
    roots |= {Path(__file__).resolve().parents[1]}  # the engine package
    roots |= {Path(p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")}
    roots |= {Path(p) for p in ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts")}
    # of /proc only this process's own folder and the machine's CPU and memory facts: another
    # process's (the worker's) environ, cmdline and fds are out of reach
    roots |= {Path(f"/proc/{os.getpid()}"), Path("/proc/cpuinfo"), Path("/proc/meminfo")}
    roots |= {Path(p) for p in ("/proc/stat", "/sys/devices/system/cpu", "/dev/null")}
    roots |= {Path("/dev/urandom")}
    return sorted(p for p in roots if p.exists())


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (or this is not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, int(abi))


def restrict_files(*, read: Iterable[Path], write: Iterable[Path]) -> bool:
    """Landlock: read (and run programs) only under ``read``, write only under ``write``."""
    if not sys.platform.startswith("linux"):
        return False
    abi = landlock_abi()
    if abi < 1:
        return False
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = _FS_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        return False
    try:
        reading = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        rules = [(Path(p), reading) for p in read] + [(Path(p), handled) for p in write]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not path.is_dir():
                    rights &= _FILE_RIGHTS
                rule = _PathBeneath(rights, fd)
                if (
                    libc.syscall(
                        _LANDLOCK_ADD_RULE,
                        ruleset,
                        _LANDLOCK_RULE_PATH_BENEATH,
                        ctypes.byref(rule),
                        0,
                    )
                    != 0
                ):
                    return False
            finally:
                os.close(fd)
        if not _no_new_privs(libc):
            return False
        return libc.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0) == 0
    finally:
        os.close(ruleset)
