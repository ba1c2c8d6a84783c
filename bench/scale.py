"""Scale benchmark: hundreds of people make a video at once through both front-ends, with
thousands of Discord servers over several shards, PostgreSQL and 1, 2 and 4 render workers.
Is every video delivered exactly once, how long does each person wait for an answer, how
does throughput grow with workers, and what do Redis, PostgreSQL and the bots hold?

Set-up (everything real except the chat platforms and the engine's work):
* a private redis-server and a private PostgreSQL server (tests/auxil/postgres_server.py;
  ``--store sqlite`` for SQLite in the shared data folder); each worker count gets a fresh
  redis-server, a fresh database and a fresh data folder;
* the platform stand-ins of the tests in this process: the Bot API (tests/auxil/
  telegram_server.py) and Discord's REST API and gateway (tests/auxil/discord_server.py),
  which recommends ``--shards`` shards and, at each shard's READY, creates its share of the
  ``--servers`` simulated servers (GUILD_CREATE, routed by ``(guild_id >> 22) % shards``);
* two bot processes, one per front-end: ``python -m bot --telegram`` (long polling) and
  ``python -m bot --discord`` (all shards), sharing the data folder, Redis and the store;
* N worker processes (``bench/scale_worker.py``: the real ``python -m bot.worker`` whose
  render and upload checks are FIXED-TIME STAND-INS, ``--render-seconds`` and
  ``--intake-seconds``, so the figures measure the queue, the store and the front-ends, not
  this CPU's lip-sync). Renders wait at a gate until every person has pressed Render: the
  workers then drain a full queue, and videos/s is their throughput, not the arrival rate.

Scenario: ``--people`` people at once, half on Discord (each in a random server, /talk with
the script, voice note and photo attached, then the buttons), half on Telegram (a private
chat: /talk, the script, a photo, a voice note, then the buttons: Skip, They agreed,
Render). Each answer's latency runs from the update or interaction reaching the stand-in to
the bot's first message in that chat (Discord's deferral, which must come within 3 s, is
timed apart as the "ack"). Every video is counted where it arrives (sendVideo; a Discord
channel message with an attachment): duplicates and missing ones are reported.

Reading the figures: a worker takes a job only at its poll of the queue (every 0.5 s, set
in bot/worker/main.py), so a worker's turn per job is the render rounded up to that beat;
"s per job beyond the render" shows it. The intake queue likewise starts at most 4 checks
per poll per worker (8 a second): with hundreds of uploads at once the checks queue, and
past MOUTHPIECE_INTAKE_TIMEOUT_SECONDS the bot stops waiting ("intake timeouts").

    .venv/bin/python bench/scale.py [--people 200] [--servers 2000] [--shards 4]
        [--workers 1,2,4] [--render-seconds 0.25] [--intake-seconds 0.1] [--quick]

A full run takes about 5-6 minutes on 2 cores; ``--quick`` (20 people, 200 servers, 1 and 2
workers) about one.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds queue.py: keep the folder off sys.path, or it would shadow the standard
# library's queue module (which redis and arq import).
HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from bot.contract import texts  # noqa: E402
from tests.auxil.discord_server import APP_ID, DiscordStandIn, shard_of  # noqa: E402
from tests.auxil.redis_server import redis_server  # noqa: E402
from tests.auxil.system import CAN_POST, guild_interaction, member  # noqa: E402
from tests.auxil.telegram_server import TelegramStandIn  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
WORKER = HERE / "scale_worker.py"
READY = "bench:scale:ready"  # bench/scale_worker.py's set of started workers
TG_BASE, DC_USER_BASE, DC_CHANNEL_BASE = 10_000_000, 20_000_000, 30_000_000
GUILD_BASE = 1_000_000_000  # a server's id is (GUILD_BASE + n) << 22, as a snowflake
STAGES = ("skip_transcript", "consent", "render")  # the buttons pressed, in order
QUEUED = texts.QUEUED.split("{")[0]  # "Queued as job "
STUCK = 15.0  # seconds without the expected answer after the bot's last message: a failure
FLOW_TIMEOUT = 600.0


# ---- what each person was told ---------------------------------------------------------
@dataclass(frozen=True)
class Said:
    t: float
    text: str
    actions: dict[str, str]  # button action -> its callback data / custom id
    raw: Any = None  # the message body (Discord: a press must carry its message)


class Stuck(Exception):
    """A person's flow stopped: no expected answer came."""


