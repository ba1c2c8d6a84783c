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
    # 5: consent bound to where it was given. Each consent record says how it was verified
    # (method: phrase, approval, operator; '' not verified), where that counts (valid_in: a
    # server id, '' the DMs, '*' everywhere; NULL nowhere), who approved it, and for a job
    # whose voice carried an earlier verification, that record (carried_from). Older
    # records: a heard phrase counts everywhere; an approval only in the server it was given
    # in, and nowhere when the moderator approved their own request; a carried one ('voice:')
    # verifies nothing itself. A saved voice's consents, one per scope (voice_consents).
    """
    ALTER TABLE consents ADD COLUMN method TEXT NOT NULL DEFAULT '';
    ALTER TABLE consents ADD COLUMN valid_in TEXT;
    ALTER TABLE consents ADD COLUMN verified_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE consents ADD COLUMN carried_from INTEGER;
    UPDATE consents SET method='phrase', valid_in='*' WHERE verified='asr';
    UPDATE consents SET method='approval', verified_by=substr(verified, 11),
        valid_in=CASE WHEN substr(verified, 11)=user_id THEN NULL ELSE guild_id END
        WHERE verified LIKE 'moderator:%';
    CREATE TABLE voice_consents (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, scope TEXT NOT NULL,
        consent_id INTEGER NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
        PRIMARY KEY (platform, user_id, name, scope),
        FOREIGN KEY (platform, user_id, name) REFERENCES voice_profiles (platform, user_id, name)
            ON DELETE CASCADE);
    INSERT INTO voice_consents (platform, user_id, name, scope, consent_id)
        SELECT v.platform, v.user_id, v.name, c.valid_in, MAX(c.id) FROM voice_profiles v
        JOIN consents c ON c.platform=v.platform AND c.user_id=v.user_id
            AND c.voice_digest=v.media_digest
        WHERE c.method != '' AND c.valid_in IS NOT NULL AND c.carried_from IS NULL
        GROUP BY v.platform, v.user_id, v.name, c.valid_in;
    """,
    # 6: what the bot posted in the chat for each job (the chat's part: the table ``posted``)
    "",
    # 7: provenance: a render request's entry keeps the token its video's speech carries
    # (job_marks.token_for of the job id), so `verify` maps a mark found in a file
    # back to the job, where and by whom it was asked, for as long as the audit log keeps it
    """
    ALTER TABLE audit_log ADD COLUMN mark INTEGER;
    CREATE INDEX audit_by_mark ON audit_log (mark) WHERE mark IS NOT NULL;
    """,
    # 8: the web studio's sign-in (the chat's part: web_nonces, web_sessions)
    "",
    # 9: the web session's moderator scope (the chat's part: web_sessions.scope)
    "",
    # 10: an avatar's consents, one per scope: the consent record of the job it was saved
    # from counts where that job was asked (scope: a server id, '' the direct messages)
    """
    CREATE TABLE avatar_consents (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, scope TEXT NOT NULL,
        consent_id INTEGER NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
        PRIMARY KEY (platform, user_id, name, scope),
        FOREIGN KEY (platform, user_id, name) REFERENCES avatars (platform, user_id, name)
            ON DELETE CASCADE ON UPDATE CASCADE);
    """,
    # 11: batches (the chat's part: jobs.batch)
    "",
    # 12: held batch drafts (the chat's part: drafts.held)
    "",
    # 13: languages: a consent phrase is made in the script's language, and the voice note is
    # recognised in it (earlier phrases are English)
    """
    ALTER TABLE consent_phrases ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
    """,
)
