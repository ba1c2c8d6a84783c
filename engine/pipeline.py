"""Engine.render(): check inputs -> speech -> frames (lip sync, then motion) -> encode.

The engine builds its backends once (``Engine.__init__``) and renders many requests.
It reports progress and checks cancellation only through the callables it is given.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.avatars import LRU, PortraitWork
from engine.backends import create_lipsync, create_tts
from engine.errors import BackendUnavailable, Cancelled, InvalidInput
from engine.jail import Jail, JailLimits
from engine.lipsync.base import LipSyncBackend
from engine.motion import MAX_LEVEL, MotionGeometry, MotionStage, plan_motion
from engine.provenance.stamp import PERTH_SCHEME, Signing, Stamp, mark_track, new_job_id
from engine.settings import EngineSettings
from engine.tts.base import SpeechBackend
from engine.tts.refcache import ReferenceCache, file_sha256
from engine.types import (
    Audio,
    CancelCheck,
    PhotoIntake,
    Portrait,
    Progress,
    ProgressCallback,
    RenderOptions,
    RenderRequest,
    RenderResult,
    Speech,
    VoiceIntake,
    VoiceRef,
)

if TYPE_CHECKING:
    from engine.media.image import FaceDetector

__all__ = ["Engine", "VoiceCaches", "STAGES", "check_script"]

log = logging.getLogger(__name__)

#: Stage names in order, as reported through ``on_progress``.
STAGES = ("inputs", "speech", "video", "encode")
VOICE_RATE = 16_000  # what every speech backend receives
INTAKE_NICE = 10  # CPU priority of intake's jailed decodes (a render's own run at 0)


def _language_of(choice: str | None, script: str) -> str:
    """The code ``script`` is spoken in: ``choice`` checked, else detected (an unknown choice:
    a one-line InvalidInput naming the supported ones)."""
    from spoken_text.languages import resolve

    try:
        return resolve(choice, script)
    except ValueError as e:
        raise InvalidInput(f"{str(e)[:1].upper()}{str(e)[1:]}.", field="language") from e


def check_script(script: str, max_chars: int, language: str | None = None) -> str:
    """Return the script stripped, or raise InvalidInput saying what is wrong.

    ``max_chars`` bounds the script as typed (which also bounds the cost of normalising it)
    and as spoken (:func:`spoken_text.spoken`: numbers and symbols written out as words, what
    the speech backends say): "1234567" is 7 characters typed and 77 spoken.
    """
    from spoken_text import spoken

    text = " ".join(script.split())
    if not text:
        raise InvalidInput(
            "The script is empty: send the text you want the face to say.", field="script"
        )
    if len(text) > max_chars:
        raise InvalidInput(
            f"The script is {len(text)} characters long; the limit is {max_chars}. "
            "Shorten it or split it into several videos.",
            field="script",
        )
    if not any(ch.isalnum() for ch in text):
        raise InvalidInput("The script has no words to speak: send some text.", field="script")
    said = len(spoken(text, language or None))
    if said > max_chars:
        raise InvalidInput(
            f"Numbers and symbols are spoken as words, so the {len(text)}-character script "
            f"comes to {said} characters when read out; the limit is {max_chars}. Use fewer "
            "numbers or symbols, shorten it, or split it into several videos.",
            field="script",
        )
    return text


class VoiceCaches(ReferenceCache):
    """What the engine keeps derived from reference voices: the speech backends' work on disk
    (NeuTTS's codes in ``<cache_dir>/neutts``, Pocket TTS's voice states in
    ``<cache_dir>/pocket``, whichever backend runs now: an earlier run's entries are found
    too; ``forget(source)`` drops those of one voice file from both), and in memory the voice
    analyses and Pocket's latest states, keyed by audio rather than file (``clear_memory``
    drops them all)."""

    def __init__(self, folder: Path, *others: ReferenceCache) -> None:
        super().__init__(folder)
        self.others = others

    def sources(self) -> set[str]:
        found = super().sources()
        for other in self.others:
            found |= other.sources()
        return found

    def forget(self, source: str) -> int:
        return super().forget(source) + sum(o.forget(source) for o in self.others)

    def expire(self, max_age: float, now: float | None = None) -> int:
        return super().expire(max_age, now) + sum(o.expire(max_age, now) for o in self.others)

    def clear_memory(self) -> None:
        from engine.tts.pocket import forget_states
        from engine.tts.voicematch import forget_profiles

        forget_profiles()
        forget_states()


class Engine:
    """Renders talking videos. Build once per process; ``render`` many times."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        tts: SpeechBackend | None = None,
        lipsync: LipSyncBackend | None = None,
    ) -> None:
        self.settings = settings or EngineSettings.from_env()
        if not 0.0 <= self.settings.head_motion <= MAX_LEVEL:
            raise ValueError(
                f"MOUTHPIECE_HEAD_MOTION={self.settings.head_motion} must be between 0 (still) "
                f"and {MAX_LEVEL:g}"
            )
        if self.settings.avatar_cache < 0:
            raise ValueError(
                f"MOUTHPIECE_AVATAR_CACHE={self.settings.avatar_cache} must be 0 (keep no "
                "photo's work) or more"
            )
        self.tts = tts or create_tts(self.settings)
        self.lipsync = lipsync or create_lipsync(self.settings)
        self.jail: Jail | None = None
        self.intake_jail: Jail | None = None
        self._faces: FaceDetector | None = None
        self._signing = Signing(self.settings)  # the C2PA identity, loaded at the first render
        # per avatar (engine.avatars): the recent photos decoded with their face, by the file's
        # SHA-256 and what decoding depends on, and the motion stage's geometry of each
        self._portraits: LRU[tuple[str, int, int], Portrait] = LRU(self.settings.avatar_cache)
        self._motion_geometry: PortraitWork[MotionGeometry] = PortraitWork(
            self.settings.avatar_cache
        )
        if self.settings.provenance and self.settings.c2pa_cert:
            self._signing.identity()  # the operator's files: refused now, not once per video
        if self.settings.decode_jail:
            self.jail = Jail(JailLimits.of(self.settings))  # inputs are decoded there, never here
            self.intake_jail = Engine.intake_jail_for(self.settings)
        else:
            from engine.media.image import FaceDetector

            self._faces = FaceDetector()  # built once per engine, not per request
        log.info(
            "engine ready",
            extra={"tts": self.tts.name, "lipsync": self.lipsync.name, "jail": bool(self.jail)},
        )

    @staticmethod
    def intake_jail_for(settings: EngineSettings) -> Jail | None:
        """The jail intake checks and ``verify`` read untrusted files in: the render's bounds
        at a lower CPU priority (they never slow a render); None where the settings turn the
        jail off."""
        if not settings.decode_jail:
            return None
        return Jail(JailLimits.of(settings, nice=INTAKE_NICE))

    def close(self) -> None:
        """Release what the engine holds outside Python objects (the face detector's graphs)."""
        if self._faces is not None:
            self._faces.close()

    @property
    def needs_transcript(self) -> bool:
        return bool(self.tts.needs_transcript)

    @property
    def voice_cache(self) -> VoiceCaches:
        """Caches made from reference voices, by the SHA-256 of the voice file: a caller
        that erases a person's voice deletes what was derived from it here."""
        from engine.tts.pocket import state_cache

        cache = Path(self.settings.cache_dir)
        return VoiceCaches(cache / "neutts", state_cache(self.settings))

    # ---- what is kept in memory per photo (engine.avatars) ---------------------------
    def forget_photos(self, digests: Iterable[str]) -> int:
        """Drop everything kept in memory that was made from the photo files with these
        SHA-256 digests (the decoded image and its face, the lip-sync backend's and the motion
        stage's work): a caller that erases a person's photo leaves nothing of it here. How
        many entries were dropped. One digest alone may be passed as a string (not read as
        its characters)."""
        gone = {digests} if isinstance(digests, str) else set(digests)
        dropped = self._portraits.drop(lambda key: key[0] in gone)
        return dropped + sum(work.forget(gone) for work in self._photo_work())

    def photo_sources(self) -> set[str]:
        """The SHA-256 digests of the photo files something is kept in memory for."""
        held = {key[0] for key in self._portraits.held()}
        return held.union(*(work.sources() for work in self._photo_work()))

    def clear_memory(self) -> int:
        """Drop everything kept in memory from inputs: every photo's work (as
        ``forget_photos``) and the voice analyses. Entries on disk stay (``voice_cache``).
        How many photo entries were dropped."""
        dropped = self._portraits.clear() + sum(work.clear() for work in self._photo_work())
        self.voice_cache.clear_memory()
        return dropped

    def _photo_work(self) -> list[PortraitWork[Any]]:
        """The stages' work kept per photo: the motion stage's, and the lip-sync backend's
        when it keeps any (``portraits``)."""
        backend = getattr(self.lipsync, "portraits", None)
        kept: list[PortraitWork[Any]] = [self._motion_geometry]
        return kept + ([backend] if isinstance(backend, PortraitWork) else [])

    # ---- quick checks, for intake (no model runs) -------------------------------------
    def inspect_photo(self, path: Path) -> PhotoIntake:
        """Decode the photo and find its face; raise InvalidInput if it cannot be used. The
        result, passed as ``RenderRequest.photo_intake``, spares the render the face search."""
        digest, portrait = self._find_face(path, self.intake_jail)
        return PhotoIntake.of(digest, portrait)

    def inspect_voice(self, path: Path) -> VoiceIntake:
        """Decode the voice note and check it holds speech; raise InvalidInput if not."""
        voice = self._load_voice(path, None, self.intake_jail)
        assert voice.source is not None
        return VoiceIntake(voice.source, voice.audio.duration, ())

    # ---- the render ------------------------------------------------------------------
    def render(
        self,
        request: RenderRequest,
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> RenderResult:
        """Render ``request`` to ``request.output`` (written atomically) and describe it."""
        report = _Reporter(on_progress, should_cancel)
        timings: dict[str, float] = {}
        warnings: list[str] = []

        # 1. Check every input before any model runs.
        with _timed(timings, "inputs"):
            report("inputs", 0.0)
            script, voice, portrait = self._check_inputs(request)
            language = _language_of(request.language, script)
            warnings += portrait.warnings
            report("inputs", 1.0)

        # 2. Speech in (or toward) the reference voice.
        with _timed(timings, "speech"):
            report("speech", 0.0)
            speech = self.tts.synthesize(
                script, voice, language=language, should_cancel=report.cancelled
            )
            warnings += speech.warnings
            report("speech", 1.0)
        if speech.audio.duration <= 0.05:
            raise InvalidInput(
                "The script produced no speech: send words the voice can say.", field="script"
            )

        # 2b. Watermark the speech, whichever backend made it (before any encoding).
        if self.settings.watermark and not speech.watermarked:
            with _timed(timings, "watermark"):
                speech, note = _watermark(speech)
            if note:
                warnings.append(note)

        # 3 + 4. Frames stream from the lip-sync backend, through the motion stage (blinks,
        # head motion), straight into the encoder.
        opts = request.options
        n_frames = max(1, math.ceil((speech.audio.duration + opts.tail_seconds) * opts.fps))
        track = _pad_to(speech.audio, n_frames / opts.fps)
        # 3a. Provenance: the job's token in the muxed speech (the lip-sync backend hears the
        # speech as it was), and the manifest signed into the MP4 as it is written.
        job_id, token, sign = opts.job_id or new_job_id(), None, None
        if self.settings.provenance:
            with _timed(timings, "provenance"):
                track, token, note = mark_track(track, job_id)
            if note:
                warnings.append(note)
            sign = self._signing.signer(self._stamp(job_id, opts, speech, token))
        with _timed(timings, "video"):
            signed = self._encode(
                request, portrait, speech, track, n_frames, report, timings, sign, job_id
            )
        if sign is not None and not signed:
            warnings.append("The video carries no signed manifest (see the operator's log).")
        size = request.output.stat().st_size
        result = RenderResult(
            output=request.output,
            speech_seconds=speech.audio.duration,
            video_seconds=n_frames / opts.fps,
            frames=n_frames,
            size_bytes=size,
            stage_seconds=timings,
            warnings=tuple(dict.fromkeys(warnings)),
            tts_backend=speech.backend or self.tts.name,
            language=language,
            lipsync_backend=self.lipsync.name,
            watermarked=speech.watermarked,
            job_id=job_id,
            token=token,
            signed=signed,
        )
        log.info("render done", extra={"frames": n_frames, "seconds": timings})
        return result

    # ---- steps -----------------------------------------------------------------------
    def _check_inputs(self, request: RenderRequest) -> tuple[str, VoiceRef, Portrait]:
        opts = request.options
        if opts.fps <= 0 or opts.fps > 60:
            raise InvalidInput(f"fps must be between 1 and 60, not {opts.fps}.", field="options")
        if opts.max_bytes is not None and opts.max_bytes < 100_000:
            raise InvalidInput(
                f"--max-bytes {opts.max_bytes} is too small for a video; allow at least 100000.",
                field="options",
            )
        choice = request.language
        checked = None if not choice or choice == "auto" else _language_of(choice, "")
        script = check_script(request.script, self.settings.max_script_chars, checked)
        if self.needs_transcript and not (request.voice_text or "").strip():
            raise InvalidInput(
                f"The {self.tts.name} voice model needs the words spoken in the voice note: "
                "pass them with --voice-text.",
                field="voice",
            )
        portrait = self._portrait(request.photo, request.photo_intake)
        voice = self._load_voice(request.voice, request.voice_text)
        return script, voice, portrait

    def _photo_digest(self, path: Path) -> str:
        """The photo file's SHA-256, once the file is known to exist and not to be too large
        (the checks that need no decoding)."""
        _require_file(path, "photo")
        from engine.media.image import MAX_PHOTO_BYTES

        size = Path(path).stat().st_size
        if size > MAX_PHOTO_BYTES:
            raise InvalidInput(
                f"The photo is {size / 1e6:.0f} MB; the limit is {MAX_PHOTO_BYTES / 1e6:.0f} MB: "
                "send an ordinary photo.",
                field="photo",
            )
        return file_sha256(path)

    def _decode_photo(
        self, path: Path, *, find_face: bool, jail: Jail | None = None, digest: str | None = None
    ) -> tuple[str, np.ndarray, Any]:
        """The photo file's SHA-256, its decoded working image and, with ``find_face``, the
        face found in it (a :class:`Portrait`; None without). Decoded in the jail when the
        engine has one; the digest is always taken here, from the file (not the jail's word),
        unless the caller took it just before (``digest``)."""
        from engine.media.image import MAX_PHOTO_BYTES, load_photo

        digest = digest or self._photo_digest(path)
        jail = jail or self.jail
        if jail is not None:
            jailed = jail.photo(
                Path(path),
                find_face=find_face,
                max_pixels=self.settings.max_photo_pixels,
                working_size=self.settings.working_size,
                max_bytes=MAX_PHOTO_BYTES,
            )
            assert jailed.array is not None
            image = jailed.array
            found = None
            if find_face:
                found = PhotoIntake.from_json(jailed.header["intake"]).portrait(image)
            return digest, image, found
        from engine.media.image import find_face as search

        image = load_photo(
            Path(path).read_bytes(),
            max_pixels=self.settings.max_photo_pixels,
            working_size=self.settings.working_size,
        )
        assert self._faces is not None
        return digest, image, search(image, self._faces) if find_face else None

    def _find_face(
        self, path: Path, jail: Jail | None = None, digest: str | None = None
    ) -> tuple[str, Portrait]:
        digest, _, portrait = self._decode_photo(path, find_face=True, jail=jail, digest=digest)
        assert portrait is not None
        return digest, portrait

    def _portrait(self, path: Path, intake: PhotoIntake | None = None) -> Portrait:
        """The render's portrait of the photo: kept from an earlier render of a file with
        these exact bytes (an avatar: no decode, no face search), else loaded now."""
        digest = self._photo_digest(path)
        s = self.settings
        key = (digest, s.working_size, s.max_photo_pixels)  # what the decoded image depends on
        return self._portraits.get_or_make(key, lambda: self._load_portrait(path, intake, digest))

    def _load_portrait(
        self, path: Path, intake: PhotoIntake | None = None, digest: str | None = None
    ) -> Portrait:
        """The decoded photo with its face: the one ``intake`` found when it was made from
        these exact bytes (and decodes to its size), else found now. Named by the file's
        SHA-256 (``source``), and read-only: renders of the photo share it while it is kept."""
        digest = digest or self._photo_digest(path)
        portrait: Portrait | None = None
        if intake is not None:
            _, image, _ = self._decode_photo(path, find_face=False, digest=digest)
            if intake.digest == digest:
                try:
                    portrait = intake.portrait(image)
                except ValueError:
                    log.warning("photo intake made at another working size; finding the face")
            else:
                log.warning("photo intake is for other bytes; finding the face again")
        if portrait is None:
            portrait = self._find_face(path, digest=digest)[1]
        portrait.image.setflags(write=False)
        return replace(portrait, source=digest)

    def _load_voice(self, path: Path, transcript: str | None, jail: Jail | None = None) -> VoiceRef:
        _require_file(path, "voice")
        from engine.media.audio import clean_voice, voice_decode_seconds

        max_seconds = min(self.settings.max_voice_seconds, 15.0)
        audio = self._decode(path, VOICE_RATE, voice_decode_seconds(max_seconds), jail or self.jail)
        voice = clean_voice(  # samples, not a file: cleaned here whoever decoded them
            audio,
            transcript=transcript,
            min_seconds=self.settings.min_voice_seconds,
            max_seconds=max_seconds,
        )
        return replace(voice, source=file_sha256(path))  # names what caches derive from it

    def _decode(self, path: Path, sample_rate: int, max_seconds: float, jail: Jail | None) -> Audio:
        timeout = self.settings.decode_timeout
        if jail is not None:
            jailed = jail.audio(
                Path(path), sample_rate=sample_rate, max_seconds=max_seconds, timeout=timeout
            )
            return jailed.as_audio()
        from engine.media.audio import decode_audio

        return decode_audio(path, sample_rate=sample_rate, max_seconds=max_seconds, timeout=timeout)

    def _encode(
        self,
        request: RenderRequest,
        portrait: Portrait,
        speech: Speech,
        track: Audio,
        n_frames: int,
        report: _Reporter,
        timings: dict[str, float],
        sign: Callable[[Path, Path], None] | None = None,
        job_id: str = "",
    ) -> bool:
        """Encode the video; whether it was signed (``sign`` was given and did not fail)."""
        from engine.media.video import VideoWriter

        opts = request.options
        request.output.parent.mkdir(parents=True, exist_ok=True)
        # the job in the metadata too: the first mark a re-encode strips, the cheapest to read
        comment = f"AI-generated with Mouthpiece job {job_id}"
        metadata = {"encoder": "Mouthpiece", "comment": comment}
        metadata.update(dict(opts.metadata))
        unsigned: list[str] = []
        # The writer checks the byte budget against the length first: a video that cannot
        # fit is refused before the lip-sync backend makes a single frame.
        writer = VideoWriter(
            request.output,
            size=portrait.size,
            fps=opts.fps,
            audio=track,
            max_bytes=opts.max_bytes,
            n_frames=n_frames,
            metadata=metadata,
            sign=None if sign is None else _tolerant(sign, unsigned),
        )
        frames = self.lipsync.frames(portrait, speech, n_frames=n_frames, options=opts)
        motion = self._motion(portrait, speech, n_frames, opts)
        if motion is not None:
            frames = motion(frames)
        labelled = _labelled(frames, opts.label, opts.label_position)
        gen_seconds = write_seconds = 0.0
        with writer:
            written = 0
            it = iter(labelled)
            while True:
                t0 = time.perf_counter()
                frame = next(it, None)
                t1 = time.perf_counter()
                gen_seconds += t1 - t0
                if frame is None:
                    break
                writer.write(frame)
                write_seconds += time.perf_counter() - t1
                written += 1
                # after every frame: a Diff2Lip frame on CPU takes seconds, and both the
                # progress report and its cancellation check are cheap
                report("video", written / n_frames)
            if written != n_frames:
                raise RuntimeError(f"{self.lipsync.name} yielded {written} of {n_frames} frames")
            report("encode", 0.0)
            t0 = time.perf_counter()
        motion_seconds = motion.seconds if motion is not None else 0.0
        timings["lipsync"] = round(gen_seconds - motion_seconds, 4)
        timings["motion"] = round(motion_seconds, 4)
        timings["encode"] = round(write_seconds + time.perf_counter() - t0, 4)
        report("encode", 1.0)
        return sign is not None and not unsigned

    def _stamp(self, job_id: str, opts: RenderOptions, speech: Speech, token: int | None) -> Stamp:
        """What this render's manifest states: the tool's backends, the job, the consent
        method, the visible label and the marks in the speech."""
        marks: list[dict[str, str]] = []
        if speech.watermarked:
            marks.append({"scheme": PERTH_SCHEME})
        if token is not None:
            from engine.provenance.payload import SCHEME

            marks.append({"scheme": SCHEME, "token": f"0x{token:08x}"})
        return Stamp(
            job_id,
            backends={"tts": speech.backend or self.tts.name, "lipsync": self.lipsync.name},
            consent=opts.consent,
            label=opts.label,
            watermarks=marks,
        )

    def _motion(
        self, portrait: Portrait, speech: Speech, n_frames: int, opts: RenderOptions
    ) -> MotionStage | None:
        """Blinks and head motion for this render, or None when both are off (the backend's
        frames then reach the encoder untouched)."""
        level = self.settings.head_motion if opts.head_motion else 0.0
        blinks = self.settings.blinks and opts.blinks
        plan = plan_motion(speech, n_frames, opts.fps, seed=opts.seed, blinks=blinks, level=level)
        if plan.still:
            return None
        return MotionStage(portrait, plan, self._motion_geometry.get(portrait, MotionGeometry))


class _Reporter:
    """Sends progress and raises Cancelled when the caller asks to stop."""

    def __init__(self, on_progress: ProgressCallback | None, should_cancel: CancelCheck | None):
        self._on_progress = on_progress
        self._should_cancel = should_cancel

    def cancelled(self) -> bool:
        return bool(self._should_cancel and self._should_cancel())

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        if self.cancelled():
            raise Cancelled(f"cancelled during {stage}")
        if self._on_progress:
            try:
                self._on_progress(Progress(stage, min(1.0, max(0.0, fraction)), message))
            except Exception:  # a broken progress sink must not break the render
                log.exception("progress callback failed")


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - t0, 4)


