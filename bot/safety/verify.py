"""``/mod verify``: a moderator checks a video file's marks, and which job of theirs made it.

1. ``/mod verify`` (``everywhere``: operators) stores a :class:`VerifyRequest` for the
   moderator: where they asked and the scope they look in, with their authority checked
   there and then. It lives in Redis through the gateway (:meth:`Gateway.expect_file`) and
   expires after :data:`VERIFY_WAIT_SECONDS`: the wait is short and useless without Redis
   (the file reaches a worker only through it), and Redis outlives a restart of the chat
   process, so a restarted bot still takes the file; nothing is left to purge.
2. Their next file, in that chat or their direct messages with the bot (where a private
   answer reaches them), is taken for it (:meth:`Verifier.awaited`); a file sent with the
   command itself (a Telegram caption, Discord's option) needs no wait
   (:meth:`Verifier.at_once`). The conversation downloads it within the usual limits.
3. :meth:`Verifier.check`: a worker reads every mark (:mod:`engine.verify`, in its decode
   jail) from a copy in Redis only: someone's evidence, never an upload, it is neither
   stored nor remembered. The audit log maps the token or job id to jobs of the moderator's
   scope (:meth:`~bot.safety.records.log.ModLog.marked`); the answer is private, and the
   moderators' log keeps the marks found, never the file.

A server's moderators learn nothing of other servers: a mark that maps to a job elsewhere is
answered exactly as one that maps to none.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from bot.contract import texts
from bot.contract.events import Action, Reply, Who
from bot.contract.ports import Gateway, MarkReport
from bot.safety import moderation
from bot.safety.policy import scope_of
from bot.safety.records import ModLog
from job_marks.lookup import MarkedJob

__all__ = ["VERIFY_WAIT_SECONDS", "VerifyRequest", "Verifier", "report_text"]

#: how long ``/mod verify`` waits for the moderator's file
VERIFY_WAIT_SECONDS = 600
#: the marks' lines as shown, at most (the file's own claims among them: its maker's words),
#: so the jobs found after them fit one message on every platform (Discord: 2000 characters)
_LINE_CHARS = 200
_MARKS_CHARS = 1200
_JOBS_SHOWN = 5


@dataclass(frozen=True)
class VerifyRequest:
    """A moderator's ``/mod verify``: who, where it was asked (``chat_id``), and the scope
    the file's marks are looked up in (``scope``: their server, "" the DMs; ``everywhere``:
    every scope, for operators), decided when they asked."""

    platform: str
    user_id: str
    chat_id: str
    scope: str
    everywhere: bool = False

    def takes(self, who: Who) -> bool:
        """Whether a file from ``who`` is the one this request waits for: theirs, sent where
        they asked or in their direct messages with the bot."""
        mine = (who.platform, who.user_id) == (self.platform, self.user_id)
        return mine and (who.chat_id == self.chat_id or who.guild_id is None)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> VerifyRequest | None:
        """None when ``raw`` is not a request (written by anything but :meth:`to_json`)."""
        try:
            d = json.loads(raw)
            fields = (d["platform"], d["user_id"], d["chat_id"], d["scope"])
            if not all(isinstance(f, str) for f in fields):
                return None
            return cls(*fields, everywhere=d.get("everywhere") is True)
        except (ValueError, TypeError, KeyError):
            return None


class Verifier:
    """``/mod verify`` over the moderators' log and the gateway (passed in). Authority is the
    desk's: it calls :meth:`expect` and :meth:`at_once` only for a moderator allowed the
    scope asked for."""

    def __init__(self, log: ModLog, gateway: Gateway) -> None:
        self.log = log
        self.gateway = gateway

    @staticmethod
    def at_once(who: Who, everywhere: bool) -> VerifyRequest:
        """The request of a ``/mod verify`` that came with its file."""
        return VerifyRequest(
            who.platform, who.user_id, who.chat_id, scope_of(who.guild_id), everywhere
        )

    async def expect(self, who: Who, everywhere: bool) -> list[Action]:
        """``/mod verify`` without a file: wait for the next one."""
        request = self.at_once(who, everywhere)
        await self.gateway.expect_file(
            who.platform, who.user_id, request.to_json(), VERIFY_WAIT_SECONDS
        )
        return [Reply(texts.MOD_VERIFY_SEND, private=True)]

    async def awaited(self, who: Who) -> VerifyRequest | None:
        """The request a file from ``who`` answers, taken (one file per request); None when
        none waits for it: the file goes on as any other."""
        raw = await self.gateway.expected_file(who.platform, who.user_id)
        if raw is None:
            return None
        request = VerifyRequest.from_json(raw)
        if request is not None and not request.takes(who):
            return None
        await self.gateway.drop_expected_file(who.platform, who.user_id)
        return request

    async def check(self, request: VerifyRequest, data: bytes) -> list[Action]:
        """A worker reads the file's marks; the answer names the jobs they map to in the
        request's scope. The file is not kept anywhere."""
        report = await self.gateway.verify_media(data)
        if report is None:
            return [Reply(texts.MOD_VERIFY_NO_WORKER, private=True)]
        if report.reason:
            await self._log(request, texts.MOD_VERIFY_LOG_UNREADABLE)
            reason = _shown(report.reason)
            return [Reply(texts.MOD_VERIFY_UNREADABLE.format(reason=reason), private=True)]
        scope = None if request.everywhere else request.scope
        jobs = await self.log.marked(request.platform, scope, report.token, report.job_id)
        await self._log(request, _log_detail(report, jobs))
        return [Reply(report_text(report, jobs, everywhere=request.everywhere), private=True)]

    async def _log(self, request: VerifyRequest, detail: str) -> None:
        await self.log.log_action(
            request.platform, request.scope, request.user_id, "mod verify", detail
        )


