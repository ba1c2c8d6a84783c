"""Discord sharding: the real discord.py ``AutoShardedClient`` (through ``run_discord``) against
the stand-in gateway, which routes each server's events to shard ``(guild_id >> 22) % count``
and DMs to shard 0, as Discord does. Two shards in one process (the count ``/gateway/bot``
recommends) answer their own servers and are reported one by one in /healthz and /metrics;
two processes' worth of clients (shard 0 and shard 1 of 2) each get only their own servers'
events, and only the one with shard 0 registers the commands and gets the DMs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.chat.adapters.discord import identify_wait
from bot.chat.app import start_bot_http
from bot.contract import texts
from bot.contract.events import Action, Event
from bot.observability import FrontEnds, Metrics, bound_port
from bot.settings import BotSettings
from tests.auxil.discord_server import APP_ID, DiscordStandIn, shard_of, user
from tests.auxil.redis_server import free_port, redis_server
from tests.auxil.system import (
    CAN_POST,
    MEMBER,
    chat_service,
    discord_front_end,
    guild_interaction,
    member,
)

#: two servers' ids (snowflakes) that Discord sends to shard 0 and shard 1 of 2
GUILD_A, GUILD_B = str(1_000_000_000 << 22), str(1_000_000_001 << 22)
DM = "5000"


def test_the_servers_fall_on_different_shards() -> None:
    assert (shard_of(GUILD_A, 2), shard_of(GUILD_B, 2)) == (0, 1)


def _talk(script: str) -> dict[str, Any]:
    option = {"name": "script", "type": 3, "value": script}
    return {"id": "77", "name": "talk", "type": 1, "options": [option]}


def _followup(dc: DiscordStandIn, token: str) -> str:
    """What the bot answered to the interaction with ``token`` (its webhook follow-up)."""
    posts = [r for r in dc.followups() if r.path.startswith(f"/webhooks/{APP_ID}/{token}")]
    return "\n".join((r.json or {}).get("content", "") for r in posts)


async def _health(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        return resp.status, await resp.json()


def _up(metrics: Metrics, shard: str, name: str = "mouthpiece_discord_shard_up") -> float | None:
    """A shard's gauge in /metrics' text (None: not there)."""
    for line in metrics.exposition().decode().splitlines():
        if line.startswith(f'{name}{{shard="{shard}"}} '):
            return float(line.rpartition(" ")[2])
    return None


def test_two_automatic_shards_answer_their_servers_and_are_reported_each(tmp_path: Path) -> None:
    """``/gateway/bot`` recommends 2: both shards IDENTIFY, /talk in a server on each is
    answered through REST; /healthz and the gauges show both up, then shard 1 down once the
    stand-in drops it (and no event reaches a server of a shard that is gone)."""

    async def go() -> None:
        dc = DiscordStandIn()
        dc.shards, dc.max_concurrency = 2, 2
        await dc.start()
        now = [0.0]
        ends = FrontEnds(30.0, clock=lambda: now[0])
        metrics = Metrics.create()
        with redis_server(tmp_path) as url:
            settings = BotSettings(
                discord_bot_token="TEST",
                discord_api_base_url=dc.api,
                redis_url=url,
                data_dir=tmp_path / "data",
                bot_metrics_port=free_port(),
                metrics_host="127.0.0.1",
            )
            try:
                async with chat_service(settings) as (service, store, queue):
                    http = await start_bot_http(settings, store, queue, metrics, ends)
                    assert http is not None
                    try:
                        ends.watch("discord")  # as run_bot does, until the shards are known
                        options = {"liveness": ends, "metrics": metrics}
                        async with discord_front_end(dc, settings, service.handle, **options):
                            await _both_answer_then_one_drops(dc, ends, metrics, now, http)
                    finally:
                        await http.cleanup()
            finally:
                await dc.stop()

    asyncio.run(go())


async def _both_answer_then_one_drops(
    dc: DiscordStandIn, ends: FrontEnds, metrics: Metrics, now: list[float], http: Any
) -> None:
    await dc.wait_for(lambda: dc.connected_shards() == [0, 1])
    assert [op["d"]["shard"] for op in dc.gateway_ops if op["op"] == 2] == [[0, 2], [1, 2]]
    assert sum(r.path == "/gateway/bot" for r in dc.requests) == 1  # count and URL: one ask
    poster = member(MEMBER, CAN_POST)
    asks = {
        GUILD_A: guild_interaction(2, _talk("Hello from server A."), poster, guild=GUILD_A),
        GUILD_B: guild_interaction(2, _talk("Hello from server B."), poster, guild=GUILD_B),
    }
    for n, (guild, ask) in enumerate(asks.items()):
        await dc.dispatch("INTERACTION_CREATE", ask)
        assert dc.sent[-1] == (n, "INTERACTION_CREATE"), guild  # on the shard of its server
    for ask in asks.values():
        await dc.wait_for(lambda ask=ask: "Script received" in _followup(dc, ask["token"]))

    port = bound_port(http)
    await dc.wait_for(lambda: _up(metrics, "0") == _up(metrics, "1") == 1)
    status, body = await _health(port)
    assert status == 200 and body["ok"] is True
    assert (body["discord"], body["discord/0"], body["discord/1"]) == (True, True, True)

    await dc.drop_shard(1)
    await dc.wait_for(lambda: _up(metrics, "1") == 0)
    assert _up(metrics, "0") == 1
    with pytest.raises(AssertionError, match="shard 1, which is not connected"):
        await dc.dispatch("INTERACTION_CREATE", asks[GUILD_B])
    now[0] += ends.timeout + 1  # past the timeout: shard 0 reports in again, shard 1 cannot
    await _until(lambda: _health(port), lambda h: h[1]["discord/0"] is True)
    status, body = await _health(port)
    assert status == 503 and body["ok"] is False
    assert (body["discord"], body["discord/0"], body["discord/1"]) == (False, True, False)
    assert ends.dead() == ["discord", "discord/1"]  # the watchdog restarts the process
    latency = _up(metrics, "0", "mouthpiece_discord_shard_latency_seconds")
    assert latency is not None and 0 <= latency < 5  # heartbeats acknowledged


async def _until(
    probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout: float = 30
) -> None:
    """Probe until ``done`` says yes (the liveness report runs every 5 s)."""
    async with asyncio.timeout(timeout):
        while not done(await probe()):
            await asyncio.sleep(0.1)


def test_shards_split_over_two_processes_get_their_own_events(tmp_path: Path) -> None:
    """DISCORD_SHARD_COUNT=2 with DISCORD_SHARD_IDS=1 in one client and 0 in another: each
    gets only its own server's events, the DM goes to the one with shard 0, and only that
    one registers the slash commands (started second, so it is not the first to sync)."""
    seen: dict[str, list[str | None]] = {"0": [], "1": []}

    def recorder(process: str) -> Callable[[Event], Awaitable[list[Action]]]:
        async def handle(event: Event) -> list[Action]:
            seen[process].append(event.who.guild_id)
            return []

        return handle

    def commands_synced(dc: DiscordStandIn) -> int:
        return sum(
            r.method == "PUT" and r.path == f"/applications/{APP_ID}/commands" for r in dc.requests
        )

    async def go() -> None:
        dc = DiscordStandIn()
        await dc.start()
        base = BotSettings(
            discord_bot_token="TEST",
            discord_api_base_url=dc.api,
            data_dir=tmp_path,
            discord_shard_count=2,
        )
        one = BotSettings(**{**base.__dict__, "discord_shard_ids": "1"})
        zero = BotSettings(**{**base.__dict__, "discord_shard_ids": "0"})
        try:
            async with discord_front_end(dc, one, recorder("1")):
                await dc.wait_for(lambda: dc.connected_shards() == [1])
                assert commands_synced(dc) == 0
                async with discord_front_end(dc, zero, recorder("0")):
                    await dc.wait_for(lambda: dc.connected_shards() == [0, 1])
                    assert commands_synced(dc) == 1
                    await _one_event_each(dc)
                    await dc.wait_for(lambda: len(seen["0"]) == 2 and len(seen["1"]) == 1)
        finally:
            await dc.stop()
        assert seen == {"0": [GUILD_A, None], "1": [GUILD_B]}

    asyncio.run(go())


async def _one_event_each(dc: DiscordStandIn) -> None:
    """/status in server A and server B, then a DM: three events, three answers."""
    status = {"id": "78", "name": "status", "type": 1}
    for guild in (GUILD_A, GUILD_B):
        ask = guild_interaction(2, status, member(MEMBER, CAN_POST), guild=guild)
        await dc.dispatch("INTERACTION_CREATE", ask)
        await dc.wait_for(lambda ask=ask: _followup(dc, ask["token"]) == texts.OK)
    dm = {**dc.message(DM, {}), "author": user(MEMBER), "content": "hello"}
    await dc.dispatch("MESSAGE_CREATE", dm)
    assert dc.sent[-1] == (0, "MESSAGE_CREATE")


# ---- the parts, without a gateway ---------------------------------------------------------
def test_a_front_end_with_shards_is_as_alive_as_its_deadest_shard() -> None:
    now = [100.0]
    ends = FrontEnds(10.0, clock=lambda: now[0])
    ends.watch("discord")
    ends.watch("telegram")
    assert ends.report() == {"discord": True, "telegram": True}
    now[0] = 105.0
    ends.watch("discord/0")
    ends.watch("discord/1")
    now[0] = 112.0  # "discord" itself is stale, but its shards are within their grace period
    ends.alive("telegram")
    assert ends.report()["discord"] is True
    ends.alive("discord/0")
    now[0] = 116.0
    assert ends.report() == {
        "discord": False,
        "telegram": True,
        "discord/0": True,
        "discord/1": False,
    }
    assert ends.dead() == ["discord", "discord/1"]


def test_identify_is_paced_per_rate_limit_bucket() -> None:
    """One IDENTIFY per bucket (shard_id % max_concurrency) per 5 s, none held back more."""
    last = {0: 100.0}
    assert identify_wait({}, 0, 1, 100.0) == 0.0  # a bucket's first IDENTIFY goes at once
    assert identify_wait(last, 1, 1, 101.0) == 4.0  # max_concurrency 1: one bucket for all
    assert identify_wait(last, 1, 2, 101.0) == 0.0  # shard 1 is in bucket 1 of 2
    assert identify_wait(last, 2, 2, 103.0) == 2.0  # shard 2 shares bucket 0 with shard 0
    assert identify_wait(last, 16, 16, 106.0) == 0.0  # the window has passed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DISCORD_SHARD_IDS": "0,1"}, "needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "3,4"}, "holds 4, but"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1,1"}, "names shard 1 twice"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0,x"}, "holds 'x'"),
        ({"DISCORD_SHARD_COUNT": "-1"}, "must be 0"),
    ],
)
def test_shard_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BotSettings.from_env(env, dotenv=None)


def test_shard_settings_read_from_the_environment() -> None:
    s = BotSettings.from_env({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "2, 3"}, None)
    assert (s.discord_shard_count, s.discord_shards) == (4, (2, 3))
    assert BotSettings().discord_shards == ()  # all shards, as many as Discord recommends
