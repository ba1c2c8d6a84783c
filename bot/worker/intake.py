"""Intake on the worker: an upload as a local file, its check (a photo's face, a voice
note's length), speech recognition for the consent phrase, previews for a moderator's
review (made from what a decode jail read, never from the upload's bytes directly), and the
marks of a file a moderator sent to ``/mod verify`` (read in the same jail).

An upload reaches a worker one of three ways (:mod:`bot.jobs.media`): read in place from the
bot's folder (shared), copied from Redis into this worker's cache, or fetched (the bot's
media server, with the signed link Redis holds for this job or check). A fetched copy is
checked against its digest and belongs to one job or check: :func:`drop_fetched` deletes it
once that is over, so a worker keeps no copy past the render.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import io
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bot.contract import texts
from bot.contract.jobs import Keys
from bot.contract.ports import MarkReport, MediaCheck, MediaPreview
from bot.jobs.media import stored_media, write_atomically
from bot.jobs.media_links import REF  # what a job or check reference may look like
from bot.worker.context import WorkerContext, context
from engine import InvalidInput, TransientError
from engine.jail import Jail, JailLimits
from engine.pipeline import INTAKE_NICE
from engine.provenance.stamp import trust_anchor
from engine.types import PhotoIntake
from engine.verify import Verdict, report_lines, verify
from spoken_text.languages import LANGUAGES

__all__ = [
    "media_file",
    "drop_fetched",
    "photo_intake",
    "check_media",
    "transcribe",
    "preview",
    "verify_media",
]

log = logging.getLogger(__name__)
_SUFFIX = {"audio": ".audio", "image": ".img"}
#: a review's previews: the photo at most this many pixels on its longest side, the voice
#: note's first seconds as Opus in Ogg at a speech bitrate (tens of kilobytes: far within
#: every platform's file limit)
PREVIEW_SIDE = 640
PREVIEW_SECONDS = 10.0
_PREVIEW_RATE = 16_000
_EVIDENCE_REF = re.compile(r"[0-9a-f]{32}")  # the bot's random reference of a file to verify
#: a fetch from the bot's media server: connecting, and the whole download (20 MB at most)
FETCH_CONNECT_SECONDS = 10.0
FETCH_SECONDS = 120.0
_CHUNK = 1 << 16


async def media_file(w: WorkerContext, digest: str, kind: str, ref: str = "") -> Path:
    """The upload as a local file: the bot's own file, read in place, when the two share the
    data folder (``shared_media``); fetched from the bot's media server into this worker's
    cache when Redis holds a link for job (or intake check) ``ref``, checked against
    ``digest`` (delete it with :func:`drop_fetched` once the job is over); else a copy in
    this worker's cache, fetched from Redis by hash. A Redis copy is not hashed again here:
    the engine hashes a photo before it trusts its intake finding, and names a voice's caches
    by the hash of what it read."""
    expired = InvalidInput(texts.UPLOAD_EXPIRED, field=kind)
    if w.settings.shared_media:
        found = await asyncio.to_thread(stored_media, w.settings.media_dir, digest)
        if found is None:  # erased or purged; or (every upload) this is not the bot's folder
            log.warning("upload not in the shared media folder", extra={"kind": kind})
            raise expired
        return found
    if ref and REF.fullmatch(ref):
        link = await w.pool.get(Keys.media_link(digest, ref))
        if link is not None:
            url = link.decode() if isinstance(link, bytes) else str(link)
            return await _fetched(w, url, digest, kind, ref)
    path = w.cache_dir / f"{digest}{_SUFFIX.get(kind, '')}"
    if not path.exists():
        data = await w.pool.get(Keys.media(digest))
        if data is None:
            raise expired
        await asyncio.to_thread(write_atomically, path, data)  # up to 20 MB: off the loop
    return path


async def drop_fetched(w: WorkerContext, ref: str) -> int:
    """Delete what was fetched for job (or intake check) ``ref``: called when the render or
    check that needed it is over, whatever its end. How many files went."""
    if not REF.fullmatch(ref):
        return 0

    def drop() -> int:
        gone = 0
        for path in w.cache_dir.glob(f"*.{ref}*"):
            if path.name.split(".")[1:2] == [ref]:  # <digest>.<ref>[.suffix]
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    return await asyncio.to_thread(drop)


def _fetched_path(cache_dir: Path, digest: str, ref: str, kind: str) -> Path:
    # the upload's digest first: an erasure's sweep of the cache finds it by that name
    return cache_dir / f"{digest}.{ref}{_SUFFIX.get(kind, '')}"


async def _fetched(w: WorkerContext, url: str, digest: str, kind: str, ref: str) -> Path:
    """The upload fetched from the bot's media server into this worker's cache, for job (or
    check) ``ref``; written whole or not at all, and kept only when its SHA-256 is
    ``digest``. A job's preview and its full render read the same copy."""
    path = _fetched_path(w.cache_dir, digest, ref, kind)
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=w.cache_dir, prefix=f"{digest}.part-")
    part = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            got = await _download(w, url, out, kind)
        if got != digest:  # not what the bot stored: never decoded, never rendered
            log.warning("fetched upload does not match its digest; refused", extra={"kind": kind})
            raise InvalidInput(texts.UPLOAD_EXPIRED, field=kind)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path


