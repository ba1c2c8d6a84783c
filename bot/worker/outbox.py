"""What the worker sends to a chat: the video (once: :mod:`bot.jobs.delivery`), a failure
notice (once), a preview of a long video (at most once, best effort: :func:`send_preview`), a
line for the bot (:func:`notify`); and what it takes back for the bot: the messages posted for
a job a moderator took down (:func:`unpost`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from bot.contract import texts
from bot.contract.events import WEB_CHAT
from bot.contract.jobs import JOB_RECORDS_TTL, DeliveryMark, Keys, RenderJob
from bot.contract.ports import Posted, Unposted
from bot.jobs.delivery import Claim, Resend, claim, mark_of, release, settle
from bot.settings import BotSettings
from bot.worker.context import WorkerContext, context
from bot.worker.delivery.discord import DiscordDelivery
from bot.worker.delivery.http import DeliveryError
from bot.worker.delivery.telegram import TelegramDelivery

__all__ = [
    "messengers",
    "deliver",
    "deliver_once",
    "preview_wanted",
    "claim_preview",
    "preview_failed",
    "send_preview",
    "tell",
    "notify",
    "unpost",
    "AlreadySent",
    "SomeoneSending",
    "RESEND",
]

log = logging.getLogger(__name__)
#: how each platform may resend after a sender died mid-send (see bot.jobs.delivery)
RESEND = {"discord": Resend.ALWAYS, "telegram": Resend.ONCE}
#: a shutdown waits this long for a send already under way (and its mark) before it gives
#: up on it; within the worker's stop grace period (1 min in docker-compose.yml)
SEND_GRACE_SECONDS = 45.0


class AlreadySent(Exception):
    """The job's video (or its failure notice) already reached the chat: nothing to send."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(claim.value)
        self.claim = claim


class SomeoneSending(Exception):
    """Another worker holds the delivery claim right now: try again after its lease."""


def messengers(settings: BotSettings, session: aiohttp.ClientSession) -> dict[str, Any]:
    """The platforms this worker can reach (those whose token is set)."""
    out: dict[str, Any] = {}
    if settings.telegram_bot_token:
        out["telegram"] = TelegramDelivery(
            session, settings.telegram_api_base_url, settings.telegram_bot_token
        )
    if settings.discord_bot_token:
        out["discord"] = DiscordDelivery(
            session, settings.discord_api_base_url, settings.discord_bot_token
        )
    return out


async def deliver(w: WorkerContext, job: RenderJob, video: Path | None, message: str) -> str | None:
    """Send the video (or ``message``) to the job's chat on its platform; the video's
    message id (Telegram's ``message_id``, Discord's ``id``), for a takedown to delete.

    A job asked in the web studio (:data:`WEB_CHAT`) goes to no platform: its video stays
    where the worker wrote it, on the shared data volume, for the person's browser to fetch;
    its failure is the job record's, which the studio shows."""
    if job.chat_id == WEB_CHAT:
        return None
    target = w.messengers.get(job.platform)
    if target is None:
        raise DeliveryError(f"no token for platform {job.platform!r}", retryable=False)
    if video is None:
        await target.send_text(job.chat_id, message)
        return None
    caption = texts.VIDEO_CAPTION
    if job.title:  # a batch's row may name its video
        caption = texts.TITLED_CAPTION.format(title=job.title, caption=caption)
    answer = await target.send_video(job.chat_id, video, caption[:1024], key=job.job_id)
    posted = (answer.get("message_id") or answer.get("id")) if isinstance(answer, dict) else None
    return str(posted) if posted else None


async def _claim(w: WorkerContext, job: RenderJob) -> Claim:
    lease = w.settings.delivery_lease_seconds
    return await claim(w.pool, job.job_id, lease, RESEND.get(job.platform, Resend.ONCE))