class Inbox:
    """Everything the bot sent one person, with the time it reached the stand-in."""

    def __init__(self) -> None:
        self.said: list[Said] = []
        self.acks: list[float] = []  # Discord interaction callbacks
        self.videos: list[float] = []
        self._changed = asyncio.Event()

    def note(self, text: str, actions: dict[str, str], raw: Any = None) -> None:
        self.said.append(Said(time.monotonic(), text, actions, raw))
        self._changed.set()

    async def expect(self, since: int, want: Callable[[Said], bool]) -> Said:
        deadline = time.monotonic() + FLOW_TIMEOUT
        while True:
            self._changed.clear()
            for s in self.said[since:]:
                if want(s):
                    return s
            now = time.monotonic()
            if len(self.said) > since and now - self.said[-1].t > STUCK:
                raise Stuck(" | ".join(s.text[:80] for s in self.said[since:]))
            if now > deadline:
                raise Stuck("no answer")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 1.0)


@dataclass
class Person:
    n: int
    platform: str  # "telegram" or "discord"
    inbox: Inbox = field(default_factory=Inbox)
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (kind, seconds)
    acks: list[float] = field(default_factory=list)
    job: str = ""  # the job id's first characters, from "Queued as job ..."
    failure: str = ""
    guild: str = ""
    channel: str = ""

    @property
    def uid(self) -> str:
        return str((TG_BASE if self.platform == "telegram" else DC_USER_BASE) + self.n)


# ---- the stand-ins, noting what reaches each person -------------------------------------
def _tg_actions(markup: Any) -> dict[str, str]:
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = (markup or {}).get("inline_keyboard", [])
    return {b["callback_data"].split("|")[0]: b["callback_data"] for row in rows for b in row}


