"""Native libraries' log lines stay off the terminal; everything else reaches it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from engine.nativelog import is_noise

SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from engine.nativelog import native_noise_filtered

    def native_thread():  # prints later, from a thread, straight to fd 2 (as TFLite does)
        time.sleep(0.2)
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
        os.write(2, b"W0000 00:00:1733470000.123456   4242 inference.cc:33] slow path\\n")
        os.write(2, b"a native error that matters\\n")

    with native_noise_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\\n")
        t = threading.Thread(target=native_thread)
        t.start()
        print("progress 50%", end="\\r", file=sys.stderr, flush=True)
        t.join()
        print("error: No face found in the photo.", file=sys.stderr)
    os.write(2, b"after the block\\n")
    """
)


def test_noise_lines_are_dropped_and_the_rest_kept_in_a_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, timeout=60, check=True
    )
    err = proc.stderr.decode()
    assert "INFO:" not in err and "W0000" not in err and "absl" not in err, err
    assert "a native error that matters\n" in err
    assert "progress 50%\r" in err
    assert "error: No face found in the photo.\n" in err
    assert err.endswith("after the block\n")


def test_what_counts_as_noise() -> None:
    assert is_noise(b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert is_noise(b"I0000 00:00:1733470000.123456   4242 gl_context.cc:357] GL version: 3.2")
    assert not is_noise(b"E0000 00:00:1733470000.123456   4242 graph.cc:1] the graph failed")
    assert not is_noise(b"error: No face found in the photo.")
    assert not is_noise(b"Fatal Python error: Segmentation fault")


OVERLAP = textwrap.dedent(
    """
    import os, threading
    from engine.media.image import _quiet_stderr

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with _quiet_stderr():
            a_in.set(); b_in.wait()
        a_out.set()

    def b():
        a_in.wait()
        with _quiet_stderr():
            b_in.set(); a_out.wait()
            os.write(2, b"hidden while quiet\\n")

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    [t.start() for t in threads]; [t.join() for t in threads]
    os.write(2, b"stderr is back\\n")
    """
)


def test_two_detectors_quieting_at_once_leave_stderr_working() -> None:
    """A enters, B enters, A leaves, B leaves: fd 2 is the real stderr afterwards."""
    proc = subprocess.run(
        [sys.executable, "-c", OVERLAP], capture_output=True, timeout=60, check=True
    )
    assert proc.stderr == b"stderr is back\n"
