"""The bot's SQLite schema: one version sequence for the one database file. Each version is
the chat process's part (:data:`CHAT_SCHEMA`: people, drafts, media, voices, the upload quota,
jobs) followed by the safety package's part (:data:`bot.safety.records.schema.SAFETY_SCHEMA`:
consents, policies, bans, the audit log, reviews, consent phrases), applied in order by
:class:`bot.db.Database`. A new version adds an entry to both lists ("" where a side has
nothing); lists out of step fail at import (``zip(strict=True)``)."""

from __future__ import annotations

from bot.safety.records.schema import SAFETY_SCHEMA

__all__ = ["MIGRATIONS", "CHAT_SCHEMA"]

#: the chat process's tables' part of each version (index i: version i + 1)
CHAT_SCHEMA: tuple[str, ...] = (
    # 1: sessions, media, voices and jobs, and room for consent, moderation and audit
    """
    CREATE TABLE users (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        last_voice_hash TEXT, last_voice_seconds REAL, last_voice_text TEXT,
        last_photo_hash TEXT, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id));
    CREATE TABLE drafts (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        data TEXT NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (platform, user_id, chat_id),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE TABLE media (
        digest TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL,
        mime TEXT NOT NULL DEFAULT '', path TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE voice_profiles (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
        media_digest TEXT NOT NULL REFERENCES media (digest), seconds REAL NOT NULL,
        transcript TEXT, consent_at REAL, created REAL NOT NULL,
        PRIMARY KEY (platform, user_id, name),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        chat_id TEXT NOT NULL, guild_id TEXT, status TEXT NOT NULL, payload TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '', output_bytes INTEGER NOT NULL DEFAULT 0,
        timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, finished REAL,
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE INDEX jobs_by_user ON jobs (platform, user_id, created);
    """,
    # 2: consent, limits, moderation, retention. guild_id '' is the DM scope.
    """
    ALTER TABLE voice_profiles ADD COLUMN consent_id INTEGER;
    CREATE INDEX jobs_by_guild ON jobs (platform, guild_id, created);
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE INDEX media_by_age ON media (created);
    """,
    # 3: bounded resources: every accepted upload, for the per-person rate and
    # byte quota. Not tied to users: /forget must not reset a quota. Rows older than a day
    # are dropped as new ones come.
    """
    CREATE TABLE uploads (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, at REAL NOT NULL, bytes INTEGER NOT NULL);
    CREATE INDEX uploads_by_user ON uploads (platform, user_id, at);
    """,
    # 4: moderator scope, data that goes away: the server a draft is made in (a
    # server's moderators erase only what was made there), a video's takedown, and the
    # moderators' log read by scope.
    """
    ALTER TABLE drafts ADD COLUMN guild_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN taken_down REAL;
    CREATE INDEX drafts_by_guild ON drafts (platform, user_id, guild_id);
    """,
    # 5: consent bound to where it was given (safety's part: the consent records' method
    # and scope, a saved voice's consents per scope)
    "",
    # 6: what the bot posted in the chat for each job (its video, its status message), so a
    # takedown deletes them there too; when each was removed, or why it could not be
    """
    CREATE TABLE posted (
        job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        kind TEXT NOT NULL, message_id TEXT NOT NULL, at REAL NOT NULL,
        removed REAL, error TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (job_id, kind, message_id));
    """,
    # 7: provenance (safety's part: the audit log's mark column)
    "",
    # 8: the web studio's sign-in: nonces of used sign-in links (kept until the link would
    # have expired: single use) and signed-in browsers (the SHA-256 of the session id, the
    # CSRF token its forms carry, 12 hours). Not tied to users: /web works before a person
    # has made anything; /forget ends their sessions itself.
    """
    CREATE TABLE web_nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL);
    CREATE TABLE web_sessions (
        key TEXT PRIMARY KEY, platform TEXT NOT NULL, user_id TEXT NOT NULL,
        csrf TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL);
    CREATE INDEX web_sessions_by_user ON web_sessions (platform, user_id);
    """,
    # 9: a web session opened from /web in a server its asker moderates carries that server
    # (the moderator dashboard's scope, as the platform said at /web time; 1 hour)
    """
    ALTER TABLE web_sessions ADD COLUMN scope TEXT NOT NULL DEFAULT '';
    """,
    # 10: avatars: a saved photo and voice (with its transcript) under a name, per person;
    # their uploads are kept while the avatar is (as a saved voice's). ``used``: the last
    # render asked with it (retention drops avatars idle for long).
    """
    CREATE TABLE avatars (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
        photo_digest TEXT NOT NULL REFERENCES media (digest),
        voice_digest TEXT NOT NULL REFERENCES media (digest),
        voice_seconds REAL NOT NULL, transcript TEXT, created REAL NOT NULL, used REAL NOT NULL,
        PRIMARY KEY (platform, user_id, name),
        FOREIGN KEY (platform, user_id) REFERENCES users (platform, user_id) ON DELETE CASCADE);
    CREATE INDEX avatars_by_use ON avatars (used);
    """,
    # 11: batches: the jobs made from one file of several scripts share a batch id (one
    # status message, one Cancel for them all)
    """
    ALTER TABLE jobs ADD COLUMN batch TEXT;
    CREATE INDEX jobs_by_batch ON jobs (batch) WHERE batch IS NOT NULL;
    """,
    # 12: a batch draft held: the scripts its Render could not queue yet (a limit that frees
    # by itself) are queued as room frees up; the bot finds them by this column (the draft's
    # own ``held``, written with it)
    """
    ALTER TABLE drafts ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX drafts_held ON drafts (held) WHERE held = 1;
    """,
    # 13: languages (safety's part: consent_phrases.language). A draft's chosen language
    # lives in its data (Draft.language), a job's in its payload (RenderJob.language).
    "",
)

MIGRATIONS: list[str] = [
    f"{chat}\n{safety}" for chat, safety in zip(CHAT_SCHEMA, SAFETY_SCHEMA, strict=True)
]
