"""The fair render queue: scores by round, and every queued job's place in line.

arq runs the ready job with the lowest score first. Instead of the enqueue time, a render's
score is its *round*: one more than the later of the user's previous round and the round now
running. One user's ten jobs take rounds r+1..r+10, another user's job enqueued later takes
round r+1 and runs second. Rounds are small numbers (milliseconds after 1970), so every
queued job is always "due" and an idle worker never waits.
"""

from __future__ import annotations

from arq.connections import ArqRedis

from bot.contract.jobs import JOB_RECORDS_TTL, RENDER_QUEUE, Keys
from bot.contract.ports import Position

__all__ = ["ROUND", "FAIR_SCORE", "fair_score", "mark_round_started", "queue_positions"]

#: score units per round; the rest orders jobs within a round by arrival
ROUND = 1_000_000

# KEYS: global round, user's last round, sequence. ARGV: seconds the user's round is kept.
# Returns the score for a new job.
FAIR_SCORE = """
local now_round = tonumber(redis.call('GET', KEYS[1]) or '0')
local user_round = tonumber(redis.call('GET', KEYS[2]) or '0')
local round = math.max(now_round, user_round) + 1
redis.call('SET', KEYS[2], round, 'EX', ARGV[1])
local seq = redis.call('INCR', KEYS[3]) % 1000000
return round * 1000000 + seq
"""
# KEYS: global round. ARGV: the started job's round. The global round only moves forward.
_ROUND_STARTED = """
local now_round = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > now_round then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


async def fair_score(redis: ArqRedis, platform: str, user_id: str) -> int:
    return int(
        await redis.eval(
            FAIR_SCORE,
            3,
            Keys.FAIR_ROUND,
            Keys.fair_user(platform, user_id),
            Keys.FAIR_SEQ,
            str(JOB_RECORDS_TTL),
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
