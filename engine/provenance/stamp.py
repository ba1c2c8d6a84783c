"""What a render adds for provenance, in one place the pipeline calls.

1. The job's token (:func:`job_marks.token_for`) embedded in the muxed speech
   track, beside Perth's mark: it survives re-encoding, trims and audio extraction, where
   the manifest and the metadata do not.
2. A signed C2PA manifest (:mod:`engine.provenance.manifest`) written into the MP4 inside the
   encoder's atomic write: the video is AI-generated (IPTC ``trainedAlgorithmicMedia``), by
   which tool, backends and job, with which consent method, and which marks it carries.

Neither step may cost a user their video: a failure becomes a warning on the result and an
error in the operator's log (the render is otherwise complete, and retrying would fail the
same way). The signing identity is loaded once per engine: the operator's files when
``MOUTHPIECE_C2PA_CERT``/``MOUTHPIECE_C2PA_KEY`` name them, else a local CA made on first use
under ``MOUTHPIECE_C2PA_DIR`` (by default beside the cache folder).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from engine.settings import EngineSettings
from engine.types import Audio

if TYPE_CHECKING:
    from engine.provenance.manifest import SigningIdentity

__all__ = [
    "PERTH_SCHEME",
    "Stamp",
    "Signing",
    "new_job_id",
    "tool_version",
    "mark_track",
    "trust_anchor",
]

log = logging.getLogger(__name__)

#: the name Perth's payload-free mark goes by in the manifest
PERTH_SCHEME = "perth-implicit"


def new_job_id() -> str:
    """A job id for a render that has none (the command line): unguessable, 16 hex digits."""
    return f"cli-{secrets.token_hex(8)}"


def tool_version() -> str:
    try:
        return metadata.version("mouthpiece")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def mark_track(track: Audio, job_id: str) -> tuple[Audio, int | None, str | None]:
    """``track`` with the job's token embedded: (audio, token, warning). The token is None
    (and the warning says why) when it could not be embedded."""
    from engine.provenance import payload
    from job_marks import token_for

    token = token_for(job_id)
    try:
        marked = payload.embed(track, token)
    except Exception as e:  # a bug of ours must not cost the user their video
        log.exception("payload watermark failed")
        return track, None, f"The speech carries no job mark: {type(e).__name__}: {e}"
    if marked is track:  # embed gives the same object back when the clip is too short
        return track, None, "The speech is too short to carry the job mark."
    return marked, token, None


@dataclass(frozen=True)
class Stamp:
    """The facts one render's manifest states (see :class:`engine.provenance.manifest.Claims`)."""

    job_id: str
    backends: Mapping[str, str]
    consent: str
    label: str | None
    watermarks: Sequence[Mapping[str, str]]


class Signing:
    """The engine's signer, loaded on first use (the local CA is made then) and loaded again
    once a day, so a worker that runs for months picks up a renewed leaf (the local CA
    re-issues one in its last 30 days) or the operator's replaced files."""

    RELOAD_SECONDS = 86_400.0

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._identity: SigningIdentity | None = None
        self._loaded = 0.0

    def identity(self) -> SigningIdentity:
        from engine.provenance.manifest import load_identity

        with self._lock:
            stale = time.monotonic() - self._loaded > self.RELOAD_SECONDS
            if self._identity is None or stale:
                s = self.settings
                self._identity = load_identity(
                    s.signer_dir,
                    cert=Path(s.c2pa_cert) if s.c2pa_cert else None,
                    key=Path(s.c2pa_key) if s.c2pa_key else None,
                    trust=Path(s.c2pa_trust) if s.c2pa_trust else None,
                )
                self._loaded = time.monotonic()
            return self._identity

    def signer(self, stamp: Stamp) -> Callable[[Path, Path], None]:
        """The encoder's ``sign`` step for one video: manifest in, written to a new file."""
        from engine.provenance.manifest import Claims, sign_mp4

        claims = Claims(
            job_id=stamp.job_id,
            tool_version=tool_version(),
            backends=stamp.backends,
            consent=stamp.consent,
            label=stamp.label,
            watermarks=stamp.watermarks,
        )

        def sign(src: Path, dst: Path) -> None:
            sign_mp4(src, dst, claims, self.identity())

        return sign


def trust_anchor(settings: EngineSettings) -> bytes | None:
    """The CA certificate(s) ``verify`` trusts: the operator's ``MOUTHPIECE_C2PA_TRUST``, else
    the local CA's certificate when one was made here; None when there is neither (a
    manifest then reads as "untrusted" at best). Never creates anything."""
    if settings.c2pa_trust:
        try:
            return Path(settings.c2pa_trust).read_bytes()
        except OSError as e:
            raise ValueError(
                f"MOUTHPIECE_C2PA_TRUST={settings.c2pa_trust!r} cannot be read: {e.strerror}"
            ) from e
    from engine.provenance.manifest import local_anchor

    return local_anchor(settings.signer_dir)