def report_text(report: MarkReport, jobs: list[MarkedJob], *, everywhere: bool) -> str:
    """The answer: what each mark says (the worker's lines, shown as plain bounded text: the
    file's claims are its maker's words), then the jobs found, or one line saying none."""
    lines, room = [texts.MOD_VERIFY_HEAD], _MARKS_CHARS
    for line in map(_shown, report.lines):
        room -= len(line) + 1
        if room < 0:
            lines.append("…")
            break
        lines.append(line)
    if report.token is None and report.job_id is None:
        lines.append(texts.MOD_VERIFY_NO_MARK)
    elif not jobs:
        lines.append(texts.MOD_VERIFY_NO_JOB if everywhere else texts.MOD_VERIFY_NO_JOB_HERE)
    for job in jobs[:_JOBS_SHOWN]:
        where = (
            texts.MOD_VERIFY_IN.format(scope=moderation.scope_name(job.scope))
            if everywhere
            else texts.MOD_VERIFY_HERE
        )
        lines.append(
            texts.MOD_VERIFY_JOB.format(
                job=job.job_id,
                user=job.user_id,
                where=where,
                at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(job.at)),
                status=texts.MOD_TAKEN_DOWN_STATE if job.taken_down else job.status,
            )
        )
    return "\n".join(lines)


def _shown(line: str) -> str:
    """One printable line of at most :data:`_LINE_CHARS` characters (its indent kept)."""
    indent = "  " if line.startswith("  ") else ""
    flat = indent + " ".join("".join(c if c.isprintable() else " " for c in line).split())
    return flat if len(flat) <= _LINE_CHARS else flat[: _LINE_CHARS - 1] + "…"


def _log_detail(report: MarkReport, jobs: list[MarkedJob]) -> str:
    token = report.token
    mark = (
        texts.MOD_VERIFY_LOG_TOKEN.format(token=f"0x{token:08x}")
        if token is not None
        else texts.MOD_VERIFY_LOG_NO_TOKEN
    )
    found = (
        texts.MOD_VERIFY_LOG_JOBS.format(jobs=", ".join(j.job_id[:8] for j in jobs[:_JOBS_SHOWN]))
        if jobs
        else texts.MOD_VERIFY_LOG_NO_JOB
    )
    return f"{mark}; {found}"
