"""Discord front-end (discord.py 2.7): slash commands and buttons -> neutral events -> replies.

``/talk`` takes optional ``script``, ``voice``, ``photo`` and ``language`` options (a choice:
auto, or a supported language by its own name); without a script it opens a modal for a long
one; ``/lang`` changes the language of the draft under way. Every interaction is answered
(deferred, or the modal) before anything is downloaded; an attachment is downloaded only once
the core has accepted its declared size and type and the person's quota, and the download
stops at ``max_file_bytes`` whatever the declared size said. Each person's events run in
order, one at a time (their lane). Buttons are stateless ``DynamicItem``s whose custom id
carries the action and the requester's id, so only the requester can press them and they work
after a bot restart. Videos are posted by the worker with the bot token to the channel, not
through the 15-minute interaction webhook.

Facts for bot.safety, never decisions: whether the member may post files in the channel
(``Who.can_post``; where they may not, every answer to them is ephemeral) and whether a DM's
attachment was forwarded from another message (``Media.forwarded``). A slash command's
attachment option is a fresh upload: Discord says nothing of where the file came from.

Sharding: the client is discord.py's ``AutoShardedClient``. Discord sends a server's events to
shard ``(guild_id >> 22) % shard_count`` and every DM to shard 0; one process runs all shards
(``DISCORD_SHARD_COUNT`` 0: as many as ``/gateway/bot`` recommends) or some of them
(``DISCORD_SHARD_IDS``), the others running in other processes. Each shard's gateway session
is watched on its own (``discord/0``, ``discord/1`` in /healthz, a gauge per shard), and
shards IDENTIFY as fast as Discord allows (``max_concurrency`` at once per 5 s), no faster.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bot.chat.adapters.discord_mod import build_mod_group
from bot.chat.adapters.discord_shared import who_of
from bot.contract import texts
from bot.contract.errors import MediaTooLarge
from bot.contract.events import (
    Action,
    Attachment,
    Button,
    ButtonSpec,
    Command,
    Event,
    Media,
    Notify,
    Reply,
    Text,
    Who,
    media_kind,
)
from bot.contract.wire import discord as wire
from bot.lanes import Lanes
from bot.observability import Metrics
from bot.settings import BotSettings
from spoken_text.languages import LANGUAGES, SUPPORTED

__all__ = [
    "BotGateway",
    "Liveness",
    "MouthpieceClient",
    "gateway_url",
    "run_discord",
    "use_api_base",
    "use_gateway",
]

log = logging.getLogger(__name__)
Handle = Callable[[Event], Awaitable[list[Action]]]
#: (who, what they typed so far) -> names to offer (at most 25: Discord's cap)
Suggest = Callable[[Who, str], Awaitable[list[str]]]
_FILES_LIMIT = 8 * 1024 * 1024  # an interaction that does not say its upload limit
_DISCORD_GATEWAY = DiscordWebSocket.DEFAULT_GATEWAY  # discord.py's own: wss://gateway.discord.gg/
IDENTIFY_WINDOW = 5.0  # seconds: Discord takes one IDENTIFY per rate-limit bucket this often
FRONT_END = "discord"  # the name in FrontEnds; a shard is "discord/<id>"


class Liveness(Protocol):
    """Where the client says which shards' gateway sessions work (``FrontEnds``)."""

    def watch(self, name: str) -> None: ...

    def alive(self, name: str) -> None: ...


@dataclass(frozen=True)
class BotGateway:
    """What ``/gateway/bot`` says: where to connect, how many shards Discord recommends, and
    how many shards may IDENTIFY at once (each ``shard_id % max_concurrency`` is a bucket
    that takes one IDENTIFY per 5 s)."""

    url: str
    shards: int
    max_concurrency: int = 1

    @classmethod
    async def fetch(cls, client: discord.Client) -> BotGateway:
        shards, url, limits = await client.http.get_bot_gateway()
        return cls(url, shards, int(limits.get("max_concurrency", 1)))


def use_api_base(url: str) -> None:
    """Point discord.py's REST client at ``url`` (a proxy, or a test stand-in)."""
    discord.http.Route.BASE = url.rstrip("/")


