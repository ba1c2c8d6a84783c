"""Untrusted media are decoded in a jail: a separate, confined, short-lived process.

Every photo and voice note a person sends is hostile until decoded. :class:`Jail` decodes
each one in a fresh ``python -m engine.jail.child`` process that

- gets an **empty environment** (no bot tokens, no Redis or database addresses, no
  ``MOUTHPIECE_*`` settings: what it needs arrives in its request),
- runs in a **private working folder** (removed afterwards) and, where the kernel has
  Landlock, **can read nothing else** of the service (:mod:`engine.jail.confine`),
- **cannot open network sockets** (seccomp, where the kernel allows it),
- is bounded in **memory** (``RLIMIT_DATA`` inside, and the resident memory of its whole
  process tree watched from outside: past ``memory_bytes`` it is killed), in **CPU** and in
  **wall-clock time** (killed with its process group, ffmpeg included, past ``seconds``),
- answers through one pipe: decoded pixels or samples, or a refusal with its one-line reason.

A file that makes the decoder crash, hang or balloon costs at most those bounds and is
refused with a reason; the process that holds secrets and the network never parses it.
What the jail does not protect: the CPU and memory it is allowed (several at once are
bounded by the caller's pool, not here), and on kernels without Landlock or seccomp the
files and network (``mouthpiece doctor`` says which protections this machine gives).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import EngineError, InvalidInput
from engine.types import Audio

if TYPE_CHECKING:
    from engine.settings import EngineSettings

__all__ = ["Jail", "JailLimits", "Jailed", "JailRefusal", "JAIL_ENV", "tree_rss"]

log = logging.getLogger(__name__)

#: the whole environment a jail process gets (its PATH finds ffmpeg, nothing else is passed)
JAIL_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per thread otherwise
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
_SLOW = {
    "photo": "The photo took too long to read: send an ordinary JPEG, PNG or WebP photo.",
    "voice": (
        "The voice note took too long to decode: send an ordinary OGG, MP3, M4A or WAV recording."
    ),
    "file": "The file took too long to read: send the MP4 (or its audio) as it was shared.",
}
_HEAVY = {
    "photo": "The photo needs too much memory to read: send an ordinary photo.",
    "voice": "The voice note needs too much memory to decode: send an ordinary recording.",
    "file": "The file needs too much memory to read: send the video as it was shared.",
}
_CRASHED = {
    "photo": "The photo could not be read: send a JPEG, PNG or WebP image.",
    "voice": "The voice note could not be read as audio: send an OGG, MP3, M4A or WAV recording.",
    "file": "The file could not be read: send an MP4, WebM or an audio recording.",
}
WALL_FACTOR = 3.0
_MAX_ANSWER = 64 << 20  # a 1024 px image is 3 MB; a minute of 16 kHz samples 4 MB
_POLL = 0.05


@dataclass(frozen=True)
class JailLimits:
    """Bounds of one jailed decode."""

    memory_bytes: int = 1000 << 20  # the process tree's resident memory, and its private memory
    # CPU seconds of the jail's whole tree, watched from outside (each process also has it as
    # RLIMIT_CPU); the wall clock may run WALL_FACTOR times that, for a decode that waits
    # without computing, or one starved of the CPU by renders on a busy box
    seconds: float = 20.0
    nice: int = 0  # CPU priority: intake checks run at 10, behind renders under way

    @classmethod
    def of(cls, settings: EngineSettings, *, nice: int = 0) -> JailLimits:
        """The bounds ``MOUTHPIECE_JAIL_MEMORY_MB`` and ``MOUTHPIECE_JAIL_SECONDS`` set."""
        return cls(settings.jail_memory_mb << 20, settings.jail_seconds, nice)


@dataclass(frozen=True)
class Jailed:
    """A jail's answer: the header fields and the decoded array (None for a refusal)."""

    header: dict[str, Any]
    array: np.ndarray | None
    seconds: float  # wall clock, measured here
    peak_bytes: int  # the jail tree's largest resident memory, sampled here every 50 ms
    cpu_seconds: float = 0.0  # the jail tree's CPU time, sampled here
    confinement: dict[str, bool] = field(default_factory=dict)

    def as_audio(self) -> Audio:
        """The decoded samples of an ``audio`` answer."""
        if self.array is None or "sample_rate" not in self.header:
            raise EngineError("the decode jail answered no audio")
        return Audio(self.array.astype(np.float32), int(self.header["sample_rate"]))


