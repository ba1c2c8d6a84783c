"""The web studio as the conversation core sees it: signing in and out, what a signed-in
person may see and do, and the moderator dashboard.

The web adapter (:mod:`bot.chat.adapters.web`) renders; this decides. A browser's request
becomes the same event a chat message would (:mod:`bot.contract.events`), run through the
same :meth:`Service.handle <bot.conversation.service.Service.handle>`: the same limits,
upload checks (the workers' jail), consent, labels and provenance as in chat. The studio's
place is :data:`~bot.contract.events.WEB_CHAT` (a draft of its own, a video kept for the
browser instead of posted). Every read takes the session the browser proved and reads by
that session's platform and user id only; the dashboard acts as the session's moderator in
the server bound to the session at /web time, and bot.safety judges that authority again on
every request, as it does in chat.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot.contract.events import WEB_CHAT, Action, Button, Command, Event, Notify, Who
from bot.contract.jobs import FINAL_STATES, JobState
from bot.contract.ports import (
    FaceFrame,
    JobActivity,
    JobRow,
    MediaPreview,
    Position,
    WebSession,
)
from bot.conversation.flow import Draft, language_choice, measure_script, missing
from bot.conversation.storage import Store
from bot.jobs.lifecycle import Lifecycle
from bot.safety import Guard, Removed

__all__ = [
    "Activity",
    "Dashboard",
    "DraftView",
    "Estimate",
    "LiveJob",
    "OTHERS",
    "STUDIO_BUTTONS",
    "Studio",
    "StudioView",
    "activity_of",
]

_JOBS_SHOWN = 50
_PHOTOS_KEPT = 32
#: the buttons a studio page may press (the flow's own, as chat offers them)
STUDIO_BUTTONS = frozenset(
    ("consent", "render", "cancel", "skip_transcript", "use_voice", "last_photo", "cancel_job")
)
#: the /mod commands the dashboard sends (views, decisions on jobs, the server's settings)
DASHBOARD_COMMANDS = frozenset(
    ("queue", "reviews", "audit", "log", "takedown", "limits", "consent", "label", "block")
)
_HOURS = 24  # the charts' span
OTHERS = "*"  # a share chart's slice for every other scope together

Handle = Callable[[Event], Awaitable[list[Action]]]


@dataclass(frozen=True)
class LiveJob:
    """One of the person's jobs as the studio shows it: its state, where it stands in the
    queue (``ahead``: jobs before it; None when not waiting), its progress, and whether its
    video can be played (still kept on the data volume)."""

    job_id: str
    status: str
    error: str
    created: float
    stage: str = ""
    fraction: float = 0.0
    ahead: int | None = None
    video: bool = False

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES


@dataclass(frozen=True)
class DraftView:
    """The video being put together: what it has, what it lacks, what is asked now."""

    state: str
    script: str
    voice_seconds: float | None
    photo: bool
    photo_warnings: tuple[str, ...]
    consent: bool
    missing: tuple[str, ...]
    language: str = ""  # chosen ("": detected from the script)

    @classmethod
    def of(cls, d: Draft) -> DraftView:
        return cls(
            d.state,
            d.script or "",
            d.voice_seconds if d.voice_hash else None,
            d.photo_hash is not None,
            d.photo_warnings,
            d.consent,
            tuple(missing(d)),
            d.language,
        )


@dataclass(frozen=True)
class StudioView:
    """The studio's home page for one person: their jobs (newest first), their voices, the
    draft under way, and whether they may open a moderator dashboard."""

    platform: str
    user_id: str
    jobs: tuple[LiveJob, ...]
    voices: tuple[str, ...]
    draft: DraftView | None = None
    staff: bool = False
    max_chars: int = 0
    max_seconds: float = 0.0


@dataclass(frozen=True)
class Estimate:
    """A script's length as typed and as the voice will say it (numbers and symbols as
    words), its speech time, and the one-line reason it is refused (empty: it fits)."""

    chars: int
    spoken: int
    seconds: float
    max_chars: int
    max_seconds: float
    reason: str = ""


@dataclass(frozen=True)
class Activity:
    """The dashboard's figures for the last :data:`_HOURS` hours, per hour (oldest first):
    videos made, failures, jobs waiting at the end of the hour, median render seconds; and
    each scope's share of the jobs asked ("" direct messages)."""

    hours: tuple[float, ...]  # each bucket's start (epoch seconds)
    done: tuple[int, ...]
    failed: tuple[int, ...]
    waiting: tuple[int, ...]
    render_seconds: tuple[float, ...]
    shares: tuple[tuple[str, int], ...]


