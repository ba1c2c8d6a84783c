"""A job's marks, shared by the engine and the bot: the token its video's speech carries, and
(:mod:`job_marks.lookup`) what a token or job id maps to in the bot's audit log.

Standard library only, importing nothing else of ours (a neutral package, like
``spoken_text``): the chat process records a job's token and the operator's ``mouthpiece
verify --db`` looks one up, neither meeting the other's code.

The token is the 32-bit number a video's speech carries (:mod:`engine.provenance.payload`).

Derived from the job id alone (SHA-256 under a fixed prefix), so the bot records it when it
records the job and nothing has to be handed from worker to bot. Standard library only: the
bot process computes it without loading the signal code. Two jobs share a token with
probability about n²/2³³ for n jobs (about 1 % after 9,300 jobs): ``verify`` then lists every
job the token maps to, and the manifest or the metadata, where they survive, name the one.
"""

from __future__ import annotations

import hashlib

__all__ = ["TOKEN_BITS", "token_for"]

TOKEN_BITS = 32
_PREFIX = b"mouthpiece-job-token-v1:"


def token_for(job_id: str) -> int:
    """The token of ``job_id``: the first 32 bits of SHA-256(prefix + id), big-endian."""
    digest = hashlib.sha256(_PREFIX + job_id.encode()).digest()
    return int.from_bytes(digest[:4], "big")