async def _download(w: WorkerContext, url: str, out: Any, kind: str) -> str:
    """Stream ``url`` into ``out`` (at most ``max_file_bytes``); the SHA-256 of what came.
    A refused or vanished link is the upload's usual one line (:class:`InvalidInput`); a
    server that cannot be reached is worth a retry (:class:`TransientError`). The link is
    never logged: its signature opens the upload."""
    expired = InvalidInput(texts.UPLOAD_EXPIRED, field=kind)
    limit = w.settings.max_file_bytes
    timeout = aiohttp.ClientTimeout(total=FETCH_SECONDS, sock_connect=FETCH_CONNECT_SECONDS)
    seen, size = hashlib.sha256(), 0
    try:
        async with (
            _session(w) as session,
            session.get(url, timeout=timeout, allow_redirects=False) as response,
        ):
            if response.status in (403, 404):  # expired, forged, or erased meanwhile
                log.warning("upload not fetched", extra={"kind": kind, "status": response.status})
                raise expired
            if response.status != 200:
                raise TransientError(f"the media server answered {response.status}")
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > limit:
                    log.warning("fetched upload too large; refused", extra={"kind": kind})
                    raise expired
                seen.update(chunk)
                out.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as e:
        raise TransientError(f"the media server cannot be reached ({type(e).__name__})") from e
    return seen.hexdigest()


@contextlib.asynccontextmanager
async def _session(w: WorkerContext) -> AsyncIterator[aiohttp.ClientSession]:
    """The worker's HTTP session, or one of its own for a context without (tests)."""
    if w.http is not None and not w.http.closed:
        yield w.http
        return
    async with aiohttp.ClientSession() as session:
        yield session


def _check_ref(ctx: dict[str, Any]) -> str:
    """An intake check's reference: its arq job id (the bot signs its link for that)."""
    return str(ctx.get("job_id", ""))


async def check_media(ctx: dict[str, Any], kind: str, digest: str) -> str:
    """Intake check of a photo or voice note: a :class:`MediaCheck` as JSON. A photo's face
    (``PhotoIntake``) stays in Redis beside the upload, for the render to reuse."""
    w = context(ctx)
    engine = w.rendering
    ref = _check_ref(ctx)
    try:
        path = await media_file(w, digest, kind, ref)
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
    finally:
        await drop_fetched(w, ref)


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


async def transcribe(ctx: dict[str, Any], digest: str, language: str = "") -> str | None:
    """Speech recognition of a voice note for the consent-phrase check, in ``language`` (the
    phrase's; "": the recognizer's own setting, detected by default). None: this worker has
    no recognizer, or the note cannot be read."""
    w = context(ctx)
    recognizer = w.asr
    if recognizer is None:
        return None
    from engine.asr import MAX_SECONDS, SAMPLE_RATE

    ref = _check_ref(ctx)
    try:
        path = await media_file(w, digest, "audio", ref)
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
    finally:
        await drop_fetched(w, ref)
    text: str = await asyncio.to_thread(_recognise, recognizer, audio, language)
    return text


def _recognise(recognizer: Any, audio: Any, language: str) -> str:
    """``recognizer.transcribe`` in ``language`` where it takes one per call (a recognizer
    without the parameter hears the note in its own setting's language)."""
    known = language in LANGUAGES  # a code of ours, never whatever a queue entry held
    if known and "language" in inspect.signature(recognizer.transcribe).parameters:
        return str(recognizer.transcribe(audio, language=language))
    return str(recognizer.transcribe(audio))


async def preview(ctx: dict[str, Any], kind: str, digest: str) -> str:
    """A small copy of an upload for a moderator's review (``kind`` "image" or "audio"), as
    :class:`MediaPreview` JSON: the photo downscaled, the voice note's first
    :data:`PREVIEW_SECONDS` re-encoded small. The upload is decoded in a jail, as at intake;
    the preview is encoded here from the decoded pixels or samples."""
    w = context(ctx)
    jail = _intake_jail(w)
    ref = _check_ref(ctx)
    try:
        path = await media_file(w, digest, kind, ref)
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
    finally:
        await drop_fetched(w, ref)


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