def use_gateway(url: str | None) -> None:
    """Open discord.py's gateway websocket at ``url`` (None: Discord's own gateway).

    discord.py 2.7 has no setting for this: a plain ``Client`` connects to the class attribute
    ``DiscordWebSocket.DEFAULT_GATEWAY`` (it asks ``/gateway/bot`` only when auto-sharding),
    returns there when a session is invalidated, and resumes at READY's
    ``resume_gateway_url``. So this attribute, process-wide like ``Route.BASE`` above, is the
    one place the gateway is moved; nothing else of discord.py is patched.
    """
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url) if url else _DISCORD_GATEWAY


async def gateway_url(
    settings: BotSettings, client: discord.Client, known: BotGateway | None = None
) -> str | None:
    """``DISCORD_GATEWAY_URL``; else, when ``DISCORD_API_BASE_URL`` is not Discord's, the URL
    that API's ``/gateway/bot`` gives (``known``, or asked after login); else None: Discord's
    default gateway."""
    if settings.discord_gateway_url:
        return settings.discord_gateway_url
    if not settings.discord_custom_api:
        return None
    return (known or await BotGateway.fetch(client)).url


def identify_wait(last: dict[int, float], shard_id: int, max_concurrency: int, now: float) -> float:
    """Seconds shard ``shard_id`` must wait before its IDENTIFY: until 5 s after the last
    IDENTIFY of its bucket (``last``: bucket -> when) in this process; 0 for a bucket's first."""
    seen = last.get(shard_id % max(1, max_concurrency))
    return 0.0 if seen is None else max(0.0, seen + IDENTIFY_WINDOW - now)


def _media(
    who: Who,
    att: discord.Attachment,
    fetch: Callable[[], Awaitable[bytes]],
    forwarded: bool = False,
) -> Media:
    """The attachment as declared; ``fetch`` downloads it when the core has accepted it."""
    return Media(
        who,
        media_kind(att.filename, att.content_type or ""),
        att.size,
        fetch,
        att.filename,
        att.content_type or "",
        att.duration or None,
        forwarded,
    )


def _is_forward(message: discord.Message) -> bool:
    """Whether Discord says this message forwards another (a forward reference, the forwarded
    flag, or message snapshots): a fact for bot.safety. A reply is not a forward."""
    ref = message.reference
    return (
        bool(message.message_snapshots)
        or message.flags.forwarded
        or (ref is not None and ref.type == discord.MessageReferenceType.forward)
    )


#: the language choices of /talk and /lang: auto first, then each language by its own name
LANGUAGE_CHOICES = [
    app_commands.Choice(name=texts.LANG_AUTO_CHOICE, value="auto"),
    *(app_commands.Choice(name=LANGUAGES[code].native, value=code) for code in SUPPORTED),
]


def _private(who: Who) -> bool:
    """Answer only this person (ephemeral) in a channel where they may not post themselves:
    nothing the bot says for them appears there in their name."""
    return not who.can_post


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=wire.TEMPLATE):
    """A button for one user, in the wire format of :mod:`bot.contract.wire.discord`."""

    def __init__(self, user_id: int, action: str, value: str = "", label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or action,
                style=discord.ButtonStyle(wire.style(action)),
                custom_id=wire.encode(wire.Press(str(user_id), action, value)),
            )
        )
        self.user_id, self.action, self.value = user_id, action, value

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[Any],  # type: ignore[override]
        match: re.Match[str],
    ) -> ActionButton:
        press = wire.decode(match.group(0))
        assert press is not None  # discord.py matched the same template
        return cls(int(press.user_id), press.action, press.value, item.label or "")

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        press = wire.Press(str(self.user_id), self.action, self.value)
        if not wire.may_press(press, str(interaction.user.id)):
            await interaction.response.send_message(texts.NOT_YOUR_BUTTON, ephemeral=True)
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        assert isinstance(client, MouthpieceClient)
        if self.action == wire.TRANSCRIPT:
            await interaction.response.send_modal(TranscriptModal(client))
            return
        who = who_of(interaction)
        # moderators' answers stay between them; so does all a non-poster is told
        private = self.action.startswith("mod_") or _private(who)
        await interaction.response.defer(thinking=True, ephemeral=private)
        await client.respond(interaction, [Button(who, self.action, self.value)], ephemeral=private)


