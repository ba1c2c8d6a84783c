"""The chat process's Redis client: media hand-off, intake checks, notices, erasure, and
the job lifecycle's queue port (:class:`bot.contract.ports.JobQueue`, over
:mod:`bot.jobs`). Redis only.

Media travel through Redis by content hash (with a TTL), so the bot and the workers may
run on different machines that share nothing but Redis; a job whose copy expired gets a
fresh one from the bot's own file (:meth:`Queue.supply_media`). With ``shared=True`` (bot and
workers share the data folder) no bytes go to Redis: the workers read the bot's file. With
``links`` (the fetch hand-off, :mod:`bot.jobs.media_links`) no bytes go to Redis either: a
signed link to the bot's media server, one per upload and job (or intake check), signed
again whenever a job is supplied again.
Every arq record is JSON (:mod:`bot.jobs.redis`), never a pickle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import DeserializationError, deserialize_job, deserialize_result
from redis.exceptions import ResponseError

from bot.contract import texts
from bot.contract.errors import Busy
from bot.contract.events import ButtonSpec
from bot.contract.jobs import (
    INTAKE_QUEUE,
    TASK_CHECK_MEDIA,
    TASK_NOTIFY,
    TASK_NOTIFY_STAFF,
    TASK_PREVIEW,
    TASK_TRANSCRIBE,
    TASK_UNPOST,
    TASK_VERIFY_MEDIA,
    CancelOutcome,
    JobRecord,
    JobState,
    Keys,
    RenderJob,
    forget_token,
)
from bot.contract.ports import (
    ErasePlan,
    FaceFrame,
    JobEvent,
    MarkReport,
    MediaCheck,
    MediaPreview,
    Position,
    Posted,
    Unposted,
    posted_in,
)
from bot.jobs.book import JobBook
from bot.jobs.media_links import MediaLinks
from bot.jobs.queue import RenderQueue
from bot.jobs.redis import busy_when_full, connect, loads

__all__ = ["Queue", "PREVIEWS_AT_ONCE", "EVIDENCE_TTL"]

log = logging.getLogger(__name__)
#: previews one chat process asks the workers for at once (a /mod reviews shows up to ten)
PREVIEWS_AT_ONCE = 2
_NO_PREVIEWS_SECONDS = 60.0  # after a preview nobody answered, how long not to ask again
#: seconds Redis holds a file sent to /mod verify at most (it goes as soon as a worker read
#: it, or the bot stopped waiting): a bound for a bot that died while waiting
EVIDENCE_TTL = 300
#: an intake check's link outlives the bot's wait by this much (a worker that took the check
#: just before the wait ended can still fetch); the link's key goes when the wait ends
_INTAKE_LINK_GRACE = 60.0


class Queue:
    """What the bot process needs from Redis (implements the service's Gateway).

    ``shared``: the workers read the bot's own files (one data folder): uploads are not
    copied into Redis. ``links``: the workers fetch them from this process's media server
    with the signed links it puts in Redis instead. ``tombstone_seconds``: how long workers
    can still find a forgotten upload or job's tombstone; at least as long as a worker may
    keep a copy (its cache retention)."""

    def __init__(
        self,
        redis: ArqRedis,
        *,
        media_ttl: int = 86_400,
        intake_timeout: float = 20.0,
        tombstone_seconds: float = 2 * 86_400,
        shared: bool = False,
        links: MediaLinks | None = None,
    ) -> None:
        if shared and links is not None:
            raise ValueError("the workers either share the bot's folder or fetch: not both")
        self.redis = redis
        self.shared = shared
        self.links = links
        self.media_ttl = media_ttl
        self.intake_timeout = intake_timeout
        self.tombstone_seconds = tombstone_seconds
        self._poll = min(0.1, max(0.005, intake_timeout / 4))  # answer polls within the wait
        self.book = JobBook(redis)
        self.render = RenderQueue(redis, self.book)
        self._previews = asyncio.Semaphore(PREVIEWS_AT_ONCE)
        self._no_previews_until = 0.0
        self._group_ready = False

    @classmethod
    async def connect(cls, url: str, **kw: Any) -> Queue:
        return cls(await connect(url), **kw)

    async def close(self) -> None:
        await self.redis.aclose()

    @busy_when_full
    async def put_media(self, digest: str, data: bytes) -> None:
        if self.shared or self.links is not None:
            return  # the workers read the bot's file, or fetch it with a job's link
        await self.redis.set(Keys.media(digest), data, ex=self.media_ttl)

    @busy_when_full
    async def supply_media(self, digest: str, path: Path | None, job_id: str = "") -> bool:
        """Make sure a worker can fetch an upload now: keep the Redis copy another
        ``media_ttl`` seconds, or put a fresh one from the bot's file (``path``). False when
        neither exists (expired, or erased). Shared: whether the bot's file is there. Fetch:
        the same, and a fresh link for job ``job_id`` (a job supplied again, a retry or a
        review approved hours later, gets a new one)."""
        if self.shared or self.links is not None:
            there = path is not None and await asyncio.to_thread(path.is_file)
            if there and job_id and self.links is not None:
                await self._link(digest, "render", job_id, self.links.seconds)
            return there
        key = Keys.media(digest)
        if await self.redis.expire(key, self.media_ttl):
            return True
        try:
            data = await asyncio.to_thread(path.read_bytes) if path is not None else None
        except FileNotFoundError:
            data = None
        if data is None:
            return False
        await self.redis.set(key, data, ex=self.media_ttl)
        log.info("upload copied to redis again", extra={"bytes": len(data)})
        return True

    async def _link(self, digest: str, purpose: str, ref: str, seconds: float) -> None:
        """Put a signed link to upload ``digest`` for job (or check) ``ref`` where workers
        look for it, for as long as the link works."""
        assert self.links is not None
        lifetime = max(1, int(seconds))
        url = self.links.url(digest, purpose, ref, time.time(), lifetime)
        await self.redis.set(Keys.media_link(digest, ref), url, ex=lifetime)

    async def _intake(self, function: str, *args: str, timeout: float, upload: str = "") -> Any:
        """Run an intake function on a worker and read its answer, which is then deleted
        (its record holds an upload hash or a transcript); None when none came in time.
        ``upload``: the digest it reads; fetching, the check gets its own link (the arq
        job's id is its reference), gone with the wait."""
        ref = None
        if upload and self.links is not None:
            ref = secrets.token_hex(16)
            await self._link(upload, "intake", ref, timeout + _INTAKE_LINK_GRACE)
        job = await self.redis.enqueue_job(function, *args, _queue_name=INTAKE_QUEUE, _job_id=ref)
        try:
            if job is None:
                return None
            return await job.result(timeout=timeout, poll_delay=self._poll)
        except TimeoutError:
            log.warning("intake timed out", extra={"function": function})
            return None
        finally:
            done = [result_key_prefix + job.job_id] if job is not None else []
            if ref is not None:
                done.append(Keys.media_link(upload, ref))
            if done:
                await self.redis.delete(*done)

    @busy_when_full
    async def check_media(self, kind: str, digest: str) -> MediaCheck | None:
        """Ask a worker to validate an upload; None when no answer came in time."""
        raw = await self._intake(
            TASK_CHECK_MEDIA, kind, digest, timeout=self.intake_timeout, upload=digest
        )
        return MediaCheck.from_json(raw) if isinstance(raw, str) else None

    @busy_when_full
    async def transcribe(self, digest: str, language: str = "") -> str | None:
        """What a worker's speech recognition hears in a voice note (the consent phrase check),
        listening for ``language`` (the phrase's; "" or English: as before languages came, so
        a worker of an older version still answers); None when no worker answered in time or
        none has speech recognition."""
        args = (digest, language) if language and language != "en" else (digest,)
        text = await self._intake(
            TASK_TRANSCRIBE, *args, timeout=self.intake_timeout * 3, upload=digest
        )
        return text if isinstance(text, str) else None

    @busy_when_full
    async def notify(self, platform: str, chat_id: str, text: str, job_id: str = "") -> None:
        """Have a worker send ``text`` to a chat (the bot process has no delivery of its own
        outside a conversation: an expired review's requester is told this way)."""
        await self.redis.enqueue_job(
            TASK_NOTIFY, platform, chat_id, text, job_id, _queue_name=INTAKE_QUEUE
        )

    async def preview(self, kind: str, digest: str) -> MediaPreview | None:
        """A worker's small copy of an upload for a moderator's review (``kind`` "image" or
        "audio"); None when no worker answered in time (then, for a minute, None at once: a
        view of ten previews waits for one timeout, not ten). At most
        :data:`PREVIEWS_AT_ONCE` are asked for at once by this process (each answer is held
        in memory until sent)."""
        async with self._previews:
            if time.monotonic() < self._no_previews_until:
                return None  # no worker answered a moment ago: the view is not held up again
            try:
                ask = busy_when_full(self._intake)
                raw = await ask(
                    TASK_PREVIEW, kind, digest, timeout=self.intake_timeout, upload=digest
                )
            except Busy:
                return None
            except Exception:  # the worker's call failed: a review without this preview
                log.warning("preview failed", exc_info=True)
                return None
            if raw is None:
                self._no_previews_until = time.monotonic() + _NO_PREVIEWS_SECONDS
        try:
            return MediaPreview.from_json(raw) if isinstance(raw, str) else None
        except ValueError:
            log.warning("unreadable preview")
            return None

    async def photo_face(self, digest: str) -> FaceFrame | None:
        """Where a worker's intake check found the face in a photo (it keeps its finding
        beside the upload, :meth:`Keys.intake`), for the studio's preview; None when Redis
        no longer holds it or it is not one."""
        raw = await self.redis.get(Keys.intake(digest))
        if raw is None:
            return None
        try:
            found = json.loads(raw)
            (width, height), (x, y, w, h) = found["size"], found["face"]
            frame = FaceFrame(*(int(v) for v in (width, height, x, y, w, h)))
        except (ValueError, TypeError, KeyError):
            return None
        return frame if frame.width > 0 and frame.height > 0 else None

    # ---- /mod verify ---------------------------------------------------------------------
    @busy_when_full
    async def expect_file(self, platform: str, user_id: str, request: str, seconds: int) -> None:
        """Keep a moderator's ``/mod verify`` request for ``seconds``: their next file is
        checked (a restart of the bot keeps it: it lives in Redis)."""
        await self.redis.set(Keys.expected_file(platform, user_id), request, ex=seconds)

    @busy_when_full
    async def expected_file(self, platform: str, user_id: str) -> str | None:
        raw = await self.redis.get(Keys.expected_file(platform, user_id))
        return raw.decode(errors="replace") if isinstance(raw, bytes) else raw

    @busy_when_full
    async def drop_expected_file(self, platform: str, user_id: str) -> None:
        await self.redis.delete(Keys.expected_file(platform, user_id))

    @busy_when_full
    async def verify_media(self, data: bytes) -> MarkReport | None:
        """A worker's reading of a file's marks (``/mod verify``); None when no worker
        answered in time. The bytes go to Redis under a random reference, never to a
        file, and are deleted once the wait is over (:data:`EVIDENCE_TTL` at most)."""
        ref = secrets.token_hex(16)
        key = Keys.evidence(ref)
        await self.redis.set(key, data, ex=EVIDENCE_TTL)
        try:
            raw = await self._intake(TASK_VERIFY_MEDIA, ref, timeout=self.intake_timeout * 3)
        finally:
            await self.redis.delete(key)
        if not isinstance(raw, str):
            return None
        try:
            return MarkReport.from_json(raw)
        except ValueError:
            log.warning("unreadable mark report")
            return None

    @busy_when_full
    async def posted(self, job_id: str) -> tuple[Posted, ...]:
        """The messages the job's live record says were posted for it (its status message,
        its video): the store keeps them too, once the job is closed."""
        record = await self.book.read(job_id)
        return posted_in(record) if record is not None else ()

    async def unpost(
        self, platform: str, chat_id: str, messages: tuple[Posted, ...]
    ) -> tuple[Unposted, ...]:
        """Have a worker delete these messages in the chat (a takedown): each one's outcome.
        When no worker answers in time, or Redis refuses the request, none was removed."""
        if not messages:
            return ()
        wanted = json.dumps([{"kind": m.kind, "message_id": m.message_id} for m in messages])
        try:
            ask = busy_when_full(self._intake)
            raw = await ask(TASK_UNPOST, platform, chat_id, wanted, timeout=self.intake_timeout * 3)
            outcomes = Unposted.from_json(raw) if isinstance(raw, str) else None
        except (Busy, ValueError):
            outcomes = None
        except Exception:  # the worker's call failed: what it did is not known here
            log.warning("unpost failed", exc_info=True)
            outcomes = None
        if outcomes is None:
            return tuple(
                Unposted(m.kind, m.message_id, False, texts.UNPOST_NO_WORKER) for m in messages
            )
        return outcomes

    @busy_when_full
    async def notify_staff(
        self, platform: str, chat_id: str, text: str, buttons: tuple[ButtonSpec, ...]
    ) -> None:
        """Have a worker post ``text`` with ``buttons`` that anyone there may press (the core
        judges each press): a review request in a moderators' channel or an operator's chat."""
        await self.redis.enqueue_job(
            TASK_NOTIFY_STAFF,
            platform,
            chat_id,
            text,
            [[b.label, b.action, b.value] for b in buttons],
            _queue_name=INTAKE_QUEUE,
        )

    @busy_when_full
    async def erase(self, plan: ErasePlan) -> None:
        """Remove from Redis everything of an erasure: upload copies, the jobs' status and
        delivery records, arq's job and result records naming the jobs or uploads (scripts,
        hashes, transcripts), the person's fair-queue round; then leave tombstones (hashes
        only) so every worker removes its copies too."""
        keys = [k for d in plan.digests for k in (Keys.media(d), Keys.intake(d))]
        keys += await self._links_of({*plan.digests, *plan.job_ids})
        for job_id in plan.job_ids:
            keys += [Keys.job(job_id), Keys.delivered(job_id), Keys.arq_job(job_id)]
            keys.append(Keys.preview(job_id))
            keys.append(result_key_prefix + job_id)
            batch = await self.redis.hget(Keys.job(job_id), "batch")  # type: ignore[misc]
            if batch:  # the batch's routing and status message go with its jobs
                keys += [Keys.batch(batch.decode()), Keys.batch_jobs(batch.decode())]
        if plan.user is not None:
            keys.append(Keys.fair_user(plan.platform, plan.user))
            keys.append(Keys.expected_file(plan.platform, plan.user))
        if keys:
            await self.redis.delete(*keys)
        if plan.job_ids:
            await self.redis.srem(Keys.ACTIVE, *plan.job_ids)  # type: ignore[misc]
        await self._erase_arq_records(plan)
        await self._tombstones((*plan.digests, *plan.job_ids))

    async def _links_of(self, erased: set[str]) -> list[str]:
        """The keys of every signed link (the fetch hand-off) to an erased upload or for an
        erased job."""
        if not erased:
            return []
        found = []
        async for key in self.redis.scan_iter(match=Keys.media_link("*", "*"), count=500):
            name = key.decode() if isinstance(key, bytes) else str(key)
            _, _, digest, ref = name.split(":", 3)  # mouthpiece:media-link:<digest>:<ref>
            if digest in erased or ref in erased:
                found.append(name)
        return found

    async def _erase_arq_records(self, plan: ErasePlan) -> None:
        """arq keeps each intake and render call (arguments, and a result for a while):
        delete those whose arguments name an erased upload or job, or the erased person."""
        needles = {*plan.digests, *plan.job_ids}
        for prefix, read in (
            (job_key_prefix, deserialize_job),
            (result_key_prefix, deserialize_result),
        ):
            async for key in self.redis.scan_iter(match=f"{prefix}*", count=500):
                raw = await self.redis.get(key)
                if raw is None:
                    continue
                try:
                    args = read(raw, deserializer=loads).args
                except DeserializationError:
                    continue
                if _names(args, needles, plan):
                    await self.redis.delete(key)

    async def _tombstones(self, refs: tuple[str, ...]) -> None:
        if not refs:
            return
        now = time.time()
        await self.redis.zadd(Keys.FORGOTTEN, {forget_token(r): now for r in refs})
        await self.redis.zremrangebyscore(Keys.FORGOTTEN, "-inf", now - self.tombstone_seconds)
        await self.redis.incr(Keys.FORGOTTEN_SEQ)

    # ---- the job lifecycle's queue port (bot.contract.ports.JobQueue) ---------------------
    async def enqueue(self, job: RenderJob) -> bool:
        return await self.render.enqueue(job)

    async def holds(self, job_id: str) -> bool:
        return await self.render.holds(job_id)

    async def position(self, job_id: str) -> Position | None:
        return await self.render.position(job_id)

    async def cancel(self, job_id: str) -> CancelOutcome:
        return await self.render.cancel(job_id)

    async def cancel_requested(self, job_id: str) -> bool:
        return bool(await self.redis.exists(Keys.cancel(job_id)))

    async def record(self, job_id: str) -> JobRecord | None:
        return await self.book.read(job_id)

    async def move(self, job_id: str, to: JobState, **fields: object) -> JobState | None:
        return await self.book.move(job_id, to, **fields)

    @busy_when_full
    async def events(self, consumer: str, block_ms: int) -> list[JobEvent]:
        """The next state changes for this bot process: first those another consumer took
        and never acknowledged (it died), then new ones (waiting up to ``block_ms``)."""
        await self._ensure_group()
        try:
            _, stale, *_ = await self.redis.xautoclaim(
                Keys.JOB_EVENTS, Keys.EVENTS_GROUP, consumer, min_idle_time=30_000, count=100
            )
            if stale:
                return await self._readable(stale)
            answer = await self.redis.xreadgroup(
                Keys.EVENTS_GROUP,
                consumer,
                {Keys.JOB_EVENTS: ">"},
                count=100,
                block=block_ms or None,
            )
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            self._group_ready = False  # Redis lost the stream (a restart without its files)
            return []
        return await self._readable([e for _, entries in answer or () for e in entries])

    async def _readable(self, entries: list[Any]) -> list[JobEvent]:
        """The events among stream entries; one that does not parse (written by anyone but
        the job book) is acknowledged and dropped, so it never blocks the ones after it."""
        events, junk = [], []
        for entry_id, fields in entries:
            event = _event(entry_id, fields or {})
            if event is None:
                junk.append(entry_id)
            else:
                events.append(event)
        if junk:
            log.warning("unreadable job events dropped", extra={"count": len(junk)})
            await self.ack(*junk)
        return events

    async def ack(self, *event_ids: str) -> None:
        if event_ids:
            await self.redis.xack(Keys.JOB_EVENTS, Keys.EVENTS_GROUP, *event_ids)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(
                Keys.JOB_EVENTS, Keys.EVENTS_GROUP, id="0", mkstream=True
            )
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._group_ready = True


def _event(entry_id: bytes | str, fields: dict[bytes, bytes]) -> JobEvent | None:
    """A stream entry as a :class:`JobEvent`; None when it is not one."""
    try:
        d = {k.decode(): v.decode() for k, v in fields.items()}
        to = JobState(d.get("to", ""))
        output_bytes = int(float(d.get("output_bytes") or 0))
    except (ValueError, UnicodeDecodeError):
        return None
    try:
        seconds = {str(k): float(v) for k, v in json.loads(d.get("seconds") or "{}").items()}
    except (ValueError, AttributeError):
        seconds = {}
    return JobEvent(
        id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        job_id=d.get("job", ""),
        was=d.get("from", ""),
        to=to,
        error=d.get("error", ""),
        output_bytes=output_bytes,
        seconds=seconds,
    )


def _names(args: tuple[Any, ...], needles: set[str], plan: ErasePlan) -> bool:
    """Whether a queued call's arguments name an erased upload or job (or, for a render,
    belong to the erased person)."""
    for arg in args:
        if not isinstance(arg, str):
            continue
        if arg in needles:
            return True
        if arg.startswith("{"):  # a render's payload
            try:
                data = json.loads(arg)
            except ValueError:
                continue
            if data.get("job_id") in needles or (
                plan.user is not None
                and (data.get("platform"), data.get("user_id")) == (plan.platform, plan.user)
            ):
                return True
    return False
