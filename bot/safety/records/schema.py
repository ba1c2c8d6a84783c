"""The safety package's tables, as its part of each version of the bot's one schema (the
sequence :data:`bot.chat.store.schema.MIGRATIONS` applies: the chat process's part, then
this one). Index i is version i + 1; "" where a version changed nothing of safety's."""

from __future__ import annotations

__all__ = ["SAFETY_SCHEMA"]

SAFETY_SCHEMA: tuple[str, ...] = (
    # 1: sessions, media, voices and jobs, and room for consent, moderation and audit
    """
    CREATE TABLE consents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        job_id TEXT, voice_digest TEXT NOT NULL, photo_digest TEXT NOT NULL,
        script_digest TEXT NOT NULL, mode TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE guild_settings (
        platform TEXT NOT NULL, guild_id TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (platform, guild_id));
    CREATE TABLE bans (
        platform TEXT NOT NULL, guild_id TEXT NOT NULL, user_id TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', at REAL NOT NULL,
        PRIMARY KEY (platform, guild_id, user_id));
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, platform TEXT NOT NULL,
        guild_id TEXT, user_id TEXT, action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
    """,
    # 2: consent, limits, moderation, retention. guild_id '' is the DM scope.
    """
    ALTER TABLE consents ADD COLUMN guild_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE consents ADD COLUMN verified TEXT NOT NULL DEFAULT '';
    CREATE INDEX consents_by_voice ON consents (platform, user_id, voice_digest);
    CREATE TABLE reviews (
        job_id TEXT PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
        platform TEXT NOT NULL, guild_id TEXT NOT NULL DEFAULT '', phrase TEXT,
        created REAL NOT NULL, decision TEXT, decided_by TEXT, decided REAL);
    CREATE TABLE consent_phrases (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        draft_id TEXT NOT NULL, phrase TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id, chat_id));
    """,
    # 3: bounded resources: every accepted upload, for the per-person rate and
    # byte quota. Not tied to users: /forget must not reset a quota. Rows older than a day
    # are dropped as new ones come.
    "",
    # 4: moderator scope, data that goes away: the server a draft is made in (a
    # server's moderators erase only what was made there), a video's takedown, and the
    # moderators' log read by scope.
    """
    CREATE INDEX audit_by_scope ON audit_log (platform, guild_id, at);
    """,
)