def _tolerant(
    sign: Callable[[Path, Path], None], failed: list[str]
) -> Callable[[Path, Path], None]:
    """``sign``, except that a failure of the signer leaves the video unsigned (a copy) and
    says so in ``failed``, rather than costing the user their video. A full disk still
    fails the write (the copy fails too)."""

    def run(src: Path, dst: Path) -> None:
        try:
            sign(src, dst)
        except Exception as e:
            log.error("signing the video failed", exc_info=True)
            failed.append(f"{type(e).__name__}: {e}")
            shutil.copyfile(src, dst)

    return run


def _watermark(speech: Speech) -> tuple[Speech, str | None]:
    """The speech with the Perth watermark, or unchanged with a warning (never raises)."""
    from dataclasses import replace

    try:
        from engine.watermark import apply_watermark

        return replace(speech, audio=apply_watermark(speech.audio), watermarked=True), None
    except BackendUnavailable as e:
        return speech, f"The speech is not watermarked: {e}"
    except ImportError as e:
        return speech, f"The speech is not watermarked: {e} (pip install 'mouthpiece[neutts]')"
    except Exception as e:  # the watermark must never cost the user their video
        log.exception("watermarking failed")
        return speech, f"The speech is not watermarked: {type(e).__name__}: {e}"


def _require_file(path: Path, field: str) -> None:
    if not Path(path).is_file():
        raise InvalidInput(f"The {field} file {str(path)!r} does not exist.", field=field)


def _pad_to(audio: Audio, seconds: float) -> Audio:
    """Pad with silence (or trim) so the track lasts exactly ``seconds``."""
    n = round(seconds * audio.sample_rate)
    samples = audio.samples[:n]
    if len(samples) < n:
        samples = np.concatenate([samples, np.zeros(n - len(samples), dtype=np.float32)])
    return Audio(samples.astype(np.float32, copy=False), audio.sample_rate)


def _labelled(
    frames: Iterator[np.ndarray], label: str | None, position: str
) -> Iterator[np.ndarray]:
    if not label:
        yield from frames
        return
    from engine.media.label import Label

    stamp: Label | None = None
    for frame in frames:
        if stamp is None:
            stamp = Label(label, size=(frame.shape[1], frame.shape[0]), position=position)
        yield stamp.apply(frame)
