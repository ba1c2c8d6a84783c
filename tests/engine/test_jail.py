"""The decode jail: a separate, confined process per upload, bounded from outside.

The confinement steps are checked in fresh interpreters (they cannot be undone in-process);
the jail itself is driven as the engine drives it, and its bounds are read by the parent
(wall clock, the kernel's ``wait4`` account of the process tree's memory).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine import Engine, InvalidInput
from engine.jail import Jail, JailLimits, JailRefusal
from engine.jail.confine import landlock_abi, network_filter
from engine.settings import EngineSettings

PHOTO = dict(max_pixels=40_000_000, working_size=1024, max_bytes=30_000_000)
# What this kernel offers, found apart from the code under test: where it has Landlock (or a
# seccomp program for this machine), the jail must use it; where it has none, those checks
# cannot apply and say so (the jail then reports the protection missing, and doctor too).
HAS_LANDLOCK = landlock_abi() > 0
HAS_SECCOMP = network_filter() is not None
needs_landlock = pytest.mark.skipif(not HAS_LANDLOCK, reason="this kernel has no Landlock")
needs_seccomp = pytest.mark.skipif(not HAS_SECCOMP, reason="no seccomp program for this machine")


def _in_fresh_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@needs_landlock
def test_a_confined_process_reads_no_file_of_the_service(tmp_path: Path) -> None:
    """Landlock: the service's data folder (here a secret beside the jail's own folder) is
    out of reach; the jail's folder and the Python installation are not."""
    secret = tmp_path / "data" / "bot.sqlite3"
    secret.parent.mkdir()
    secret.write_text("tokens and sessions")
    own = tmp_path / "jail"
    own.mkdir()
    proc = _in_fresh_python(
        f"""
        import os
        from pathlib import Path
        from engine.jail.confine import readable_roots, restrict_files
        assert restrict_files(read=readable_roots(), write=[Path({str(own)!r})])
        (Path({str(own)!r}) / "scratch").write_text("ok")
        import json  # the standard library still loads
        for other in ({str(secret)!r}, f"/proc/{{os.getppid()}}/environ"):  # the worker's env
            try:
                Path(other).read_bytes()
            except PermissionError:
                print("refused")
        print(len(Path("/proc/self/status").read_text()) > 0)  # its own /proc still reads
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["refused", "refused", "True"]
    assert (own / "scratch").read_text() == "ok"


@needs_seccomp
def test_a_confined_process_opens_no_network_socket_and_reaches_no_other_process(
    tmp_path: Path,
) -> None:
    proc = _in_fresh_python(
        """
        import ctypes, errno, os, platform, socket
        from engine.jail.confine import block_network
        assert block_network()
        a, b = socket.socketpair()  # AF_UNIX still works (Python's own machinery uses it)
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.socket(family, socket.SOCK_STREAM)
            except PermissionError:
                print("refused")
        libc = ctypes.CDLL(None, use_errno=True)
        ptrace = {"x86_64": 101, "aarch64": 117}[platform.machine()]
        attached = libc.syscall(ptrace, 16, os.getppid(), None, None)  # PTRACE_ATTACH the worker
        print("refused" if attached == -1 and ctypes.get_errno() == errno.EACCES else "attached")
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["refused", "refused", "refused"]


def test_a_limited_process_cannot_allocate_past_its_memory(tmp_path: Path) -> None:
    proc = _in_fresh_python(
        """
        from engine.jail.confine import set_limits
        set_limits(memory_bytes=300 << 20, cpu_seconds=10)
        try:
            block = bytearray(600 << 20)
        except MemoryError:
            print("refused")
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "refused"


def test_the_jail_gets_no_secret_and_says_what_protects_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DISCORD_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "MOUTHPIECE_REDIS_URL"):
        monkeypatch.setenv(name, "secret")
    answer = Jail().describe()
    names = set(answer.header["environment"])
    assert not {n for n in names if "TOKEN" in n or "REDIS" in n or n.startswith("MOUTHPIECE")}
    assert names <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"} | {
        "MALLOC_ARENA_MAX",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "GLOG_minloglevel",
        "TF_CPP_MIN_LOG_LEVEL",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
    }
    assert answer.confinement == {
        "limits": True,
        "network_blocked": HAS_SECCOMP,
        "files_restricted": HAS_LANDLOCK,
    }


def _jail_processes() -> list[int]:
    """Our own jail processes still alive (by their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if b"engine.jail.child" in cmd and parent == os.getpid():
            found.append(int(entry))
    return found


def _gone_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _jail_processes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_past_its_time_the_jail_is_killed_and_the_file_refused(sample_photo: Path) -> None:
    """A face search takes the jail about 0.7 s; given 0.2 s it is killed (with its process
    group) and the photo refused in one line, within a bounded wait."""
    started = time.monotonic()
    with pytest.raises(JailRefusal) as e:
        Jail(JailLimits(seconds=0.2)).photo(sample_photo, find_face=True, **PHOTO)
    assert "took too long" in e.value.reason and e.value.field == "photo"
    assert time.monotonic() - started < 5
    assert _gone_within(5)


def test_past_its_memory_the_jail_is_killed_and_the_file_refused(sample_photo: Path) -> None:
    """A face search holds about 170 MB; allowed 60 MB, the jail is refused memory (inside)
    or killed (by the watch from outside), and the photo refused in one line."""
    with pytest.raises(JailRefusal) as e:
        Jail(JailLimits(memory_bytes=60 << 20)).photo(sample_photo, find_face=True, **PHOTO)
    assert "memory" in e.value.reason or "too large" in e.value.reason
    assert _gone_within(5)


def test_the_engine_decodes_uploads_only_in_its_jail(
    sample_photo: Path, sample_voice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every in-process decoder broken, intake and the render's inputs still work: the
    pixels and samples come from the jail."""
    import engine.media.audio as audio
    import engine.media.image as image

    engine = Engine(EngineSettings())

    def broken(*_: object, **__: object) -> None:
        raise AssertionError("decoded in the engine's own process")

    for module, name in ((image, "load_photo"), (audio, "load_voice"), (audio, "decode_audio")):
        monkeypatch.setattr(module, name, broken)
    monkeypatch.setattr("PIL.Image.open", broken)
    intake = engine.inspect_photo(sample_photo)
    assert intake.width == 512
    assert engine.inspect_voice(sample_voice).seconds > 1
    assert engine._load_portrait(sample_photo, intake).image.shape == (512, 512, 3)
    assert engine._decode(sample_voice, 16000, 60, engine.intake_jail).duration > 1


def test_a_jailed_refusal_reaches_the_caller_as_one_line(tmp_path: Path) -> None:
    text = tmp_path / "photo.jpg"
    text.write_text("not a photo at all")
    with pytest.raises(InvalidInput) as e:
        Engine(EngineSettings()).inspect_photo(text)
    assert e.value.reason.startswith("The photo could not be read")
