"""The bomb corpus (tests/auxil/bombs.py) through the real command line, as a person runs it:
``python -m engine.cli render`` on each file (a photo bomb with an ordinary voice note, a
voice bomb with an ordinary portrait, a one-word script), watched from outside its process.
Each run ends, rendered (exit 0) or refused with one ``error:`` line (exit 2), within 20 s of
CPU for its whole tree, and no process of that tree (the CLI, its decode jails, their ffmpeg)
passes 1,000 MB. Time is counted as CPU because a test machine running other tests at once
stretches the wall clock by however many share its cores (the runs here took at most
5.2 s of wall clock); the wall clock is held to the jail's own, 60 s, three times its CPU bound.

How it is measured: a fresh helper interpreter (:data:`_WATCH`) starts the one CLI run and
nothing else. It makes itself a child subreaper first, so that a process orphaned under the
CLI (an ffmpeg whose jail was killed) is re-parented to it rather than to init; it waits for
the CLI, then reaps every such orphan, and only then reads the clock and
``getrusage(RUSAGE_CHILDREN)``: its user and system seconds are the CPU of every process of the
tree, and its ``ru_maxrss`` is the kernel's high-water mark of the
largest single process among all the descendants reaped, each counted in full, not a sample
every few milliseconds that a short spike could fall between. (A process started by
fork+exec inherits at most its parent's high-water mark, and that parent is in the same tree,
so the maximum is still the largest process's own peak. The helper's own few MB are all a
CLI started by it could inherit.) The clock runs from the CLI's start to the reaping of the
last process of its tree: nothing of the run is left behind when it stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.auxil.bombs import BOMBS
from tests.auxil.media_fixtures import astronaut, espeak_wav, save_image

CPU_SECONDS, WALL_SECONDS, MEGABYTES = 20.0, 60.0, 1000.0

#: the helper: run argv[1:] (the CLI) as a child subreaper, reap its whole tree, and print
#: the exit status, the seconds until the last process ended, the CPU seconds of the tree, the
#: largest process's peak resident bytes and the CLI's stdout and stderr as one JSON line
_WATCH = """\
import ctypes, json, os, resource, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
started = time.monotonic()
cli = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL)
while True:  # the orphans of the tree, re-parented here: the run ends when they have
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
seconds = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak = usage.ru_maxrss * 1024  # KiB on Linux
print(json.dumps({"code": cli.returncode, "seconds": seconds, "peak_bytes": peak,
                  "cpu": usage.ru_utime + usage.ru_stime,
                  "stdout": cli.stdout, "stderr": cli.stderr}))
"""


@pytest.fixture(scope="module")
def ordinary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ordinary portrait (a face the detector finds) and voice note (a few seconds of
    speech), made here: the other input of each run, accepted, so the bomb is decoded."""
    folder = tmp_path_factory.mktemp("ordinary")
    photo = save_image(folder / "portrait.png", astronaut())
    voice = espeak_wav(
        folder / "voice.wav", "Testing one two three, this is my voice, speaking for a while."
    )
    return photo, voice


def _watched(argv: list[str], cwd: Path) -> dict[str, Any]:
    """``argv`` run under the :data:`_WATCH` helper, in its own session (killed with whatever
    it started should the run not end at all)."""
    helper = subprocess.Popen(
        [sys.executable, "-c", _WATCH, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = helper.communicate(timeout=3 * WALL_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(helper.pid, signal.SIGKILL)
        helper.communicate()
        pytest.fail(f"{argv}: still running after {3 * WALL_SECONDS:.0f} s")
    assert helper.returncode == 0, err
    found: dict[str, Any] = json.loads(out)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bomb_through_the_cli_ends_within_its_bounds(
    name: str, ordinary: tuple[Path, Path], tmp_path: Path
) -> None:
    kind, build, what = BOMBS[name]
    bomb = build(tmp_path / name)
    photo, voice = (bomb, ordinary[1]) if kind == "photo" else (ordinary[0], bomb)
    out = tmp_path / "out.mp4"
    cli = [sys.executable, "-m", "engine.cli", "render", "--script", "Hi."]
    cli += ["--photo", str(photo), "--voice", str(voice), "-o", str(out)]
    cli += ["--tts", "espeak", "--lipsync", "warp"]  # the cheapest render, where one is made
    run = _watched(cli, tmp_path)

    code, stderr = run["code"], run["stderr"]
    assert "Traceback" not in stderr, f"{what}: {stderr}"
    if code == 0:
        outcome = "rendered"
        assert out.is_file() and run["stdout"].strip() == str(out), f"{what}: {run}"
    else:
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {run}"
        outcome = lines[0]
        # refused for the bomb, not for the ordinary input beside it
        assert ("photo" if kind == "photo" else "voice note") in outcome, f"{what}: {outcome}"
        assert not out.exists()
    seconds, cpu, peak_mb = run["seconds"], run["cpu"], run["peak_bytes"] / 1e6
    assert cpu < CPU_SECONDS, f"{what}: {cpu:.1f} s of CPU ({outcome})"
    assert seconds < WALL_SECONDS, f"{what}: {seconds:.1f} s ({outcome})"
    assert 0 < peak_mb < MEGABYTES, f"{what}: {peak_mb:.0f} MB ({outcome})"