class Telegram(TelegramStandIn):
    def __init__(self, inboxes: dict[str, Inbox]) -> None:
        super().__init__()
        self.inboxes = inboxes

    async def _sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        box = self.inboxes.get(str(p["chat_id"]))
        if box is not None:
            box.note(str(p.get("text", "")), _tg_actions(p.get("reply_markup")))
        return await super()._sendMessage(p)

    async def _sendVideo(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        box = self.inboxes.get(str(p["chat_id"]))
        if box is not None:
            box.videos.append(time.monotonic())
        return await super()._sendVideo(p)


def _dc_actions(body: Any) -> dict[str, str]:
    rows = (body or {}).get("components", []) or []
    ids = [c.get("custom_id", "") for row in rows for c in row.get("components", [])]
    return {cid.split(":")[2]: cid for cid in ids if cid.count(":") >= 2}


def guild_payload(gid: str, channels: list[str]) -> dict[str, Any]:
    """A server as GUILD_CREATE carries it: its @everyone role and text channels."""
    everyone = {
        "id": gid,
        "name": "@everyone",
        "permissions": str(CAN_POST),
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    return {
        "id": gid,
        "name": f"server {gid}",
        "icon": None,
        "owner_id": "1",
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "premium_tier": 0,
        "nsfw_level": 0,
        "system_channel_flags": 0,
        "preferred_locale": "en-US",
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [everyone],
        "member_count": 50,
        "large": False,
        "unavailable": False,
        "joined_at": "2026-01-01T00:00:00+00:00",
        "members": [],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "channels": [
            {
                "id": cid,
                "type": 0,
                "guild_id": gid,
                "name": f"talk-{n}",
                "position": n,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "rate_limit_per_user": 0,
            }
            for n, cid in enumerate(channels)
        ],
    }


class Discord(DiscordStandIn):
    """Creates the servers at each shard's READY and notes what reaches each person: a
    follow-up by its interaction's token, a channel message (a video) by its channel."""

    def __init__(self, guilds: dict[str, list[str]], shards: int) -> None:
        super().__init__()
        self.shards = self.max_concurrency = shards
        self.guilds = guilds  # server id -> its channels
        self.by_token: dict[str, Inbox] = {}
        self.by_channel: dict[str, Inbox] = {}
        self.created_guilds = 0

    def _mine(self, shard_id: int, count: int) -> list[str]:
        return [g for g in self.guilds if shard_of(g, count) == shard_id]

    def _ready(self, shard_id: int, count: int) -> dict[str, Any]:
        data = super()._ready(shard_id, count)
        data["guilds"] = [{"id": g, "unavailable": True} for g in self._mine(shard_id, count)]
        return data

    async def _session(self, sock: Any, shard: tuple[int, int], event: str, data: Any) -> None:
        await super()._session(sock, shard, event, data)
        if event == "READY" and sock.shard == shard:
            for g in self._mine(*shard):
                await self._dispatch_on(sock, "GUILD_CREATE", guild_payload(g, self.guilds[g]))
                self.created_guilds += 1

    def _answer(self, method: str, path: str, body: Any) -> Any:
        parts = path.split("/")
        if path.endswith("/callback") and len(parts) > 3:
            box = self.by_token.get(parts[3])
            if box is not None:
                box.acks.append(time.monotonic())
                if (body or {}).get("type") in (4, 7):  # an answer in the callback itself
                    data = body.get("data") or {}
                    box.note(data.get("content", ""), _dc_actions(data), data)
        elif path.startswith(f"/webhooks/{APP_ID}/") and method in ("POST", "PATCH"):
            box = self.by_token.get(parts[3])
            if box is not None:
                box.note((body or {}).get("content", ""), _dc_actions(body), body)
        elif method == "POST" and path.startswith("/channels/") and path.endswith("/messages"):
            box = self.by_channel.get(parts[2])
            if box is not None:
                if (body or {}).get("attachments"):
                    box.videos.append(time.monotonic())
                else:
                    box.note((body or {}).get("content", ""), _dc_actions(body), body)
        return super()._answer(method, path, body)


# ---- one person's flow ------------------------------------------------------------------
@dataclass(frozen=True)
class Media:
    photo: bytes
    voice: bytes
    voice_seconds: float

    def of(self, n: int) -> tuple[bytes, bytes]:
        """This person's own photo and voice note (distinct bytes, so distinct uploads): a
        JPEG comment after the start marker; bytes after the voice note's last page."""
        tag = f"person {n}".encode()
        photo = self.photo[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag
        return photo + self.photo[2:], self.voice + tag


async def _act(
    p: Person, kind: str, do: Callable[[], Awaitable[None] | None], want: Callable[[Said], bool]
) -> Said:
    """Do one thing a person does; wait for the answer ``want``; note the first answer's
    latency (and the ack's)."""
    box = p.inbox
    since, acks = len(box.said), len(box.acks)
    start = time.monotonic()
    done = do()
    if done is not None:
        await done
    got = await box.expect(since, want)
    p.latencies.append((kind, box.said[since].t - start))
    if len(box.acks) > acks:
        p.acks.append(box.acks[acks] - start)
    return got


def _has_stage(s: Said) -> bool:
    return any(a in STAGES for a in s.actions) or s.text.startswith(QUEUED)


async def _buttons(p: Person, said: Said, press: Callable[[str, Said], Awaitable[None] | None]):
    """Press the furthest of Skip / They agreed / Render on offer until the job is queued."""
    while not said.text.startswith(QUEUED):
        action = max((a for a in said.actions if a in STAGES), key=STAGES.index)

        def later(s: Said, after: str = action) -> bool:
            offered = [a for a in s.actions if a in STAGES]
            return s.text.startswith(QUEUED) or any(
                STAGES.index(a) > STAGES.index(after) for a in offered
            )

        pressed = said

        def act(action: str = action, pressed: Said = pressed) -> Awaitable[None] | None:
            return press(action, pressed)

        said = await _act(p, "button", act, later)
    p.job = said.text[len(QUEUED) :].split()[0]


def _script(n: int) -> str:
    return f"Hello, this is person number {n} of the scale benchmark, speaking for a moment."


async def telegram_person(tg: Telegram, p: Person, media: Media) -> None:
    chat = int(p.uid)
    photo, voice = media.of(p.n)
    need = texts.NEED.split("{")[0]
    await _act(p, "text", lambda: tg.send_text(chat, "/talk"), lambda s: s.text == texts.START)
    await _act(p, "text", lambda: tg.send_text(chat, _script(p.n)), lambda s: need in s.text)
    await _act(p, "upload", lambda: tg.send_photo(chat, photo), lambda s: need in s.text)
    seconds = round(media.voice_seconds)
    said = await _act(p, "upload", lambda: tg.send_voice(chat, voice, seconds), _has_stage)

    def press(action: str, s: Said) -> None:
        tg.press(chat, s.actions[action])

    await _buttons(p, said, press)


def _attachment(dc: Discord, aid: str, name: str, data: bytes, ctype: str) -> dict[str, Any]:
    dc.attachments[name] = data
    url = f"{dc.url}/att/{name}"
    return {"id": aid, "filename": name, "size": len(data), "url": url, "proxy_url": url,
            "content_type": ctype}  # fmt: skip


async def discord_person(dc: Discord, p: Person, media: Media) -> None:
    photo, voice = media.of(p.n)
    va, pa = str(2 * p.n + 1), str(2 * p.n + 2)
    files = {
        va: _attachment(dc, va, f"voice-{p.n}.ogg", voice, "audio/ogg"),
        pa: _attachment(dc, pa, f"photo-{p.n}.jpg", photo, "image/jpeg"),
    }
    talk = {
        "id": "77",
        "name": "talk",
        "type": 1,
        "resolved": {"attachments": files},
        "options": [
            {"name": "script", "type": 3, "value": _script(p.n)},
            {"name": "voice", "type": 11, "value": va},
            {"name": "photo", "type": 11, "value": pa},
        ],
    }
    person = member(p.uid, CAN_POST)

    async def send(kind: int, data: dict[str, Any], **extra: Any) -> None:
        ask = guild_interaction(kind, data, person, guild=p.guild, in_channel=p.channel, **extra)
        dc.by_token[ask["token"]] = p.inbox
        await dc.dispatch("INTERACTION_CREATE", ask)

    said = await _act(p, "upload", lambda: send(2, talk), _has_stage)

    async def press(action: str, s: Said) -> None:
        data = {"custom_id": s.actions[action], "component_type": 2}
        await send(3, data, message=dc.message(p.channel, s.raw))

    await _buttons(p, said, press)


async def _person(run: Callable[[], Awaitable[None]], p: Person) -> None:
    try:
        await run()
    except Stuck as e:
        p.failure = str(e) or "stuck"
    except Exception as e:  # one person's failure is a figure, not the end of the run
        p.failure = f"{type(e).__name__}: {e}"


# ---- processes ---------------------------------------------------------------------------
def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)


async def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:  # in a thread: the stand-ins on this loop keep answering while they finish
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


def _status(pid: int, key: str) -> int:
    """A /proc/PID/status size in bytes (VmHWM: the peak resident set), 0 when gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _postgres_pids(port: int) -> list[int]:
    """The PostgreSQL server listening on ``port``: its postmaster and every backend."""
    parents: dict[int, int] = {}
    master = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            stat = (d / "stat").read_text()
            parents[int(d.name)] = int(stat.rpartition(")")[2].split()[1])
            if b"-p" in cmd and str(port).encode() in cmd and b"postgres" in cmd[0]:
                master = int(d.name)
    return [master, *(pid for pid, ppid in parents.items() if ppid == master)] if master else []


def _pss(pid: int) -> int:
    """Proportional set size (shared pages split among the processes sharing them), else RSS."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return _status(pid, "VmRSS")


async def _sample_postgres(port: int, peak: list[int], done: asyncio.Event) -> None:
    while not done.is_set():
        total = sum(_pss(pid) for pid in await asyncio.to_thread(_postgres_pids, port))
        peak[0] = max(peak[0], total)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 1.0)


# ---- one run -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    people: int
    servers: int
    shards: int
    render_seconds: float
    intake_seconds: float
    admin_url: str  # the PostgreSQL server's; "": SQLite
    video: Path
    media: Media
    seed: int


@dataclass
class Result:
    workers: int
    people: list[Person]
    start_s: float  # stand-ins up to bots and workers ready
    submit_s: float  # people start to the last "Queued"
    drain_s: float  # the gate opening to the last video
    redis_peak: int = 0
    pg_db: int = 0
    pg_pss: int = 0
    bot_peak: dict[str, int] = field(default_factory=dict)
    worker_peak: int = 0
    intake_timeouts: int = 0  # upload checks the bot stopped waiting for (accepted unchecked)
    errors: list[str] = field(default_factory=list)  # ERROR lines and tracebacks in the logs

    @property
    def queued(self) -> list[Person]:
        return [p for p in self.people if p.job]

    @property
    def delivered(self) -> int:
        return sum(1 for p in self.queued if p.inbox.videos)

    @property
    def duplicates(self) -> int:
        return sum(max(0, len(p.inbox.videos) - 1) for p in self.people)

    @property
    def rate(self) -> float:
        return self.delivered / self.drain_s if self.drain_s > 0 else float("nan")


def _plan_people(s: Settings) -> tuple[list[Person], dict[str, list[str]]]:
    """Half on Discord, each in a random server and a channel of their own; half on Telegram."""
    rng = random.Random(s.seed)
    servers = [str((GUILD_BASE + n) << 22) for n in range(s.servers)]
    guilds: dict[str, list[str]] = {
        g: [str(DC_CHANNEL_BASE - n - 1)] for n, g in enumerate(servers)
    }
    people = []
    for n in range(s.people):
        p = Person(n, "discord" if n % 2 == 0 else "telegram")
        if p.platform == "discord":
            p.guild, p.channel = rng.choice(servers), str(DC_CHANNEL_BASE + n)
            guilds[p.guild].append(p.channel)
        people.append(p)
    return people, guilds


_LIMITS = (
    "LIMIT_USER_PER_DAY",
    "LIMIT_USER_CONCURRENT",
    "LIMIT_SERVER_PER_HOUR",
    "QUEUE_MAX",
    "QUEUE_PER_SERVER",
    "QUEUE_DM",
    "LIMIT_UPLOADS_PER_HOUR",
)


def _env(s: Settings, tg: Telegram, dc: Discord, redis: str, db: str, data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": "123:BENCH",
        "TELEGRAM_API_BASE_URL": tg.url,
        "DISCORD_BOT_TOKEN": "BENCH",
        "DISCORD_API_BASE_URL": dc.api,
        "REDIS_URL": redis,
        "DATABASE_URL": db,
        "MOUTHPIECE_DATA_DIR": str(data),
        "MOUTHPIECE_SHARED_MEDIA": "true",
        "MOUTHPIECE_BOT_METRICS_PORT": "0",
        "MOUTHPIECE_WORKER_METRICS_PORT": "0",
        "MOUTHPIECE_LOG_FORMAT": "text",
        "MOUTHPIECE_LOG_LEVEL": "WARNING",
        "MOUTHPIECE_PREVIEW_SECONDS": "0",  # one video per job: what is counted
        "MOUTHPIECE_CONSENT_MODE": "attest",
        "MOUTHPIECE_MIN_FREE_BYTES": "0",
        "BENCH_RENDER_SECONDS": str(s.render_seconds),
        "BENCH_INTAKE_SECONDS": str(s.intake_seconds),
        "BENCH_VOICE_SECONDS": f"{s.media.voice_seconds:.3f}",
        "BENCH_VIDEO": str(s.video),
        "BENCH_GATE": str(data / "bench-gate"),
    }
    # the benchmark measures throughput, not refusals: every per-person and per-server limit
    # well above what the run asks
    big = str(max(1000, 10 * s.people))
    for name in _LIMITS:
        env[f"MOUTHPIECE_{name}"] = big
    return env


def _say(what: str) -> bool:
    print(f"  ... {what}", flush=True)
    return True


async def _until(what: str, ready: Callable[[], Awaitable[bool] | bool], procs: Any) -> None:
    deadline, said = time.monotonic() + 120, False
    while True:
        got = ready()
        if not isinstance(got, bool):
            got = await got
        if got:
            return
        dead = [p.args for p in procs if p.poll() is not None]
        if time.monotonic() > deadline - 100 and not said:
            said = _say(f"still waiting for {what}")
        if dead or time.monotonic() > deadline:
            raise RuntimeError(
                f"{what}: not ready ({'exited: ' + str(dead) if dead else 'timeout'})"
            )
        await asyncio.sleep(0.1)


@dataclass
class _Processes:
    """The bot processes (by front-end) and the workers of one run."""

    bots: dict[str, subprocess.Popen[bytes]]
    workers: list[subprocess.Popen[bytes]]

    @property
    def all(self) -> list[subprocess.Popen[bytes]]:
        return [*self.bots.values(), *self.workers]


def _launch(env: dict[str, str], workers: int, logs: Path) -> _Processes:
    bots = {
        name: _spawn([sys.executable, "-m", "bot", f"--{name}"], env, logs / f"bot-{name}.log")
        for name in ("telegram", "discord")
    }
    started = [
        _spawn(
            [sys.executable, str(WORKER)],
            {**env, "MOUTHPIECE_WORKER_NAME": f"bench-w{i}"},
            logs / f"worker-{i}.log",
        )
        for i in range(workers)
    ]
    return _Processes(bots, started)


async def _all_ready(tg: Telegram, dc: Discord, redis: Any, procs: _Processes, shards: int) -> None:
    """Telegram polled; every shard READY with its servers created, commands synced; every
    worker started."""
    await _until("the Telegram bot", lambda: tg.polls > 0, procs.all)
    await _until(
        "the Discord bot's shards",
        lambda: (
            len(dc.connected_shards()) == shards
            and dc.created_guilds == len(dc.guilds)
            and any(r.path.endswith(f"{APP_ID}/commands") for r in dc.requests)
        ),
        procs.all,
    )

    async def workers() -> bool:
        return int(await redis.scard(READY)) >= len(procs.workers)

    await _until("the workers", workers, procs.all)


async def _submit(tg: Telegram, dc: Discord, people: list[Person], media: Media) -> None:
    """Everyone at once, each as fast as the bot answers."""

    async def one(p: Person) -> None:
        if p.platform == "telegram":
            await _person(lambda: telegram_person(tg, p, media), p)
        else:
            await _person(lambda: discord_person(dc, p, media), p)

    await asyncio.gather(*(one(p) for p in people))


async def _drain(people: list[Person], gate: Path, allow: float) -> float:
    """Open the renders' gate; wait for every queued job's video (``allow`` seconds at
    most); seconds from the gate to the last first video."""
    opened = time.monotonic()
    gate.touch()
    queued = [p for p in people if p.job]
    while any(not p.inbox.videos for p in queued) and time.monotonic() < opened + allow:
        await asyncio.sleep(0.1)
    last = max((p.inbox.videos[0] for p in queued if p.inbox.videos), default=opened)
    await asyncio.sleep(2.0)  # a late duplicate would arrive now
    return last - opened


async def one_run(s: Settings, workers: int, logs: Path) -> Result:
    """A fresh Redis, database, data folder, stand-ins, bots and ``workers`` workers; the
    people; the figures."""
    import redis.asyncio as aioredis

    from tests.auxil.postgres_server import fresh_database

    stop = asyncio.current_task()
    if stop is not None:  # a SIGTERM stops the processes this run started, then the run
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.cancel)
    people, guilds = _plan_people(s)
    tg = Telegram({p.uid: p.inbox for p in people if p.platform == "telegram"})
    dc = Discord(guilds, s.shards)
    dc.by_channel = {p.channel: p.inbox for p in people if p.platform == "discord"}
    await tg.start()
    await dc.start()
    with (
        tempfile.TemporaryDirectory(prefix="mouthpiece-scale-") as tmp,
        redis_server(Path(tmp)) as url,
    ):
        data = Path(tmp) / "data"
        data.mkdir()
        db = await asyncio.to_thread(fresh_database, s.admin_url) if s.admin_url else ""
        redis = aioredis.Redis.from_url(url)
        pg_peak, sampling = [0], asyncio.Event()
        port = int(s.admin_url.rsplit(":", 1)[1].split("/")[0]) if s.admin_url else 0
        sampler = asyncio.create_task(_sample_postgres(port, pg_peak, sampling)) if port else None
        # 1. the bot processes and the workers, until all are ready
        t0 = time.monotonic()
        procs = _launch(_env(s, tg, dc, url, db, data), workers, logs)
        try:
            await _all_ready(tg, dc, redis, procs, s.shards)
            started = time.monotonic() - t0
            _say(f"{workers} worker(s): all processes ready in {started:.1f} s")
            # 2. the people, each to "Queued"
            t1 = time.monotonic()
            await _submit(tg, dc, people, s.media)
            submitted = time.monotonic() - t1
            queued = sum(1 for p in people if p.job)
            _say(f"{workers} worker(s): {queued} queued in {submitted:.1f} s")
            # 3. the renders, all at once: the drain of a full queue
            allow = 60 + 3 * len(people) * s.render_seconds / workers
            drained = await _drain(people, data / "bench-gate", allow)
            # 4. what everything holds
            result = Result(workers, people, started, submitted, drained)
            result.redis_peak = int((await redis.info("memory"))["used_memory_peak"])
            result.pg_db = await asyncio.to_thread(_db_size, db) if db else 0
            result.bot_peak = {n: _status(b.pid, "VmHWM") for n, b in procs.bots.items()}
            result.worker_peak = max(_status(w.pid, "VmHWM") for w in procs.workers)
        finally:
            sampling.set()
            if sampler is not None:
                await sampler
            await redis.aclose()
            await _stop(procs.all)
            await tg.stop()
            await dc.stop()
    result.pg_pss = pg_peak[0]
    result.intake_timeouts, result.errors = _read_logs(logs)
    return result