def activity_of(rows: list[JobActivity], now: float, hours: int = _HOURS) -> Activity:
    """Count ``rows`` into hourly buckets ending at ``now`` (pure: the charts' numbers)."""
    start = (now // 3600 - hours + 1) * 3600
    edges = [start + 3600 * i for i in range(hours)]
    done, failed, waiting = [0] * hours, [0] * hours, [0] * hours
    took: list[list[float]] = [[] for _ in range(hours)]
    shares: dict[str, int] = {}
    for r in rows:
        shares[r.scope] = shares.get(r.scope, 0) + 1
        if r.finished is not None and r.finished >= start:
            i = min(hours - 1, int((r.finished - start) // 3600))
            if r.status == JobState.DONE:
                done[i] += 1
                if r.started is not None:
                    took[i].append(max(0.0, r.finished - r.started))
            elif r.status in (JobState.FAILED, JobState.INVALID):
                failed[i] += 1
        if r.status == JobState.REVIEW:
            continue  # held for a moderator: not in the render queue yet
        left = r.started if r.started is not None else r.finished  # when it stopped waiting
        for i, edge in enumerate(edges):
            end = min(edge + 3600, now)
            if r.created < end and (left is None or left >= end):
                waiting[i] += 1
    medians = tuple(sorted(t)[len(t) // 2] if t else 0.0 for t in took)
    ranked = tuple(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))
    return Activity(tuple(edges), tuple(done), tuple(failed), tuple(waiting), medians, ranked)


@dataclass(frozen=True)
class Dashboard:
    """A moderator dashboard's content: the core's answers to its /mod views, the charts'
    figures, whether the session is an operator's, and the audit search's term."""

    operator: bool
    reviews: list[Action]
    queue: list[Action]
    audit: list[Action]
    log: list[Action]
    activity: Activity | None
    find: str = ""


class Studio:
    """The web studio's decisions (the sign-in itself is :class:`bot.safety.WebAccess`'s)."""

    def __init__(
        self,
        store: Store,
        guard: Guard,
        jobs: Lifecycle,
        handle: Handle | None = None,
        *,
        max_chars: int = 1000,
        max_seconds: float = 120.0,
    ) -> None:
        self.store = store
        self.guard = guard
        self.jobs = jobs
        self._handle = handle
        self.max_chars = max_chars
        self.max_seconds = max_seconds
        # recent drafts' photo previews, by the photo's digest (only a draft holding that
        # digest reads one); emptied by /forget
        self._photos: OrderedDict[str, tuple[MediaPreview, FaceFrame | None]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.guard.web is not None

    # ---- signing in and out ---------------------------------------------------------------
    def link_valid(self, token: str) -> bool:
        """Whether the sign-in page may offer its button (the link is not spent by looking)."""
        return self.guard.web.valid(token) if self.guard.web is not None else False

    async def sign_in(self, token: str) -> WebSession | None:
        """A session for a valid, unused, unexpired link; None for anything else."""
        return await self.guard.web.sign_in(token) if self.guard.web is not None else None

    async def session(self, session_id: str) -> WebSession | None:
        return await self.guard.web.session(session_id) if self.guard.web is not None else None

    async def sign_out(self, session: WebSession) -> None:
        if self.guard.web is not None:
            await self.guard.web.sign_out(session.session_id)

    # ---- who a browser is -----------------------------------------------------------------
    @staticmethod
    def who(session: WebSession) -> Who:
        """The person, in the studio's own place (their direct-message scope: its consent
        rules and share of the queue, as when they write to the bot privately)."""
        return Who(session.platform, session.user_id, WEB_CHAT)

    @staticmethod
    def staff_who(session: WebSession) -> Who:
        """The person as a moderator of the server bound to the session at /web time (the
        platform said so then); operators are operators by their user id, as in chat."""
        scope = session.scope or None
        return Who(
            session.platform, session.user_id, WEB_CHAT, guild_id=scope, server_admin=bool(scope)
        )

    def staff(self, session: WebSession) -> bool:
        """Whether the session may open a moderator dashboard (authority judged by
        bot.safety, from the facts bound to the session and the operator's settings)."""
        return self.guard.authority(self.staff_who(session)).moderator

    # ---- the studio -----------------------------------------------------------------------
    async def act(self, event: Event) -> list[Action]:
        """Run a browser's event as chat runs a message. A notice for another chat (a
        requester told of a decision) goes out through a worker; one for a studio is
        dropped: the studio's page shows the job's state."""
        if self._handle is None:
            raise RuntimeError("the studio has no conversation to run events in")
        actions = await self._handle(event)
        shown: list[Action] = []
        for action in actions:
            if isinstance(action, Notify):
                if action.chat_id != WEB_CHAT:
                    await self.guard.gateway.notify(action.platform, action.chat_id, action.text)
                continue
            shown.append(action)
        return shown

    async def draft(self, session: WebSession) -> Draft | None:
        return await self.store.drafts.get(session.platform, session.user_id, WEB_CHAT)

    async def home(self, session: WebSession) -> StudioView:
        platform, user_id = session.platform, session.user_id
        voices = await self.store.voices.list(platform, user_id)
        draft = await self.draft(session)
        return StudioView(
            platform,
            user_id,
            await self.live(session),
            tuple(v.name for v in voices),
            DraftView.of(draft) if draft is not None else None,
            self.staff(session),
            self.max_chars,
            self.max_seconds,
        )

    async def live(self, session: WebSession) -> tuple[LiveJob, ...]:
        """The person's jobs with their live progress and place in the queue (the studio
        page and its server push read this)."""
        await self.jobs.catch_up()  # the history follows the workers' reports
        rows = await self.store.jobs.recent(session.platform, session.user_id, limit=_JOBS_SHOWN)
        return tuple([await self._live(row) for row in rows])

    async def _live(self, row: JobRow) -> LiveJob:
        status, stage, fraction, ahead = row.status, "", 0.0, None
        if status not in FINAL_STATES:
            queue = self.jobs.queue
            record = await queue.record(row.job_id)
            if record is not None:
                stage, fraction = record.stage, record.fraction
            if status == JobState.QUEUED:
                place: Position | None = await queue.position(row.job_id)
                ahead = place.ahead if place is not None else None
        video = status == JobState.DONE and self.video_path_of(row.job_id) is not None
        return LiveJob(row.job_id, status, row.error, row.created, stage, fraction, ahead, video)

    def estimate(self, text: str, language: str = "") -> Estimate:
        """The script's length as the chat counts it (:func:`measure_script`, the same
        refusal lines) in ``language`` (the page's choice: a code, "" or "auto" detected;
        an unknown one counts as detected), for the page's live counter."""
        choice = language_choice(language) or ""
        m = measure_script(" ".join(text.split()), self.max_chars, self.max_seconds, choice)
        return Estimate(m.chars, m.spoken, m.seconds, self.max_chars, self.max_seconds, m.reason)

    async def photo(self, session: WebSession) -> tuple[MediaPreview, FaceFrame | None] | None:
        """The draft's photo as a worker re-encoded it in its jail (never the upload's own
        bytes), and where the intake check found the face; None without a photo or when no
        worker answered."""
        draft = await self.draft(session)
        if draft is None or draft.photo_hash is None:
            return None
        digest = draft.photo_hash
        if digest in self._photos:  # the page and its image ask twice: one jail decode
            self._photos.move_to_end(digest)
            return self._photos[digest]
        gateway = self.guard.gateway
        preview = await gateway.preview("image", digest)
        if preview is None or not preview.data:
            return None
        found = (preview, await gateway.photo_face(digest))
        self._photos[digest] = found
        while len(self._photos) > _PHOTOS_KEPT:
            self._photos.popitem(last=False)
        return found

    def video_path_of(self, job_id: str) -> Path | None:
        out_dir = self.guard.config.out_dir
        if out_dir is None:
            return None
        path = out_dir / f"{job_id}.mp4"
        return path if path.is_file() else None

    async def video(self, session: WebSession, job_id: str) -> Path | None:
        """A finished video of the person's own, while the data volume keeps it; None for
        anyone else's, an unfinished one, a taken-down one, or one no longer kept."""
        rows = await self.store.jobs.recent(session.platform, session.user_id, limit=_JOBS_SHOWN)
        if not any(r.job_id == job_id and r.status == JobState.DONE for r in rows):
            return None
        return self.video_path_of(job_id)

    async def forget(self, session: WebSession) -> Removed:
        """The erasure /forget runs in chat; it signs out every browser of the person's."""
        self._photos.clear()
        return await self.guard.forget(session.platform, session.user_id)

    # ---- the moderator dashboard --------------------------------------------------------------
    async def moderate(self, session: WebSession, sub: str, args: str = "") -> list[Action]:
        """A /mod command from the dashboard, run as in chat (bot.safety refuses what the
        session's authority does not cover). Only the dashboard's commands pass."""
        if sub not in DASHBOARD_COMMANDS:
            return []
        line = f"{sub} {args}".strip()
        return await self.act(Command(self.staff_who(session), "mod", line))

    async def dashboard(self, session: WebSession, find: str = "") -> Dashboard:
        """The dashboard's views of the session's scope (the history brought up to the
        workers' reports once, first); ``find``: an audit search, else the latest entries."""
        await self.jobs.catch_up()
        return Dashboard(
            self.guard.authority(self.staff_who(session)).operator,
            await self.moderate(session, "reviews"),
            await self.moderate(session, "queue"),
            await self.moderate(session, "audit", f"find {find}" if find else "20"),
            await self.moderate(session, "log", "20"),
            await self.activity(session),
            find,
        )

    async def live_queue(self, session: WebSession) -> list[Action]:
        """The dashboard's queue view, current (its live stream asks every few seconds)."""
        await self.jobs.catch_up()
        return await self.moderate(session, "queue")

    async def moderator_press(self, session: WebSession, action: str, value: str) -> list[Action]:
        """A moderator's button (approve, deny, cancel) from the dashboard."""
        if not action.startswith("mod_") and action != "cancel_job":
            return []
        return await self.act(Button(self.staff_who(session), action, value))

    async def activity(self, session: WebSession) -> Activity | None:
        """The charts' figures for the session's scope (an operator: every scope on the
        platform); None when the session moderates nothing."""
        auth = self.guard.authority(self.staff_who(session))
        if not auth.moderator:
            return None
        now = time.time()
        rows = await self.store.jobs.activity(session.platform, None, now - _HOURS * 3600)
        if auth.operator:
            return activity_of(rows, now)
        # a server's moderator: their server's figures, and its share beside everyone else's
        # together (a count, never another server's name)
        mine = [r for r in rows if r.scope == auth.scope]
        figures = activity_of(mine, now)
        shares = ((auth.scope, len(mine)), (OTHERS, len(rows) - len(mine)))
        return replace(figures, shares=shares)
