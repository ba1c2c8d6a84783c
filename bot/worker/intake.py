"""Intake on the worker: an upload as a local file, its check (a photo's face, a voice
note's length), speech recognition for the consent phrase, previews for a moderator's
review (made from what a decode jail read, never from the upload's bytes directly), and the
marks of a file a moderator sent to ``/mod verify`` (read in the same jail)."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from bot.contract import texts
from bot.contract.jobs import Keys
from bot.contract.ports import MarkReport, MediaCheck, MediaPreview
from bot.jobs.media import stored_media, write_atomically
from bot.worker.context import WorkerContext, context
from engine import InvalidInput
from engine.jail import Jail, JailLimits
from engine.pipeline import INTAKE_NICE
from engine.provenance.stamp import trust_anchor
from engine.types import PhotoIntake
from engine.verify import Verdict, report_lines, verify

__all__ = ["media_file", "photo_intake", "check_media", "transcribe", "preview", "verify_media"]

log = logging.getLogger(__name__)
_SUFFIX = {"audio": ".audio", "image": ".img"}
#: a review's previews: the photo at most this many pixels on its longest side, the voice
#: note's first seconds as Opus in Ogg at a speech bitrate (tens of kilobytes: far within
#: every platform's file limit)
PREVIEW_SIDE = 640
PREVIEW_SECONDS = 10.0
_PREVIEW_RATE = 16_000
_EVIDENCE_REF = re.compile(r"[0-9a-f]{32}")  # the bot's random reference of a file to verify


async def media_file(w: WorkerContext, digest: str, kind: str) -> Path:
    """The upload as a local file: the bot's own file, read in place, when the two share the
    data folder (``shared_media``); else a copy in this worker's cache, fetched from Redis by
    hash. The bytes are not hashed again here: the engine hashes a photo before it trusts its
    intake finding, and names a voice's caches by the hash of what it read."""
    expired = InvalidInput(texts.UPLOAD_EXPIRED, field=kind)
    if w.settings.shared_media:
        found = await asyncio.to_thread(stored_media, w.settings.media_dir, digest)
        if found is None:  # erased or purged; or (every upload) this is not the bot's folder
            log.warning("upload not in the shared media folder", extra={"kind": kind})
            raise expired
        return found
    path = w.cache_dir / f"{digest}{_SUFFIX.get(kind, '')}"
    if not path.exists():
        data = await w.pool.get(Keys.media(digest))
        if data is None:
            raise expired
        await asyncio.to_thread(write_atomically, path, data)  # up to 20 MB: off the loop
    return path


async def check_media(ctx: dict[str, Any], kind: str, digest: str) -> str:
    """Intake check of a photo or voice note: a :class:`MediaCheck` as JSON. A photo's face
    (``PhotoIntake``) stays in Redis beside the upload, for the render to reuse."""
    w = context(ctx)
    engine = w.rendering
    try:
        path = await media_file(w, digest, kind)
        if kind == "image":  # decoded in the engine's jail, waited for on intake's threads
            photo = await w.in_intake(engine.inspect_photo, path)
            if photo.digest == digest:  # the cache file holds the bytes the bot stored
                await w.pool.set(
                    Keys.intake(digest), photo.to_json(), ex=w.settings.media_ttl_seconds
                )
            return MediaCheck(ok=True, warnings=photo.warnings).to_json()
        voice = await w.in_intake(engine.inspect_voice, path)
        return MediaCheck(ok=True, seconds=voice.seconds, warnings=voice.warnings).to_json()
    except InvalidInput as e:
        return MediaCheck(ok=False, reason=e.reason).to_json()


async def photo_intake(w: WorkerContext, digest: str) -> PhotoIntake | None:
    """The photo's intake finding, when Redis still holds one (it expires with the upload)."""
    raw = await w.pool.get(Keys.intake(digest))
    if raw is None:
        return None
    try:
        return PhotoIntake.from_json(raw)
    except ValueError:
        log.warning("unreadable photo intake; the render finds the face itself")
        return None


async def transcribe(ctx: dict[str, Any], digest: str) -> str | None:
    """Speech recognition of a voice note for the consent-phrase check (None: this worker
    has no recognizer, or the note cannot be read)."""
    w = context(ctx)
    recognizer = w.asr
    if recognizer is None:
        return None
    from engine.asr import MAX_SECONDS, SAMPLE_RATE

    try:
        path = await media_file(w, digest, "audio")
        jail = _intake_jail(w)
        decode = functools.partial(
            jail.audio,
            sample_rate=SAMPLE_RATE,
            max_seconds=MAX_SECONDS,
            timeout=jail.limits.seconds,
        )
        audio = (await w.in_intake(decode, path)).as_audio()
    except InvalidInput:
        return None
    text: str = await asyncio.to_thread(recognizer.transcribe, audio)
    return text