def _read_logs(logs: Path) -> tuple[int, list[str]]:
    """Intake checks the bots gave up waiting for; every ERROR line and traceback."""
    timeouts, errors = 0, []
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            timeouts += "intake timed out" in line
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback"):
                errors.append(f"{log.name}: {line[:200]}")
    return timeouts, errors


def _db_size(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


# ---- assets and report ---------------------------------------------------------------------
def _make_video(folder: Path) -> Path:
    """A 1 s, 64x64 H.264/AAC MP4: what every stand-in render "produces"."""
    out = folder / "stand-in.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25:duration=1",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out)],
        check=True,
    )  # fmt: skip
    return out


def _seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.strip())


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def _mb(n: int) -> str:
    return f"{n / 1e6:7.1f}" if n else "      -"


def _latencies(r: Result, kinds: tuple[str, ...], platform: str = "") -> list[float]:
    return [
        x
        for p in r.people
        if not platform or p.platform == platform
        for k, x in p.latencies
        if k in kinds
    ]


def _p50_99(values: list[float]) -> str:
    return f"{_pct(values, 50):5.2f} /{_pct(values, 99):6.2f}"


def report(s: Settings, results: list[Result]) -> None:
    print(
        "\n  workers  people  queued  delivered  dup  missing  failed"
        "   answer p50/p99 s   upload p50/p99 s: Telegram   Discord   Discord ack p99 s"
    )
    for r in results:
        acks = [x for p in r.people for x in p.acks]
        failed = sum(1 for p in r.people if p.failure)
        print(
            f"  {r.workers:7d}  {len(r.people):6d}  {len(r.queued):6d}  {r.delivered:9d}"
            f"  {r.duplicates:3d}  {len(r.queued) - r.delivered:7d}  {failed:6d}"
            f"   {_p50_99(_latencies(r, ('text', 'button')))}"
            f"     {_p50_99(_latencies(r, ('upload',), 'telegram'))}"
            f"  {_p50_99(_latencies(r, ('upload',), 'discord'))}   {_pct(acks, 99):10.2f}"
        )
    print(
        "  (answer: a command, a script or a button, to the bot's first message in that chat;"
        " upload: a photo or voice note on Telegram, /talk with both on Discord, checked by a"
        " worker)"
    )
    base = results[0]
    print(
        "\n  workers  start s  submit s  drain s  videos/s  vs first (ideal)"
        "  s per job beyond the render  intake timeouts"
    )
    for r in results:
        # each worker's time per job, less the render itself: the queue, the job's life in
        # Redis and the store, the delivery and the status message
        beyond = r.workers / r.rate - s.render_seconds
        print(
            f"  {r.workers:7d}  {r.start_s:7.1f}  {r.submit_s:8.1f}  {r.drain_s:7.1f}"
            f"  {r.rate:8.2f}  x{r.rate / base.rate:5.2f} (x{r.workers / base.workers:.1f})"
            f"  {beyond:27.2f}  {r.intake_timeouts:15d}"
        )
    print(
        "  (start: processes started to all ready; submit: everyone to Queued; drain: the"
        " gate opened to the last video)"
    )
    print(
        "\n  workers  Redis peak MB  PG db MB  PG server PSS MB  bot RSS peak MB (tg / dc)"
        "  worker RSS peak MB"
    )
    for r in results:
        print(
            f"  {r.workers:7d}  {_mb(r.redis_peak):>13s}  {_mb(r.pg_db):>8s}"
            f"  {_mb(r.pg_pss):>16s}  {_mb(r.bot_peak.get('telegram', 0))} /"
            f" {_mb(r.bot_peak.get('discord', 0))}            {_mb(r.worker_peak)}"
        )
    for r in results:
        reasons: dict[str, int] = {}
        for p in r.people:
            if p.failure:
                key = f"{p.platform}: {p.failure[:160]}"
                reasons[key] = reasons.get(key, 0) + 1
        for reason, count in reasons.items():
            print(f"  ! {r.workers} worker(s): {count} x {reason}")
        for line in r.errors[:5]:
            print(f"  ! {r.workers} worker(s), log: {line}")
        if len(r.errors) > 5:
            print(f"  ! {r.workers} worker(s): {len(r.errors) - 5} more error lines in the logs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, help="people making a video at once (200)")
    parser.add_argument("--servers", type=int, help="simulated Discord servers (2000)")
    parser.add_argument("--shards", type=int, default=4, help="Discord shards (one process)")
    parser.add_argument("--workers", help="worker counts, one run each (1,2,4)")
    parser.add_argument("--render-seconds", type=float, default=0.25, help="stand-in render")
    parser.add_argument("--intake-seconds", type=float, default=0.1, help="stand-in check")
    parser.add_argument("--store", choices=("postgres", "sqlite"), default=None,
                        help="the store (default: postgres when installed)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="who goes to which server")
    parser.add_argument("--logs", type=Path, default=None, help="keep the processes' logs here")
    parser.add_argument(
        "--quick", action="store_true", help="a one-minute smoke run: 20 people, 200 servers, 1,2"
    )
    args = parser.parse_args()
    sizes = (20, 200, "1,2") if args.quick else (200, 2000, "1,2,4")
    args.people = args.people or sizes[0]
    args.servers = args.servers or sizes[1]
    args.workers = args.workers or sizes[2]
    counts = [int(x) for x in args.workers.split(",")]

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mouthpiece-bench-")))
        admin = stack.enter_context(_store(args.store))
        photo, voice = (SAMPLES / "portrait.jpg").read_bytes(), SAMPLES / "voice.ogg"
        s = Settings(
            people=args.people,
            servers=args.servers,
            shards=args.shards,
            render_seconds=args.render_seconds,
            intake_seconds=args.intake_seconds,
            admin_url=admin,
            video=_make_video(tmp),
            media=Media(photo, voice.read_bytes(), _seconds(voice)),
            seed=args.seed,
        )
        print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
        print(
            f"{s.people} people at once ({(s.people + 1) // 2} on Discord in {s.servers} servers"
            f" over {s.shards} shards, {s.people // 2} on Telegram), store:"
            f" {'PostgreSQL' if admin else 'SQLite'}; two bot processes (one per front-end)"
        )
        print(
            f"RENDER IS A FIXED-TIME STAND-IN ({s.render_seconds:g} s, bench/scale_worker.py)"
            f" and so is the upload check ({s.intake_seconds:g} s): the figures measure the"
            " queue, the store and the front-ends, not this CPU. Renders start once everyone"
            " has pressed Render (a full queue)."
        )
        results = []
        for n in counts:
            logs = args.logs / f"workers-{n}" if args.logs else tmp / f"logs-{n}"
            logs.mkdir(parents=True, exist_ok=True)
            t = time.monotonic()
            results.append(asyncio.run(one_run(s, n, logs)))
            print(f"  ... {n} worker(s): {time.monotonic() - t:.0f} s", flush=True)
        report(s, results)
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end (the machine is shared)")


@contextlib.contextmanager
def _store(choice: str | None) -> Iterator[str]:
    """The PostgreSQL server's admin URL, or "" for SQLite."""
    from tests.auxil.postgres_server import postgres_server

    if choice == "sqlite":
        yield ""
        return
    try:
        server = postgres_server()
        url = server.__enter__()
    except (RuntimeError, subprocess.CalledProcessError) as e:
        if choice == "postgres":
            raise
        print(f"({e}: SQLite instead)")
        yield ""
        return
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
