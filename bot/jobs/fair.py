"""The fair render queue: scores by round, and every queued job's place in line.

arq runs the ready job with the lowest score first. Instead of the enqueue time, a render's
score is its *round*, so that people and places share the workers:

- **per person, weighted by cost**: a job's round is the later of the round now running and
  the person's previous round, plus its cost in rounds (one per ``ROUND_SECONDS`` of expected
  speech, :func:`cost`): one person's ten jobs take rounds r+1..r+10, another person's job
  enqueued later takes round r+1 and runs second; a two-minute script counts as twelve short
  ones;
- **per scope**: a scope (a server; a platform's direct messages, all accounts together) may
  have at most ``width`` jobs in any one round; past that a job moves to the next round with
  room. Twenty-five fresh DM accounts therefore spread over thirteen rounds (width 2) instead
  of all taking the next one, and a member of a server whose scope is idle still runs in the
  next round.

Rounds are small numbers (milliseconds after 1970), so every queued job is always "due" and an
idle worker never waits. The admission caps beside this (each server's share of the queue,
the DM pool's) are in :mod:`bot.safety.policy`.
"""

from __future__ import annotations

import math

from arq.connections import ArqRedis

from bot.contract.jobs import JOB_RECORDS_TTL, RENDER_QUEUE, SCOPE_WIDTH, Keys, RenderJob
from bot.contract.ports import Position
from spoken_text import speech_seconds

__all__ = [
    "ROUND",
    "ROUND_SECONDS",
    "SCOPE_WIDTH",
    "FAIR_SCORE",
    "cost",
    "fair_score",
    "mark_round_started",
    "queue_positions",
]

#: score units per round; the rest orders jobs within a round by arrival
ROUND = 1_000_000
#: expected seconds of speech one round stands for (a longer script costs more rounds)
ROUND_SECONDS = 10.0

# KEYS: global round, the person's last round, the scope's rounds (zset job -> round),
# sequence. ARGV: seconds the keys are kept, cost in rounds, scope width, job id.
# Returns the score for a new job.
FAIR_SCORE = """
local now_round = tonumber(redis.call('GET', KEYS[1]) or '0')
local user_round = tonumber(redis.call('GET', KEYS[2]) or '0')
local width = tonumber(ARGV[3])
local round = math.max(now_round, user_round) + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. now_round)
for _ = 1, 100000 do
  if redis.call('ZCOUNT', KEYS[3], round, round) < width then break end
  round = round + 1
end
redis.call('ZADD', KEYS[3], round, ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('SET', KEYS[2], round, 'EX', ARGV[1])
local seq = redis.call('INCR', KEYS[4]) % 1000000
return round * 1000000 + seq
"""
# KEYS: global round. ARGV: the started job's round. The global round only moves forward.
_ROUND_STARTED = """
local now_round = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > now_round then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


def cost(script: str, language: str = "") -> int:
    """Rounds a render of ``script`` costs: one per ROUND_SECONDS of expected speech (the
    spoken text: digits count as the words they become) in ``language`` (the job's choice,
    at its speaking rate; "": detected)."""
    try:
        seconds = speech_seconds(script, language or None)
    except ValueError:  # a choice this version does not know: as if none was made
        seconds = speech_seconds(script)
    return max(1, math.ceil(seconds / ROUND_SECONDS))


async def fair_score(redis: ArqRedis, job: RenderJob, width: int = SCOPE_WIDTH) -> int:
    return int(
        await redis.eval(
            FAIR_SCORE,
            4,
            Keys.FAIR_ROUND,
            Keys.fair_user(job.platform, job.user_id),
            Keys.fair_scope(job.platform, job.guild_id),
            Keys.FAIR_SEQ,
            str(JOB_RECORDS_TTL),
            str(cost(job.script, job.language)),
            str(max(1, width)),
            job.job_id,
        )  # type: ignore[misc]
    )


async def mark_round_started(redis: ArqRedis, score: int) -> None:
    """A worker started a job with ``score``: later enqueues join from its round on."""
    await redis.eval(_ROUND_STARTED, 1, Keys.FAIR_ROUND, str(score // ROUND))  # type: ignore[misc]


async def queue_positions(redis: ArqRedis) -> tuple[dict[str, Position], list[str]]:
    """Every queued job's position, and the ids of running jobs, from one look at the queue."""
    entries = await redis.zrange(RENDER_QUEUE, 0, -1)
    ids = [e.decode() if isinstance(e, bytes) else str(e) for e in entries]
    if not ids:
        return {}, []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(Keys.in_progress(job_id))
        flags = await pipe.execute()
    running = [j for j, f in zip(ids, flags, strict=True) if f]
    waiting = [j for j, f in zip(ids, flags, strict=True) if not f]
    return {j: Position(i, len(running)) for i, j in enumerate(waiting)}, running