class ScriptModal(discord.ui.Modal, title=texts.FORM_SCRIPT_TITLE):
    script: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label=texts.FORM_SCRIPT_LABEL, style=discord.TextStyle.paragraph, max_length=4000
    )

    def __init__(self, client: MouthpieceClient, pending: list[Event]) -> None:
        super().__init__()
        self.client, self.pending = client, pending

    async def on_submit(self, interaction: discord.Interaction) -> None:
        who = who_of(interaction)
        await interaction.response.defer(thinking=True, ephemeral=_private(who))
        await self.client.respond(
            interaction, [*self.pending, Text(who, str(self.script.value))], ephemeral=_private(who)
        )


class TranscriptModal(discord.ui.Modal, title=texts.FORM_TRANSCRIPT_TITLE):
    text: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label=texts.FORM_TRANSCRIPT_LABEL, style=discord.TextStyle.paragraph, max_length=1000
    )

    def __init__(self, client: MouthpieceClient) -> None:
        super().__init__()
        self.client = client

    async def on_submit(self, interaction: discord.Interaction) -> None:
        who = who_of(interaction)
        await interaction.response.defer(thinking=True, ephemeral=_private(who))
        await self.client.respond(
            interaction, [Text(who, str(self.text.value))], ephemeral=_private(who)
        )


async def _read_capped(session: aiohttp.ClientSession, url: str, cap: int) -> bytes:
    """GET ``url``, refusing more than ``cap`` bytes (a lying Content-Length or none)."""
    async with session.get(url) as resp:
        resp.raise_for_status()
        if (resp.content_length or 0) > cap:
            raise MediaTooLarge(int(resp.content_length or 0))
        data = bytearray()
        async for chunk in resp.content.iter_chunked(1 << 16):
            data += chunk
            if len(data) > cap:
                raise MediaTooLarge(len(data))
        return bytes(data)


