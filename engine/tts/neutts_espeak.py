"""The espeak-ng NeuTTS Air's phonemes come from, and a phonemiser configured as upstream's.

NeuTTS Air was trained on phonemes from the espeak-ng that the ``neutts`` 1.4.1 wheel bundles:
libespeak-ng 1.52.0.1 with its own ``espeak-ng-data`` (GPL-3.0). Debian 12's espeak-ng 1.51
gives different phonemes for some words ("recording" ``ɹᵻkˈoːɹdɪŋ`` instead of
``ɹᵻkˈɔːɹdɪŋ``), so the model would see strings it was not trained on.

``python -m engine.tts.neutts_espeak [--target DIR] [--wheel FILE]`` downloads that wheel with
pip (``pip download --no-deps neutts==1.4.1``; the package is never installed nor imported) and
extracts only the library and its data into DIR, by default :func:`default_dir` (inside the
virtual environment). It does nothing when DIR already holds them. ``make test`` and the Docker
image run it.

:class:`Phonemizer` is phonemizer's espeak backend with upstream's options (``neutts``'s
``BasePhonemizer`` and ``NeuTTS._to_phones``): en-us, stress marks, punctuation kept, language
switches removed, whitespace runs collapsed to one space.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import BackendUnavailable

__all__ = [
    "NEUTTS_WHEEL",
    "ESPEAK_VERSION",
    "EspeakBuild",
    "Phonemizer",
    "default_dir",
    "find",
    "extract",
    "fetch",
    "main",
]

log = logging.getLogger(__name__)

NEUTTS_WHEEL = "neutts==1.4.1"
ESPEAK_VERSION = "1.52.0.1"
LIBRARY = f"libespeak-ng.so.{ESPEAK_VERSION}"
DATA = "espeak-ng-data"
_IN_WHEEL = "neutts/"
_HINT = "python -m engine.tts.neutts_espeak (make test runs it)"
# What NeuTTS Air's models are phonemised as (neutts BACKBONE_LANGUAGE_MAP: neutts-air -> en-us)
LANGUAGE = "en-us"


@dataclass(frozen=True)
class EspeakBuild:
    """An extracted copy: the shared library and its data folder."""

    library: Path
    data: Path


def default_dir() -> Path:
    """Where the build is extracted by default: ``<venv or prefix>/share/mouthpiece/...``."""
    return Path(sys.prefix) / "share" / "mouthpiece" / "neutts-espeak-ng"


def find(directory: Path) -> EspeakBuild | None:
    """The build in ``directory`` when it is complete, else None."""
    build = EspeakBuild(Path(directory) / LIBRARY, Path(directory) / DATA)
    complete = build.library.is_file() and all(
        (build.data / name).is_file() for name in ("phontab", "phondata", "phonindex", "en_dict")
    )
    return build if complete else None


def _members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The library and the data files, refusing any name that would leave the target."""
    out = []
    for info in archive.infolist():
        name = info.filename
        if name != _IN_WHEEL + LIBRARY and not name.startswith(f"{_IN_WHEEL}{DATA}/"):
            continue
        parts = Path(name).parts
        if name.startswith("/") or ".." in parts:
            raise ValueError(f"unsafe path in the wheel: {name!r}")
        out.append(info)
    if not any(info.filename == _IN_WHEEL + LIBRARY for info in out):
        raise ValueError(f"the wheel holds no {LIBRARY} (not neutts 1.4.1 for Linux?)")
    return out