async def deliver_once(w: WorkerContext, job: RenderJob, video: Path) -> None:
    """Send the video under the job's delivery claim, then mark it delivered.

    Raises :class:`AlreadySent` (a video or notice went out before), :class:`SomeoneSending`
    (another worker's claim is live) or :class:`DeliveryError` (the platform refused: the
    claim is released, unless the send's outcome is unknown, when it counts as sent once)."""
    got = await _claim(w, job)
    if got in (Claim.VIDEO, Claim.NOTICE):
        raise AlreadySent(got)
    if got == Claim.BUSY:
        raise SomeoneSending(job.job_id)
    if got == Claim.GAVE_UP:  # sent once and resent once, both unconfirmed: stop there
        log.warning("delivery unconfirmed; not sent again", extra={"job_id": job.job_id})
        await settle(w.pool, job.job_id, DeliveryMark.VIDEO)
        return
    if got == Claim.RESEND:
        log.warning(
            "an earlier send may have gone out; sending again", extra={"job_id": job.job_id}
        )
    await _finish_sending(_send_video(w, job, video), job.job_id)


async def _send_video(w: WorkerContext, job: RenderJob, video: Path) -> None:
    try:
        posted = await (w.deliver or deliver)(w, job, video, "")
    except DeliveryError as e:
        _failed_delivery(w, job)
        if not e.unsure:
            await release(w.pool, job.job_id)
        raise
    if posted:  # kept with the job (the bot copies it into its history): a takedown deletes it
        await w.book.note(job.job_id, video_msg_id=posted)
    await settle(w.pool, job.job_id, DeliveryMark.VIDEO)


async def _finish_sending(sending: Awaitable[None], job_id: str) -> None:
    """Run a claimed send to its mark, even through a shutdown's cancel.

    A send cut off between the platform's answer and the mark leaves a claim nobody can
    read: the next try would render again (the uploads may be gone by then) and send again
    (Telegram) or tell the user it failed after the video went out. So a cancel waits up to
    :data:`SEND_GRACE_SECONDS` for the send and its mark, then goes on as a cancel."""
    task = asyncio.ensure_future(sending)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            log.info("finishing a send before stopping", extra={"job_id": job_id})
            done, _ = await asyncio.wait((task,), timeout=SEND_GRACE_SECONDS)
            if not done:
                task.cancel()
                log.warning("send cut off by shutdown; the claim decides", extra={"job_id": job_id})
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("send failed while stopping", extra={"job_id": job_id})
        raise


def _failed_delivery(w: WorkerContext, job: RenderJob) -> None:
    metrics = w.metrics
    if metrics is not None:
        metrics.delivery_failures.labels(platform=job.platform).inc()


async def preview_wanted(w: WorkerContext, job: RenderJob) -> bool:
    """Whether a preview of the job may still go to its chat: a platform chat this worker
    reaches, no preview sent or tried by an earlier run (:meth:`Keys.preview`), and nothing of
    the job's delivery begun (no claim, no video, no notice: :mod:`bot.jobs.delivery`)."""
    if job.chat_id == WEB_CHAT or job.platform not in w.messengers:
        return False
    if await w.pool.exists(Keys.preview(job.job_id)):
        return False
    return await mark_of(w.pool, job.job_id) is None


async def claim_preview(w: WorkerContext, job: RenderJob) -> bool:
    """Take the job's one preview (``SET NX``), just before sending it: whoever gets False
    sends nothing. Taken before the send, never released: a preview goes out at most once
    (a run that dies after this, or a send whose answer is lost, leaves no preview)."""
    key = Keys.preview(job.job_id)
    return bool(await w.pool.set(key, "sending", nx=True, ex=JOB_RECORDS_TTL))


async def preview_failed(w: WorkerContext, job: RenderJob) -> None:
    """The preview could not be made: later runs (a retry) do not try again."""
    await w.pool.set(Keys.preview(job.job_id), "failed", nx=True, ex=JOB_RECORDS_TTL)