class MouthpieceClient(discord.AutoShardedClient):
    """The Discord client: commands in servers and DMs, attachments in DMs.

    ``shard_count`` None: as many shards as ``/gateway/bot`` recommends (asked at
    :meth:`connect` unless ``bot_gateway`` was set from that answer already); ``shard_ids``
    None: all of them. ``liveness`` hears which shards' sessions work, ``metrics`` shows them.
    """

    def __init__(
        self,
        handle: Handle,
        *,
        max_file_bytes: int = 20_000_000,
        shard_count: int | None = None,
        shard_ids: Sequence[int] | None = None,
        liveness: Liveness | None = None,
        metrics: Metrics | None = None,
        suggest: Suggest | None = None,
    ) -> None:
        intents = discord.Intents.default()
        intents.dm_messages = True
        some: dict[str, Any] = {"shard_ids": list(shard_ids)} if shard_ids else {}
        super().__init__(intents=intents, shard_count=shard_count, **some)
        self.handle = handle
        self.suggest = suggest  # the person's avatar names, for /say's autocomplete
        self.max_file_bytes = max_file_bytes
        self.lanes = Lanes()
        self.tree = app_commands.CommandTree(self)
        self._register()
        self.bot_gateway: BotGateway | None = None  # /gateway/bot's answer, once asked
        self._liveness = liveness
        self._metrics = metrics
        self.shards_up: dict[int, bool] = {}  # this process's shards: session live or not
        self._identified: dict[int, float] = {}  # rate-limit bucket -> its last IDENTIFY
        self._downloads: aiohttp.ClientSession | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def syncs_commands(self) -> bool:
        """Whether this process registers the slash commands: the one holding shard 0 (all
        shards, or a DISCORD_SHARD_IDS with 0), so that processes splitting the shards
        overwrite the global command list once, not once each."""
        return not self.shard_ids or 0 in self.shard_ids

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton)
        self._downloads = aiohttp.ClientSession()
        if self._liveness is not None or self._metrics is not None:
            self._watch = asyncio.create_task(self._report_alive())

    async def connect(self, *, reconnect: bool = True) -> None:
        """Decide the shard count (``/gateway/bot``'s when automatic), watch every shard of
        this process, then run them (discord.py opens each at the gateway ``use_gateway``
        set)."""
        if self.shard_count is None:
            self.bot_gateway = self.bot_gateway or await BotGateway.fetch(self)
            self.shard_count = self.bot_gateway.shards
        self._watch_shards(self.shard_ids or range(self.shard_count))
        await super().connect(reconnect=reconnect)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Pace IDENTIFYs as Discord limits them: one per bucket per 5 s (discord.py's own
        hook waits 5 s before every shard but the first, whatever ``max_concurrency`` is)."""
        shard = shard_id or 0
        per = self.bot_gateway.max_concurrency if self.bot_gateway is not None else 1
        wait = identify_wait(self._identified, shard, per, time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        self._identified[shard % max(1, per)] = time.monotonic()

    async def close(self) -> None:
        if self._downloads is None:  # never logged in (setup_hook made it): nothing else runs,
            await self.http.close()  # and discord.py's own close needs what login sets up
            return
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.wait({self._watch})  # a cancellation of close() itself still ends it
        await super().close()
        if self._downloads is not None:
            await self._downloads.close()

    # ---- gateway liveness, per shard (the bot's /healthz, watchdog and metrics) -----------
    def _watch_shards(self, shard_ids: Iterable[int]) -> None:
        """Each shard of this process has the liveness timeout from now to come up."""
        for shard in shard_ids:
            self.shards_up.setdefault(shard, False)
            if self._liveness is not None:
                self._liveness.watch(f"{FRONT_END}/{shard}")
            self._shard_state(shard, self.shards_up[shard])

    def _shard_state(self, shard: int, up: bool) -> None:
        self.shards_up[shard] = up
        if self._metrics is not None:
            self._metrics.discord_shard_up.labels(shard=str(shard)).set(1 if up else 0)
        if up and self._liveness is not None:
            self._liveness.alive(f"{FRONT_END}/{shard}")

    async def on_shard_connect(self, shard_id: int) -> None:  # READY: a new session
        self._shard_state(shard_id, True)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._shard_state(shard_id, True)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._shard_state(shard_id, False)

    def report_liveness(self) -> None:
        """Tell ``liveness`` which shards are up now, and refresh their latency gauges."""
        latencies = dict(self.latencies)
        for shard, up in self.shards_up.items():
            if up and self._liveness is not None:
                self._liveness.alive(f"{FRONT_END}/{shard}")
            latency = latencies.get(shard, math.nan)
            if self._metrics is not None and math.isfinite(latency):
                self._metrics.discord_shard_latency.labels(shard=str(shard)).set(latency)

    async def _report_alive(self, every: float = 5.0) -> None:
        while not self.is_closed():
            self.report_liveness()
            await asyncio.sleep(every)

    def attachment(self, who: Who, att: discord.Attachment, *, forwarded: bool = False) -> Media:
        """An attachment as an event; downloaded later, capped at ``max_file_bytes``.
        ``forwarded``: Discord says it came from another message (a forward)."""

        async def fetch() -> bytes:
            if self._downloads is None:  # not logged in: discord.py's own reader, capped after
                data = await att.read()
                if len(data) > self.max_file_bytes:
                    raise MediaTooLarge(len(data))
                return data
            return await _read_capped(self._downloads, att.url, self.max_file_bytes)

        return _media(who, att, fetch, forwarded)

    def _register(self) -> None:
        tree = self.tree

        @tree.command(name="talk", description=texts.DISCORD_COMMANDS["talk"])
        @app_commands.describe(**texts.DISCORD_TALK_OPTIONS)
        @app_commands.choices(language=LANGUAGE_CHOICES)
        async def talk(
            interaction: discord.Interaction,
            script: str | None = None,
            voice: discord.Attachment | None = None,
            photo: discord.Attachment | None = None,
            language: str | None = None,
        ) -> None:
            who = who_of(interaction)
            files = [self.attachment(who, a) for a in (voice, photo) if a is not None]
            start = Command(who, "talk", language or "")
            if script is None:  # the modal is the answer; files are fetched after it is sent
                pending: list[Event] = [start, *files]
                await interaction.response.send_modal(ScriptModal(self, pending))
                return
            private = _private(who)
            await interaction.response.defer(thinking=True, ephemeral=private)  # within 3 s
            await self.respond(interaction, [start, Text(who, script), *files], ephemeral=private)

        self._register_lang()

        tree.add_command(build_mod_group(self))
        for name in ("cancel", "status", "forget", "help", "voices", "avatars"):
            tree.command(name=name, description=texts.DISCORD_COMMANDS[name])(self._simple(name))  # type: ignore[arg-type]

        @tree.command(name="web", description=texts.DISCORD_COMMANDS["web"])
        async def web_link(interaction: discord.Interaction) -> None:
            who = who_of(interaction)  # the link is the asker's alone: always ephemeral
            await interaction.response.defer(thinking=True, ephemeral=True)
            await self.respond(interaction, [Command(who, "web")], ephemeral=True)

        @tree.command(name="say", description=texts.DISCORD_COMMANDS["say"])
        @app_commands.describe(**texts.DISCORD_SAY_OPTIONS)
        async def say(interaction: discord.Interaction, avatar: str, script: str) -> None:
            who = who_of(interaction)
            private = _private(who)
            await interaction.response.defer(thinking=True, ephemeral=private)
            command = Command(who, "say", f"{avatar.strip()} {script}")
            await self.respond(interaction, [command], ephemeral=private)

        @say.autocomplete("avatar")
        async def avatar_names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            if self.suggest is None:
                return []
            try:
                names = await self.suggest(who_of(interaction), current)
            except Exception:  # an answer of no choices, never an error shown to the person
                log.exception("avatar names for autocomplete failed")
                return []
            return [app_commands.Choice(name=n, value=n) for n in names[:25]]

        for name in ("save", "delete"):
            tree.command(
                name=f"avatar_{name}", description=texts.DISCORD_COMMANDS[f"avatar_{name}"]
            )(self._named("avatar", name))  # type: ignore[arg-type]

        @tree.command(name="voice_save", description=texts.DISCORD_COMMANDS["voice_save"])
        async def voice_save(interaction: discord.Interaction, name: str) -> None:
            who = who_of(interaction)
            await interaction.response.defer(thinking=True, ephemeral=_private(who))
            await self.respond(
                interaction, [Command(who, "voice", f"save {name}")], ephemeral=_private(who)
            )

        @tree.command(name="voice_delete", description=texts.DISCORD_COMMANDS["voice_delete"])
        async def voice_delete(interaction: discord.Interaction, name: str) -> None:
            who = who_of(interaction)
            await interaction.response.defer(thinking=True, ephemeral=_private(who))
            await self.respond(
                interaction, [Command(who, "voice", f"delete {name}")], ephemeral=_private(who)
            )

    def _register_lang(self) -> None:
        """``/lang language``: the language of the draft under way (the same choices as
        /talk's option)."""

        @self.tree.command(name="lang", description=texts.DISCORD_COMMANDS["lang"])
        @app_commands.describe(language=texts.DISCORD_TALK_OPTIONS["language"])
        @app_commands.choices(language=LANGUAGE_CHOICES)
        async def lang(interaction: discord.Interaction, language: str) -> None:
            who = who_of(interaction)
            await interaction.response.defer(thinking=True, ephemeral=_private(who))
            await self.respond(
                interaction, [Command(who, "lang", language)], ephemeral=_private(who)
            )

    def _simple(self, name: str) -> Callable[[discord.Interaction], Awaitable[None]]:
        async def command(interaction: discord.Interaction) -> None:
            who = who_of(interaction)
            await interaction.response.defer(thinking=True, ephemeral=_private(who))
            await self.respond(interaction, [Command(who, name)], ephemeral=_private(who))

        command.__name__ = name
        return command

    def _named(self, command: str, action: str) -> Callable[..., Awaitable[None]]:
        """``/{command}_{action} name``: the core's ``/{command} {action} NAME``."""

        async def named(interaction: discord.Interaction, name: str) -> None:
            who = who_of(interaction)
            await interaction.response.defer(thinking=True, ephemeral=_private(who))
            event = Command(who, command, f"{action} {name}")
            await self.respond(interaction, [event], ephemeral=_private(who))

        named.__name__ = f"{command}_{action}"
        return named

    async def respond(
        self, interaction: discord.Interaction, events: list[Event], *, ephemeral: bool = False
    ) -> None:
        """Run events through the core (in the person's lane); send every reply as a follow-up
        (buttons attached)."""
        replies: list[Action] = []
        async with self.lanes.hold(interaction.user.id):
            for event in events:
                try:
                    replies += await self.handle(event)
                except Exception:
                    log.exception("interaction handling failed")
                    replies.append(Reply(texts.OOPS))
        await self._notify([r for r in replies if isinstance(r, Notify)])
        replies = [r for r in replies if not isinstance(r, Notify)]
        said = [r.text for n, r in enumerate(replies) if n == 0 or r.text != replies[n - 1].text]
        text = "\n".join(said) or texts.OK  # a refusal of /talk and its files: said once
        buttons = tuple(b for r in replies for b in r.buttons)
        limit = getattr(interaction, "filesize_limit", 0) or _FILES_LIMIT
        files = [
            discord.File(io.BytesIO(a.data), a.name)
            for a in _within(tuple(a for r in replies for a in r.attachments), limit)
        ]
        extra: dict[str, Any] = {"files": files} if files else {}
        private = ephemeral or any(r.private for r in replies)  # other people's data
        await interaction.followup.send(
            text[:2000], view=self._view(interaction.user.id, buttons), ephemeral=private, **extra
        )

    async def _notify(self, notes: list[Notify]) -> None:
        """Messages for other channels (a requester told of a moderator's decision)."""
        for note in notes:
            try:
                await self.get_partial_messageable(int(note.chat_id)).send(note.text[:2000])
            except discord.HTTPException:
                log.warning("could not notify a channel", extra={"channel": note.chat_id})

    def _view(self, user_id: int, buttons: tuple[ButtonSpec, ...]) -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        for b in wire.shown(buttons):
            view.add_item(ActionButton(user_id, b.action, b.value, b.label))
        return view

    async def on_message(self, message: discord.Message) -> None:
        """In DMs, files and text feed the draft (servers use /talk; no message-content intent).
        A forwarded message's files (its snapshots) come as forwarded media."""
        if message.author.bot or message.guild is not None:
            return
        who = Who(
            "discord",
            str(message.author.id),
            str(message.channel.id),
            None,
            message.author.display_name,
            str(message.id),
        )
        forward = _is_forward(message)
        shared = [a for snap in message.message_snapshots for a in snap.attachments]
        events: list[Event] = [
            *(self.attachment(who, a, forwarded=forward) for a in message.attachments),
            *(self.attachment(who, a, forwarded=True) for a in shared),
        ]
        if message.content and not events:
            events.append(Text(who, message.content))
        replies: list[Action] = []
        async with self.lanes.hold(message.author.id):
            for event in events:
                replies += await self.handle(event)
        for r in replies:
            await message.channel.send(r.text[:2000], view=self._view(message.author.id, r.buttons))


def _within(attachments: tuple[Attachment, ...], limit: int) -> list[Attachment]:
    """The files one answer carries (a review's previews): at most ten, together within
    ``limit`` bytes (the interaction's upload limit); one that does not fit is left out, not
    the whole answer."""
    out: list[Attachment] = []
    room = limit
    for a in attachments:
        if len(out) < 10 and len(a.data) <= room:
            out.append(a)
            room -= len(a.data)
    return out


async def run_discord(
    settings: BotSettings,
    handle: Handle,
    *,
    liveness: Liveness | None = None,
    metrics: Metrics | None = None,
    suggest: Suggest | None = None,
) -> None:
    """Log in, find the gateway and the shard count, register the commands (the process with
    shard 0 only), and run this process's shards until cancelled."""
    use_api_base(settings.discord_api_base_url)
    client = MouthpieceClient(
        handle,
        max_file_bytes=settings.max_file_bytes,
        shard_count=settings.discord_shard_count or None,
        shard_ids=settings.discord_shards or None,
        liveness=liveness,
        metrics=metrics,
        suggest=suggest,
    )
    async with client:
        await client.login(settings.discord_bot_token)
        if client.shard_count is None:  # automatic: one /gateway/bot answer serves both
            client.bot_gateway = await BotGateway.fetch(client)
            client.shard_count = client.bot_gateway.shards
        gateway = await gateway_url(settings, client, client.bot_gateway)
        use_gateway(gateway)
        log.info(
            "discord gateway",
            extra={
                "gateway": gateway or str(_DISCORD_GATEWAY),
                "shard_count": client.shard_count,
                "shard_ids": settings.discord_shard_ids or "all",
            },
        )
        if client.syncs_commands:
            await client.tree.sync()
        await client.connect()