def extract(wheel: Path, target: Path) -> EspeakBuild:
    """Copy the library and its data out of ``wheel`` into ``target`` (replacing it whole)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in _members(archive):
                if info.is_dir():
                    continue
                dest = staging / info.filename[len(_IN_WHEEL) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        (staging / "SOURCE").write_text(
            f"libespeak-ng {ESPEAK_VERSION} and espeak-ng-data (GPL-3.0-or-later, "
            f"https://github.com/espeak-ng/espeak-ng), taken out of {Path(wheel).name}\n"
        )
        if find(staging) is None:
            raise ValueError(f"{wheel} lacks parts of {DATA}/")
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from other users (a container's)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    build = find(target)
    assert build is not None
    return build


def fetch(target: Path, *, wheel: Path | None = None, pip: Sequence[str] = ()) -> EspeakBuild:
    """The build in ``target``; downloads and extracts it first when it is not there yet."""
    found = find(target)
    if found is not None:
        return found
    if wheel is not None:
        return extract(wheel, target)
    with tempfile.TemporaryDirectory() as tmp:
        command = [*(pip or (sys.executable, "-m", "pip")), "download", "--no-deps"]
        command += ["--only-binary", ":all:", "-q", "-d", tmp, NEUTTS_WHEEL]
        subprocess.run(command, check=True)
        wheels = sorted(Path(tmp).glob("neutts-*.whl"))
        if not wheels:
            raise FileNotFoundError(f"pip downloaded no {NEUTTS_WHEEL} wheel into {tmp}")
        return extract(wheels[0], target)


# ---- the phonemiser ------------------------------------------------------------------------
class Phonemizer:
    """Text -> phonemes exactly as ``neutts`` makes them (same espeak-ng build and options).

    ``espeak`` (``MOUTHPIECE_TTS_ESPEAK``): "" uses the build in :func:`default_dir` and falls
    back to the system's espeak-ng with a warning when it is missing; a folder must hold the
    build; "system" uses the system's espeak-ng on purpose.
    """

    def __init__(self, espeak: str = "") -> None:
        try:
            from phonemizer.backend import EspeakBackend
            from phonemizer.backend.espeak.wrapper import EspeakWrapper
        except ImportError as e:
            raise BackendUnavailable(
                "phonemizer is not installed", hint="pip install 'mouthpiece[neutts]'"
            ) from e
        build = _choose(espeak)
        library, data = (str(build.library), str(build.data)) if build else _system_espeak()
        EspeakWrapper.set_library(library)  # process-wide in phonemizer
        EspeakWrapper.set_data_path(data)  # None: the library's own
        try:
            self._backend: Any = EspeakBackend(
                language=LANGUAGE,
                preserve_punctuation=True,
                with_stress=True,
                words_mismatch="ignore",
                language_switch="remove-flags",
            )
        except RuntimeError as e:
            raise BackendUnavailable(
                f"phonemizer cannot use espeak-ng: {e}", hint="apt-get install espeak-ng"
            ) from e
        self.version = ".".join(str(v) for v in self._backend.version())
        #: True when the phonemes are those NeuTTS Air was trained on (its espeak-ng build)
        self.faithful = build is not None
        if build is None:
            level = logging.INFO if espeak == "system" else logging.WARNING
            log.log(
                level,
                "NeuTTS phonemes from the system's espeak-ng %s, not the %s the model was "
                "trained with: some words come out differently; install it with %s",
                self.version,
                ESPEAK_VERSION,
                _HINT,
                extra={"espeak_version": self.version, "faithful": False},
            )

    def __call__(self, text: str) -> str:
        """Phonemes of ``text``: upstream's ``_to_phones`` (whitespace runs become one space)."""
        out = self._backend.phonemize([text])
        return " ".join(out[0].split()) if out else ""


def _choose(espeak: str) -> EspeakBuild | None:
    """The espeak-ng build to load, or None for the system's."""
    if espeak == "system":
        return None
    if espeak:
        build = find(Path(espeak).expanduser())
        if build is None:
            raise BackendUnavailable(
                f"MOUTHPIECE_TTS_ESPEAK={espeak}: no {LIBRARY} with its {DATA}/ there",
                hint=f"python -m engine.tts.neutts_espeak --target {espeak}",
            )
        return build
    return find(default_dir())


def _system_espeak() -> tuple[str, str | None]:
    """(library, data or None: its own) of the system's espeak-ng, by absolute path."""
    from engine.tts._espeak_lib import library_path

    where = library_path()
    if where is None:
        raise BackendUnavailable("libespeak-ng not found", hint=f"{_HINT}, or apt-get install")
    return where


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.tts.neutts_espeak",
        description=f"Extract libespeak-ng {ESPEAK_VERSION} and its data from the {NEUTTS_WHEEL}"
        " wheel (downloaded with pip, not installed): the phonemes NeuTTS Air was trained on.",
    )
    parser.add_argument("--target", type=Path, default=default_dir(), help="default: %(default)s")
    parser.add_argument("--wheel", type=Path, help="use this downloaded wheel instead of pip")
    args = parser.parse_args(argv)
    try:
        build = fetch(args.target, wheel=args.wheel)
    except (OSError, ValueError, subprocess.CalledProcessError, zipfile.BadZipFile) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"espeak-ng {ESPEAK_VERSION} for NeuTTS: {build.library.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