class JailRefusal(InvalidInput):
    """The jail refused the file (its one-line ``reason`` is for the person who sent it), with
    what the refusal cost, measured here."""

    def __init__(
        self, reason: str, field: str, seconds: float, peak_bytes: int, cpu_seconds: float
    ) -> None:
        super().__init__(reason, field=field)
        self.seconds, self.peak_bytes, self.cpu_seconds = seconds, peak_bytes, cpu_seconds


class Jail:
    """Runs jail processes (one per input). Thread-safe: each call is its own process."""

    def __init__(self, limits: JailLimits | None = None, *, python: str | None = None) -> None:
        self.limits = limits or JailLimits()
        self.python = python or sys.executable

    def run(self, op: str, path: Path | None, kind: str = "photo", **params: Any) -> Jailed:
        """One jailed operation on ``path``; InvalidInput (for ``kind``) when refused."""
        request = {
            "op": op,
            "input": str(Path(path).resolve()) if path is not None else "/dev/null",
            "memory_bytes": self.limits.memory_bytes,
            "cpu_seconds": max(1, round(self.limits.seconds)),
            "nice": self.limits.nice,
            **params,
        }
        workdir = tempfile.mkdtemp(prefix="mouthpiece-jail-")
        env = dict(JAIL_ENV, PATH=os.environ.get("PATH", os.defpath), HOME=workdir, TMPDIR=workdir)
        proc = subprocess.Popen(
            [self.python, "-m", "engine.jail.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,  # its own process group: killed with whatever it starts
            close_fds=True,
        )
        watch = _Watch(proc.pid)
        try:
            out, err, why = self._watch(proc, json.dumps(request).encode() + b"\n", watch)
        finally:
            _reap(proc)
            peak = watch.peak
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            shutil.rmtree(workdir, ignore_errors=True)
        seconds = time.monotonic() - watch.started
        outcome = self._outcome(op, kind, proc.returncode, out, err, why)
        log.info(
            "jailed decode",
            extra={
                "op": op,
                "seconds": round(seconds, 3),
                "peak_mb": round(peak / 1e6, 1),
                "outcome": why or ("ok" if outcome.get("ok") else "refused"),
            },
        )
        if not outcome.get("ok"):
            if "reason" in outcome:
                where = outcome.get("field") or kind
                raise JailRefusal(outcome["reason"], where, seconds, peak, watch.cpu)
            raise EngineError(f"the decode jail failed: {outcome.get('error', 'no answer')}")
        return Jailed(
            outcome,
            _array(outcome, out),
            seconds,
            peak,
            confinement=dict(outcome.get("confinement") or {}),
            cpu_seconds=watch.cpu,
        )

    def _watch(
        self, proc: subprocess.Popen[bytes], request: bytes, watch: _Watch
    ) -> tuple[bytes, bytes, str]:
        """Feed the request, collect the answer; kill on time or memory. ``why``: "" when the
        process ended by itself, else "timeout" or "memory". The process is not reaped here
        (:func:`_reap` does, once its output is read)."""
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(request)  # a few hundred bytes: fits the pipe, never blocks
            proc.stdin.close()
        except BrokenPipeError:
            pass
        chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
        budget = {proc.stdout.fileno(): _MAX_ANSWER + (1 << 20), proc.stderr.fileno(): 1 << 20}
        deadline = watch.started + WALL_FACTOR * self.limits.seconds
        with selectors.DefaultSelector() as sel:
            for fd in chunks:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    return _drop(proc, chunks, "timeout")
                for key, _ in sel.select(min(_POLL, left)):
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        sel.unregister(key.fd)
                        continue
                    budget[key.fd] -= len(data)
                    if budget[key.fd] >= 0:
                        chunks[key.fd].append(data)
                    elif key.fd == proc.stdout.fileno():
                        return _drop(proc, chunks, "memory")
                if watch.sample() > self.limits.memory_bytes:
                    return _drop(proc, chunks, "memory")
                if watch.cpu > self.limits.seconds:
                    return _drop(proc, chunks, "timeout")
        out, err = (b"".join(c) for c in chunks.values())
        return out, err, ""

    def _outcome(
        self, op: str, kind: str, code: int | None, out: bytes, err: bytes, why: str
    ) -> dict[str, Any]:
        if why == "timeout":
            return {"ok": False, "reason": _SLOW[kind]}
        if why == "memory":
            return {"ok": False, "reason": _HEAVY[kind]}
        line, _, _ = out.partition(b"\n")
        try:
            header = json.loads(line) if line else None
        except ValueError:
            header = None
        if isinstance(header, dict):
            if header.get("error"):
                log.error("decode jail fault", extra={"op": op, "stderr": _tail(err)})
            return header
        if code is not None and code < 0:  # killed by a signal: its limits (CPU, memory), a crash
            log.warning(
                "decode jail died",
                extra={"op": op, "signal": signal.Signals(-code).name, "stderr": _tail(err)},
            )
            if code in (-signal.SIGXCPU, -signal.SIGKILL):
                return {"ok": False, "reason": _SLOW[kind]}
            return {"ok": False, "reason": _CRASHED[kind]}
        return {"ok": False, "error": f"exit status {code}: {_tail(err)}"}

    # ---- the operations -------------------------------------------------------------------
    def photo(
        self,
        path: Path,
        *,
        find_face: bool,
        max_pixels: int,
        working_size: int,
        max_bytes: int,
    ) -> Jailed:
        """The decoded working image (RGB uint8) and, with ``find_face``, the face found in it
        (``header["intake"]``, a :class:`~engine.types.PhotoIntake` without its digest)."""
        return self.run(
            "photo",
            path,
            "photo",
            find_face=find_face,
            max_pixels=max_pixels,
            working_size=working_size,
            max_bytes=max_bytes,
        )

    def audio(self, path: Path, *, sample_rate: int, max_seconds: float, timeout: float) -> Jailed:
        """A voice note's first audio stream, decoded (:func:`engine.media.audio.decode_audio`):
        mono float32 samples, cleaned by the caller (no file is involved any more)."""
        return self.run(
            "audio",
            path,
            "voice",
            sample_rate=sample_rate,
            max_seconds=max_seconds,
            timeout=min(timeout, self.limits.seconds),
        )

    def inspect(self, path: Path, *, trust_anchor: str, max_seconds: float) -> Jailed:
        """Every mark's raw material from a file to verify (:func:`engine.verify.inspect`):
        its tags, its C2PA manifest's report against ``trust_anchor`` (PEM; "" none), the
        visible label looked for in a frame (``header``), and its audio at
        :data:`engine.verify.RATE` (the array; none without an audio track)."""
        return self.run(
            "inspect",
            path,
            "file",
            trust_anchor=trust_anchor,
            max_seconds=max_seconds,
            timeout=self.limits.seconds,
        )

    def describe(self) -> Jailed:
        """What a jail process sees (its environment's names) and which protections took."""
        return self.run("describe", None)


def _array(header: dict[str, Any], out: bytes) -> np.ndarray | None:
    if "dtype" not in header:
        return None
    dtype, shape = np.dtype(header["dtype"]), tuple(int(n) for n in header["shape"])
    if dtype.kind not in "uif" or any(n < 0 for n in shape):
        raise EngineError("the decode jail answered an array of an unexpected type")
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    start = out.index(b"\n") + 1
    if size > _MAX_ANSWER or len(out) - start != size:
        raise EngineError("the decode jail answered an array of the wrong size")
    return (
        np.frombuffer(out, dtype=dtype, count=size // dtype.itemsize, offset=start)
        .reshape(shape)
        .copy()
    )


def _drop(
    proc: subprocess.Popen[bytes], chunks: dict[int, list[bytes]], why: str
) -> tuple[bytes, bytes, str]:
    _kill(proc)
    out, err = (b"".join(c) for c in chunks.values())
    return out, err, why


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the jail, then kill anything it left behind in its process group."""
    proc.wait()
    _kill(proc)


class _Watch:
    """The jail's clock, and its tree's resident memory and CPU time, sampled from outside
    (``wait4``'s account is no use here: a forked child's high-water mark starts at its
    parent's)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.started, self.peak, self.cpu = pid, time.monotonic(), 0, 0.0

    def sample(self) -> int:
        rss, cpu = _tree(self.pid)
        self.peak, self.cpu = max(self.peak, rss), max(self.cpu, cpu)
        return rss


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, read from /proc (0 when gone)."""
    return _tree(pid)[0]


def _tree(pid: int) -> tuple[int, float]:
    """Resident bytes and CPU seconds of ``pid`` and all its descendants (those it already
    waited for included), read from /proc; (0, 0.0) when gone."""
    rss, ticks, todo, seen = 0, 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                rss += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/stat", "rb") as f:
                times = f.read().rsplit(b")", 1)[1].split()[11:15]  # utime stime cutime cstime
            ticks += sum(int(t) for t in (times if p == pid else times[:2]))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return rss, ticks / os.sysconf("SC_CLK_TCK")


def _tail(err: bytes, limit: int = 2000) -> str:
    return err[-limit:].decode("utf-8", "replace")