async def send_preview(w: WorkerContext, job: RenderJob, video: Path) -> bool:
    """Send the preview claimed with :func:`claim_preview` to the job's chat, with its caption;
    whether the platform took it. Best effort: a refusal is logged, never raised, and never
    sent again (the mark says ``failed``; an unsure send keeps ``sending``). Discord gets a
    nonce of its own (not the video's), so its retries inside this send post one message."""
    key = Keys.preview(job.job_id)
    target = w.messengers.get(job.platform)
    try:
        if target is None:
            raise DeliveryError(f"no token for platform {job.platform!r}", retryable=False)
        answer = await target.send_video(
            job.chat_id, video, texts.PREVIEW_CAPTION, key=f"{job.job_id}:preview"
        )
    except DeliveryError as e:
        log.warning(
            "preview not delivered",
            extra={"job_id": job.job_id, "platform": job.platform, "error": str(e)[:200]},
        )
        if not e.unsure:
            with contextlib.suppress(RedisError):
                await w.pool.set(key, "failed", xx=True, keepttl=True)
        return False
    posted = (answer.get("message_id") or answer.get("id")) if isinstance(answer, dict) else None
    with contextlib.suppress(RedisError):  # still "sending": never sent again all the same
        await w.pool.set(key, f"sent:{posted or ''}", xx=True, keepttl=True)
        if posted:  # kept with the job, as the video's id is: a takedown deletes it too
            await w.book.note(job.job_id, preview_msg_id=str(posted))
    log.info("preview delivered", extra={"job_id": job.job_id, "platform": job.platform})
    return True


async def tell(w: WorkerContext, job: RenderJob, message: str) -> bool:
    """A failure notice, at most once per job, never after the video. False when nothing
    was sent (a video or notice went out before, another worker is sending, the platform
    refused: a failing platform does not hide the job's final state). The reason goes into
    the job's record first, so a re-run after the notice can say why."""
    await w.book.note(job.job_id, error=message[:200])
    got = await _claim(w, job)
    if got not in (Claim.SEND, Claim.RESEND):
        return False
    await _finish_sending(_send_notice(w, job, message), job.job_id)
    return True


async def _send_notice(w: WorkerContext, job: RenderJob, message: str) -> None:
    try:
        await (w.deliver or deliver)(w, job, None, message)
    except DeliveryError:
        _failed_delivery(w, job)
        log.warning("failure notice not delivered", extra={"job_id": job.job_id})
    await settle(w.pool, job.job_id, DeliveryMark.NOTICE)


async def notify(
    ctx: dict[str, Any], platform: str, chat_id: str, text: str, job_id: str = ""
) -> None:
    """Send a line to a chat for the bot (an expired review's requester, a lost job); none
    to a web studio (its page shows the job's state)."""
    if chat_id == WEB_CHAT:
        return
    target = context(ctx).messengers.get(platform)
    if target is None:
        log.warning("no messenger for a notice", extra={"platform": platform})
        return
    try:
        await target.send_text(chat_id, text)
    except DeliveryError:
        log.warning("notice not delivered", extra={"job_id": job_id})


async def unpost(ctx: dict[str, Any], platform: str, chat_id: str, messages: str) -> str:
    """Delete messages the bot posted in a chat for a job a moderator took down (its video,
    its status message; ``messages``: JSON ``[{"kind", "message_id"}]``). Each one's outcome
    (:class:`~bot.contract.ports.Unposted`), as JSON: removed, or the platform's reason."""
    target = context(ctx).messengers.get(platform)
    wanted = [Posted(str(d["kind"]), str(d["message_id"])) for d in json.loads(messages)]
    out: list[Unposted] = []
    for m in wanted:
        if target is None:
            out.append(Unposted(m.kind, m.message_id, False, texts.UNPOST_NO_ACCESS))
            continue
        try:
            reason = await target.delete_message(chat_id, m.message_id)
        except DeliveryError:
            reason = texts.UNPOST_PLATFORM_FAILING
        except Exception as e:  # ours (an id that is not one): said, not raised
            log.warning("posted message not deleted", extra={"error": type(e).__name__})
            reason = type(e).__name__
        out.append(Unposted(m.kind, m.message_id, not reason, reason))
    log.info(
        "posted messages deleted",
        extra={"platform": platform, "removed": sum(o.removed for o in out), "of": len(out)},
    )
    return Unposted.to_json(tuple(out))
