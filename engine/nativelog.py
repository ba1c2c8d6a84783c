"""Keep native libraries' chatter off a person's terminal.

mediapipe's TensorFlow Lite and glog write straight to file descriptor 2 ("INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.", "W0000 00:00:... "), from their own threads and
at moments Python does not choose: a graph may print after the call that started it returned.
Silencing fd 2 around each call therefore leaks lines now and then. :func:`native_noise_filtered`
instead points fd 2 at a pipe for a whole command: a thread drops the known noise lines and
passes every other byte on to the real stderr, while Python's own ``sys.stderr`` writes to the
real stderr directly (so progress bars stay live and ``error:`` lines are never held back).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

__all__ = ["NOISE", "is_noise", "native_noise_filtered"]

# TFLite's minimal logging ("INFO: ..."), glog/absl info and warning lines
# ("I0000 00:00:1700000000.000000 1234 file.cc:12] ..."), and absl's preamble about them.
NOISE = re.compile(
    rb"^(INFO: |[IW]\d{4} \d\d:\d\d:\d\d[.\d]*\s+\d+ \S+:\d+\] |"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def is_noise(line: bytes) -> bool:
    return NOISE.match(line) is not None


@contextlib.contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Filter fd 2 (see the module's doc) until the block ends; then it is the real one again.

    Anything that is not a known noise line passes unchanged (a native crash report, a
    library's error), so nothing an operator needs is lost. Where fd 2 cannot be duplicated
    (a closed stderr), the block runs unfiltered.
    """
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        yield
        return
    python_stderr = sys.stderr
    sys.stderr.flush()
    sys.stderr = open(  # noqa: SIM115 - closed below, after the block
        real, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
    )
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, real), name="native-stderr", daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(real, 2)  # the pipe's last write end closes: the pump reads its end and stops
        pump.join(timeout=5)
        os.close(real)


def _pump(read_end: int, real: int) -> None:
    pending = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                _write_all(real, kept)
        if pending and not is_noise(pending):
            _write_all(real, pending)
    os.close(read_end)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
