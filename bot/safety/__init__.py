"""Safety: consent, limits, bans, moderation, retention, takedown, and data that goes away.

The conversation service calls one object, :class:`Guard` (gate, screen, consent intro,
submit, cancel). Inside: pure decisions (:mod:`.policy`, :mod:`.moderation`), who may act
on what (:mod:`.authority`), the moderators' desk (:mod:`.desk`) and its checks of a video's
marks (:mod:`.verify`), review requests sent to the moderators where they work
(:mod:`.announce`), the safety tables (:mod:`.records`), erasure across SQLite, files, Redis
and workers (:mod:`.erasure`) and the retention purge (:mod:`.retention`).

Nothing here imports the store, the queue, a platform library or the engine: they are
passed in. Modules outside this package that this package imports never import it back.
"""

from bot.safety.authority import EVERYWHERE, Authority, Level, Staff, authority_of
from bot.safety.erasure import Eraser, Removed, SweepState, VoiceCache, sweep_forgotten
from bot.safety.guard import Guard
from bot.safety.policy import ListBounds, RateLimits, Safety, ServerPolicy, UploadLimits
from bot.safety.records import SafetyRecords
from bot.safety.retention import PurgeReport, Retention, purge

__all__ = [
    "Guard",
    "Safety",
    "Staff",
    "Authority",
    "Level",
    "EVERYWHERE",
    "authority_of",
    "ServerPolicy",
    "RateLimits",
    "ListBounds",
    "UploadLimits",
    "SafetyRecords",
    "Eraser",
    "Removed",
    "VoiceCache",
    "SweepState",
    "sweep_forgotten",
    "Retention",
    "PurgeReport",
    "purge",
]