async def preview(ctx: dict[str, Any], kind: str, digest: str) -> str:
    """A small copy of an upload for a moderator's review (``kind`` "image" or "audio"), as
    :class:`MediaPreview` JSON: the photo downscaled, the voice note's first
    :data:`PREVIEW_SECONDS` re-encoded small. The upload is decoded in a jail, as at intake;
    the preview is encoded here from the decoded pixels or samples."""
    w = context(ctx)
    jail = _intake_jail(w)
    try:
        path = await media_file(w, digest, kind)
        if kind == "image":
            pixels = w.engine.settings.max_photo_pixels if w.engine is not None else 40_000_000
            data = await w.in_intake(_photo_preview, jail, path, pixels)
            return MediaPreview("photo-preview.jpg", data).to_json()
        data = await w.in_intake(_voice_preview, jail, path)
        return MediaPreview("voice-preview.ogg", data).to_json()
    except InvalidInput as e:
        return MediaPreview(reason=e.reason).to_json()
    except Exception as e:  # the jail or the encoder failed: a review without this preview
        log.warning("preview failed", extra={"kind": kind, "error": type(e).__name__})
        return MediaPreview(reason=type(e).__name__).to_json()


async def verify_media(ctx: dict[str, Any], ref: str) -> str:
    """Every mark of a file a moderator sent to ``/mod verify`` (:func:`engine.verify.verify`
    in the intake jail, on intake's threads), as :class:`MarkReport` JSON: the verdict and
    its report's lines, or the one-line reason the file cannot be read. The file is someone's
    evidence, not an upload: fetched from Redis by the bot's random reference, copied here
    for the read alone and deleted after."""
    w = context(ctx)
    data = await w.pool.get(Keys.evidence(ref)) if _EVIDENCE_REF.fullmatch(ref) else None
    if data is None:
        return MarkReport(reason=texts.MOD_VERIFY_EXPIRED).to_json()
    path = w.cache_dir / f"verify-{ref}"
    try:
        await asyncio.to_thread(write_atomically, path, data)
        del data
        verdict = await w.in_intake(_read_marks, w, path)
        found = json.loads(json.dumps(verdict.to_json(), default=_plain))
        return MarkReport(found, tuple(report_lines(verdict))).to_json()
    except InvalidInput as e:
        return MarkReport(reason=_unnamed(e.reason, path.name)).to_json()
    except Exception as e:  # the jail or a reader failed: the moderator hears it, one line
        log.warning("verify failed", extra={"error": type(e).__name__})
        return MarkReport(reason=texts.MOD_VERIFY_FAILED).to_json()
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _read_marks(w: WorkerContext, path: Path) -> Verdict:
    """:func:`engine.verify.verify` of ``path`` in the intake jail, against the trust anchor
    of this worker's engine (none without one: a manifest reads "untrusted" at best)."""
    anchor = trust_anchor(w.engine.settings) if w.engine is not None else None
    return verify(path, jail=_intake_jail(w), trust_anchor_pem=anchor)


def _plain(value: Any) -> Any:
    """A numpy scalar as the number it holds (the verdict's confidences)."""
    return value.item() if hasattr(value, "item") else str(value)


def _unnamed(reason: str, name: str) -> str:
    """The engine's reason without this worker's name of its copy."""
    if reason.startswith(name):
        return "The file" + reason[len(name) :]
    return reason.replace(name, "the file")


def _intake_jail(w: WorkerContext) -> Jail:
    """The engine's intake jail; one with the same bounds where the context has no engine
    (or its engine decodes in-process): a user's upload is never decoded in the worker."""
    if w.engine is not None and w.engine.intake_jail is not None:
        return w.engine.intake_jail
    return Jail(JailLimits(nice=INTAKE_NICE))


def _photo_preview(jail: Jail, path: Path, max_pixels: int) -> bytes:
    from PIL import Image

    from engine.media.image import MAX_PHOTO_BYTES

    jailed = jail.photo(
        path,
        find_face=False,
        max_pixels=max_pixels,
        working_size=PREVIEW_SIDE,
        max_bytes=MAX_PHOTO_BYTES,
    )
    assert jailed.array is not None
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(jailed.array, dtype=np.uint8)).save(
        out, "JPEG", quality=80
    )
    return out.getvalue()


def _voice_preview(jail: Jail, path: Path) -> bytes:
    from engine.media.ffmpeg import tool

    jailed = jail.audio(
        path, sample_rate=_PREVIEW_RATE, max_seconds=PREVIEW_SECONDS, timeout=jail.limits.seconds
    )
    assert jailed.array is not None
    samples = np.clip(np.nan_to_num(jailed.array.astype("<f4")), -1.0, 1.0)
    cmd = [tool("ffmpeg"), "-nostdin", "-v", "error", "-f", "f32le", "-ar", str(_PREVIEW_RATE)]
    cmd += ["-ac", "1", "-i", "pipe:0", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1"]
    done = subprocess.run(cmd, input=samples.tobytes(), capture_output=True, timeout=30)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"preview encoding failed: {done.stderr[-300:]!r}")
    return done.stdout
