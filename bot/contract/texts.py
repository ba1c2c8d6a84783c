"""Every sentence the bot says to a user, in one place."""

HELP = (
    "I turn a script, a voice note and a front-facing photo into a talking video.\n"
    "/talk — start a new video (/talk fr: spoken in French; the language is otherwise detected "
    "from the script)\n/lang CODE — change the draft's language\n"
    "/status — your draft and your videos\n/cancel — drop the draft\n"
    "/voice save NAME — keep the last voice · /voice delete NAME · /voices — your saved voices\n"
    "/avatar save NAME — keep your last video's photo and voice · /avatar delete NAME · "
    "/avatars\n/say NAME script — a video with an avatar in one step\n"
    "/forget — delete everything you gave me and the videos made from it\n"
    "/web — a private sign-in link to your web studio\n"
    "Videos are marked as AI-generated. Only use faces and voices of people who agreed."
)
START = (
    "Let's make a video. Send me, in any order: the script (text or a .txt file), a voice note "
    "(3–30 s of clear speech) and a front-facing photo."
)
NEED = "Still needed: {missing}."
MISSING_NAMES = {"script": "the script", "voice": "a voice note", "photo": "a photo"}
GOT_SCRIPT = "Script received ({chars} characters, about {seconds:.0f} s of speech{language})."
#: GOT_SCRIPT's ``language``: the language the script is spoken in, chosen or detected
SCRIPT_LANGUAGE = ", in {name}"
SCRIPT_LANGUAGE_DETECTED = ", language detected: {name}"
GOT_VOICE = "Voice note received ({seconds:.1f} s)."
GOT_PHOTO = "Photo received."
ASK_TRANSCRIPT = "What is said in the voice note? Type it word for word: the voice model needs it."
ASK_TRANSCRIPT_OPTIONAL = "What is said in the voice note? Type it for a better match, or tap Skip."
GOT_TRANSCRIPT = "Thanks, transcript saved."
CONSENT = (
    "Before I render: confirm that the person in the photo and the person whose voice this is "
    "both agreed to this video."
)
CONSENT_BUTTON = "They agreed"
SUMMARY = "Ready: {seconds:.0f} s script, {voice} voice, photo{warnings}. Render it?"
RENDER_BUTTON, CANCEL_BUTTON, SKIP_BUTTON = "Render", "Cancel", "Skip"
#: the caption posted with every finished video
VIDEO_CAPTION = "Made with Mouthpiece · AI-generated"
TITLED_CAPTION = "{title}\n{caption}"
TYPE_TRANSCRIPT_BUTTON = "Type transcript"  # Discord: opens a form for the transcript
NOT_YOUR_BUTTON = "Only the person who started this video can use these buttons."
OOPS = "Something went wrong on my side; please try again in a minute."
OK = "OK"  # a Discord answer with nothing else to say (every interaction needs one)
VOICE_BUTTON = "Voice: {name}"
LAST_PHOTO_BUTTON = "Use my last photo"
UPLOAD_EXPIRED = "Your upload expired before it could be used: send it again."
QUEUED = (
    "Queued as job {job} ({place}). A status message below shows progress and has a Cancel "
    "button; the video comes here when it is ready."
)
CANCELLED = "Draft dropped. Send /talk to start again."
NOTHING_TO_CANCEL = "There is no draft to cancel. Send /talk to start."
IDLE_TEXT = "Send /talk to make a talking video, or /help."
NO_DRAFT_BUTTON = "That button belongs to a finished draft. Send /talk to start again."
UNKNOWN_COMMAND = "I don't know that command. Send /help."
BAD_FILE_TYPE = "I can't use that file: send a voice note or audio file, a photo, or a .txt script."
TOO_BIG = "That file is {mb:.0f} MB; the limit is {limit:.0f} MB. Send a smaller one."
SCRIPT_EMPTY = "The script is empty: send the text you want the face to say."
SCRIPT_TOO_LONG = (
    "The script is {chars} characters; the limit is {limit}. Shorten it or split it into "
    "several videos."
)
SCRIPT_TOO_SLOW = (
    "The script would take about {seconds:.0f} s to say; the limit is {limit:.0f} s. "
    "Shorten it or split it into several videos."
)
#: the script fits as typed but not as spoken: numbers and symbols become words ("1234567" is
#: seven characters typed, 77 spoken); limits count what the voice will say
SCRIPT_SPOKEN_TOO_LONG = (
    "Numbers and symbols are spoken as words, so this {chars}-character script comes to "
    "{spoken} characters when read out (about {seconds:.0f} s of speech); the limit is {limit}. "
    "Use fewer numbers or symbols, shorten it, or split it into several videos."
)
SCRIPT_SPOKEN_TOO_SLOW = (
    "Numbers and symbols are spoken as words, so this {chars}-character script would take "
    "about {seconds:.0f} s to say; the limit is {limit:.0f} s. Use fewer numbers or symbols, "
    "shorten it, or split it into several videos."
)
SCRIPT_NOT_TEXT = "The .txt file is not UTF-8 text: paste the script as a message instead."
VOICE_TOO_SHORT = "The voice note has {seconds:.1f} s of speech; send at least {min:.0f} s."
VOICE_TOO_LONG = "The voice note is {seconds:.0f} s long; send at most {max:.0f} s."
CHECK_SLOW = "(The photo check is busy; I'll check it when rendering.)"
#: a job the render queue lost (Redis lost it before a worker started it, and it could not be
#: queued again): the reason kept in the job's history, and what its owner is told
JOB_LOST = "lost by the render queue"
JOB_LOST_NOTICE = (
    "Job {job} was lost by the render queue (a restart) and nothing was made. "
    "Send /talk to try again."
)
BUSY = (
    "I'm too busy to take that right now; nothing you sent earlier is lost. Try again in a few "
    "minutes."
)
LIMIT_UPLOADS = "You have sent {allowed} files in the last hour, the most I take. Try again {when}."
LIMIT_UPLOAD_BYTES_TOTAL = (
    "This service's upload allowance for today is used up. Try again tomorrow."
)
DISK_FULL = (
    "I can't store files right now: the server's disk is full. Try again later; nothing you "
    "sent earlier is lost."
)
LIMIT_UPLOAD_BYTES = (
    "That file would take you over {limit:.0f} MB of uploads a day. Try again {when}, or send a "
    "smaller file."
)
STATUS_NONE = "No draft and no videos yet. Send /talk to start."
STATUS_DRAFT = "Draft: {have}; still needed: {missing}."
STATUS_JOB = "Job {job}: {status}{detail}"
VOICE_SAVED = "Saved the last voice as “{name}”."
VOICE_SAVE_USAGE = (
    "Usage: /voice save NAME or /voice delete NAME (letters, digits, - and _; up to 32)."
)
VOICES_FULL = (
    "You already have {max} saved voices, the most I keep. Delete one with /voice delete NAME, "
    "then save again."
)
VOICE_DELETED = "Deleted the saved voice “{name}”."
VOICE_NOT_FOUND = "You have no saved voice called “{name}”. /voices lists yours."
NO_VOICE_TO_SAVE = "Send a voice note first; then /voice save NAME keeps it."
VOICES_NONE = "No saved voices. After sending a voice note, /voice save NAME keeps it."
VOICES_LIST = "Your voices: {names}. Pick one:"

# ---- avatars: a saved photo and voice under a name -------------------------------------------
AVATAR_USAGE = (
    "Usage: /avatar save NAME (after a video) or /avatar delete NAME (letters, digits, - and _; "
    "up to 32)."
)
SAY_USAGE = "Usage: /say NAME your script. /avatars lists your avatars."
AVATAR_SAVED = (
    "Saved the photo and voice of your last video as the avatar “{name}”. Now /say {name} "
    "and a script makes a video in one step."
)
AVATAR_NOTHING = "Make a video first (/talk); then /avatar save NAME keeps its photo and voice."
AVATAR_MEDIA_GONE = (
    "The photo or voice of your last video is no longer kept: make a new video, then save it."
)
AVATARS_FULL = (
    "You already have {max} avatars, the most I keep. Delete one with /avatar delete NAME, then "
    "save again."
)
AVATAR_DELETED = "Deleted the avatar “{name}”."
AVATAR_NOT_FOUND = "You have no avatar called “{name}”. /avatars lists yours."
AVATARS_NONE = "No avatars yet. After a video, /avatar save NAME keeps its photo and voice."
AVATARS_LIST = "Your avatars: {names}. /say NAME and a script makes a video with one."
SAY_CONSENT = (
    "The avatar “{name}” was saved with consent given elsewhere: confirm it counts here too."
)

# ---- render queue: the live status message and cancel --------------------------------------
STATUS_QUEUED = "⏳ Job {job}: {place} in line{eta}."
STATUS_RUNNING = "🎬 Job {job}: {stage} — {percent}%{eta}."
STATUS_RETRYING = "🔁 Job {job}: hit a snag, trying again (try {attempt})."
STATUS_DONE = "✅ Job {job}: done in {took}. The video is below."
STATUS_FAILED = "❌ Job {job}: {reason}"
STATUS_CANCELLED = "🚫 Job {job}: cancelled."
STAGE_NAMES = {
    "inputs": "checking the inputs",
    "speech": "speaking the script",
    "video": "animating the face",
    "encode": "encoding the video",
    "preview": "making a short preview",
}
CANCEL_JOB_BUTTON = "Cancel"
FAILED_GENERIC = "Sorry, the render failed. Please try again later."
FAILED_TRIES = "Sorry, the render failed {tries} times; I gave up. Please try again later."
FAILED_TIMEOUT = "Sorry, the render took longer than {minutes:.0f} min and was stopped."
JOB_CANCELLED = "Job {job} cancelled; it had not started."
JOB_STOPPING = "Stopping job {job}; it will end at the next step."
JOB_ALREADY = "Job {job} is already {status}."
JOB_NOT_YOURS = "That job is not yours to cancel."
JOB_UNKNOWN = "I don't know a job {job}. /status lists yours."
MEDIA_GONE = "The {what} of this draft is no longer stored: send it again, then press Render."


def ordinal_place(n: int) -> str:
    """1 -> "next", 2 -> "2nd", 11 -> "11th"."""
    if n == 1:
        return "next"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ---- safety: consent, limits, moderation, privacy ---------------------------------
BANNED = (
    "A moderator has blocked you from making videos here. Ask this server's moderators if "
    "you think that is a mistake."
)
BANNED_EVERYWHERE = "The bot's operators have blocked you from making videos."
CHANNEL_NOT_ALLOWED = (
    "Videos can't be made in this channel. Ask a moderator which channels allow them."
)
#: the person's own rights (bot.safety.rights): a Discord member without View Channel, Send
#: Messages or Attach Files in the channel; files forwarded or re-shared from someone else
CANNOT_POST_HERE = (
    "You can't post files in this channel, so I won't post a video here for you: use /talk "
    "where you can send messages and attach files, or in a direct message."
)
FORWARDED_PHOTO = (
    "That photo was forwarded from someone else's message, so I can't use it: send a photo "
    "from your own device, of someone who agreed."
)
FORWARDED_VOICE = (
    "That voice note was forwarded from someone else's message, so it can't be used here: "
    "send a voice note recorded on your own device."
)
FORWARDED_VOICE_PHRASE = "It was forwarded: it counts only if the speaker says this draft's phrase."
VOICE_SAVE_FORWARDED = "A forwarded voice note can't be saved: save one you recorded yourself."
SCRIPT_BLOCKED = (
    "The script contains a phrase this server does not allow. Change the script and send it again."
)
LIMIT_DAY = "You have reached the limit of {allowed} videos a day. Try again {when}."
LIMIT_HOUR = "This server has reached its limit of {allowed} videos an hour. Try again {when}."
LIMIT_CONCURRENT = (
    "You already have {allowed} videos waiting or rendering. Try again when one is finished."
)
LIMIT_QUEUE = "The queue is full ({allowed} videos). Try again in a few minutes."
LIMIT_QUEUE_SERVER = (
    "This server's share of the queue is full ({allowed} videos). Try again when one of them "
    "is done."
)
LIMIT_QUEUE_DM = (
    "The queue's share for direct messages is full ({allowed} videos from everyone here). "
    "Try again in a few minutes, or use /talk in a server."
)
LIMIT_OFF = "Making videos is switched off here for now."
DRAFT_KEPT = " Your draft is kept: press Render again then."
PHRASE_INTRO = (
    "This server asks for spoken consent: in the voice note, the speaker says “{phrase}” "
    "in their own voice."
)
PHRASE_NEEDED = (
    "The voice note must have the speaker saying “{phrase}”. Record a new voice note with it, "
    "then press Render."
)
PHRASE_NOT_HEARD = (
    "I couldn't hear “{phrase}” in the voice note. Record a new voice note of the speaker "
    "saying it clearly, then press Render."
)
AWAITING_REVIEW = (
    "A moderator checks consent before this video is made; I'll tell you here when they "
    "decide (job {job})."
)
REVIEW_UNAVAILABLE = (
    "Videos here need a moderator's consent review, and direct messages have no moderators. "
    "Make the video in a server (or group) that uses this bot."
)
REVIEW_APPROVED = "A moderator approved your video (job {job}); rendering now."
REVIEW_DENIED = "A moderator declined your video (job {job}); it will not be made."
REVIEW_EXPIRED = (
    "No moderator decided on your video (job {job}) within {hours:.0f} h, so it will not be "
    "made. Send /talk to try again."
)
REVIEW_MEDIA_GONE = (
    "Your video (job {job}) was approved, but its voice note or photo is no longer stored, so "
    "it cannot be made. Send /talk to try again."
)
TAKEDOWN_NOTICE = "A moderator took down your video (job {job}); its file is deleted."
FORGET_DONE = (
    "Done. Removed {drafts} draft(s), {voices} saved voice(s) and avatar(s), {media} uploaded "
    "file(s), {outputs} video(s), and the scripts of {jobs} job(s). The moderators' log keeps only "
    "fingerprints (hashes) of past videos."
)
WHEN_SOON = "in a minute"
WHEN_MINUTES = "in {minutes} min"
WHEN_HOURS = "in {hours} h {minutes} min"
WHEN_UNKNOWN = "later"


def when(seconds: float | None) -> str:
    """'in 3 h 5 min' for a retry time."""
    if seconds is None:
        return WHEN_UNKNOWN
    minutes = int(seconds // 60) + (1 if seconds % 60 else 0)
    if minutes <= 1:
        return WHEN_SOON
    if minutes < 60:
        return WHEN_MINUTES.format(minutes=minutes)
    return WHEN_HOURS.format(hours=minutes // 60, minutes=minutes % 60)


# ---- moderators ----------------------------------------------------------------------
MOD_ONLY = "Only this server's moderators can use /mod."
MOD_BUTTON_ONLY = "Only moderators can use that button."
MOD_OPERATOR_ONLY = (
    "Only the bot's operators act everywhere; as this server's moderator you act on what "
    "happened here."
)
MOD_HELP = (
    "/mod limits [set day|concurrent|hour N | reset] · /mod consent [attest|phrase|review]"
    "\n/mod ban USER [reason] · /mod unban USER · /mod purge USER (what they made here)"
    "\n/mod queue · /mod reviews · /mod audit [N] · /mod log [N] · /mod takedown JOB [reason]"
    "\n/mod audit find USER|JOB|FINGERPRINT|MARK: search the audit (a user id; the first 6+ "
    "characters of a job id or voice/photo fingerprint; a mark 0x…, as `mouthpiece verify` "
    "prints it)"
    "\n/mod channels [add|remove here|ID | clear] · /mod label [POSITION|on|off]"
    "\n/mod block [add|remove PHRASE | list]"
    "\n/mod reviews-channel [here|CHANNEL|off]: where review requests are posted"
    "\n/mod verify: check a video's marks (which job made it, who asked): send the file next"
    "\nOperators add “everywhere” (after USER, or to a view) to act in every server and DM."
)
MOD_LIMIT_CAPPED = (
    "The operator allows at most {cap} for “{name}”; a server may tighten that limit, not "
    "loosen it."
)
MOD_QUEUE_OPERATORS = (
    "The queue cap is the operator's setting for the whole bot (MOUTHPIECE_QUEUE_MAX); a "
    "server cannot change it."
)
MOD_CONSENT_FLOOR = (
    "The operator requires at least “{mode}” consent; a server may ask for more, not less."
)
MOD_BAD = "I don't understand that. {usage}"
MOD_LIMITS = (
    "Limits here: {day} a day per user, {concurrent} at once per user, {hour} an hour for "
    "the server, {queue} in the whole queue (-1: no limit). Shares of the queue: at most "
    "{share} for one server, {dm} for direct messages (everyone's together); each server "
    "gets at most {width} videos per round of the queue, and a longer script counts as more."
)
MOD_CONSENT = "Consent mode here: {mode}."
MOD_LIST_FULL = "The {what} here is full ({n} entries): remove one before adding another."
MOD_PHRASE_TOO_LONG = "A blocked phrase may have at most {n} characters."
MOD_CONSENT_MODES = {
    "attest": "the requester confirms that both people agreed",
    "phrase": "the voice note must say a phrase the bot gives",
    "review": "a moderator approves every video",
}
MOD_CONSENT_NO_ASR = " (no speech recognition is set up, so phrases go to /mod reviews)"
MOD_BANNED = "User {user} can no longer make videos here."
MOD_BAN_STOPPED = " Their open jobs there were stopped ({jobs})."
MOD_UNBANNED = "User {user} may make videos here again."
MOD_NOT_BANNED = "User {user} was not blocked here."
MOD_BANNED_EVERYWHERE = "User {user} can no longer make videos anywhere (DMs and every server)."
MOD_UNBANNED_EVERYWHERE = "User {user}'s ban everywhere is lifted (a server's own ban stays)."
MOD_NOT_BANNED_EVERYWHERE = "User {user} was not blocked everywhere."
MOD_PURGED = (
    "Removed user {user}'s data everywhere: {drafts} draft(s), {voices} saved voice(s), "
    "{media} file(s), {outputs} video(s), {jobs} script(s)."
)
MOD_PURGED_HERE = (
    "Removed what user {user} made here: {drafts} draft(s), {media} file(s), {outputs} "
    "video(s), {jobs} script(s). What they made elsewhere and their saved voices stay."
)
MOD_JOB_NOT_HERE = "No job {job} was made here."
MOD_TAKEN_DOWN = (
    "Took down job {job}: its video file is deleted, the audit entry kept, and the requester told."
)
#: a takedown in the chat (bot.safety.erasure.Eraser.take_down: the messages the bot posted
#: for the job), and moderators' views answered only where the asker alone reads them
MOD_UNPOSTED = " Deleted in the chat: {what}."
MOD_UNPOSTED_NOTHING = " The bot has no message of it in the chat to delete."
MOD_UNPOSTED_KEPT = (
    "\nStill in the chat: {what} ({reason}). Delete it there by hand, or run /mod takedown "
    "{job} again later: a takedown must reach the chat within 48 hours."
)
UNPOSTED_KINDS = {"video": "the video", "preview": "its preview", "status": "its status message"}
UNPOST_NO_WORKER = "no worker answered in time"
UNPOST_NO_ACCESS = "no worker has this platform's token"
UNPOST_PLATFORM_FAILING = "the platform kept failing"
MOD_REVIEW_NO_PREVIEW = "\n(No preview of the {what}: the file is gone, or no worker answered.)"
MOD_SENT_PRIVATELY = "That shows people's data, so I sent it to your private chat with me."
MOD_ASK_PRIVATELY = (
    "That shows people's data, so I answer it only in your private chat with me, and I can't "
    "write to you there yet: open a chat with me, press Start, then ask again."
)
MOD_LOG_EMPTY = "No moderator actions here yet."
MOD_LOG_LINE = "{at}{where} · {actor} · {action}{detail}"
MOD_QUEUE_EMPTY = "Nothing is waiting or rendering here."
MOD_QUEUE_LINE = "{job}{where} · user {user} · {status} · {age} ago"
MOD_CANCEL_BUTTON = "Cancel {job}"
MOD_CANCELLED = "Job {job} cancelled."
MOD_CANCEL_UNAVAILABLE = "Job {job} could not be cancelled (it may have finished)."
MOD_REVIEWS_EMPTY = "No videos are waiting for review here."
MOD_REVIEW_LINE = "{job} · user {user} · script: {script}{phrase}"
MOD_REVIEW_PHRASE = " · must say: “{phrase}”"
MOD_APPROVE_BUTTON = "Approve {job}"
MOD_DENY_BUTTON = "Deny {job}"
MOD_REVIEW_GONE = "Job {job} is no longer waiting for review."
MOD_REVIEW_MEDIA_GONE = (
    "Job {job}'s voice note or photo is no longer stored, so it cannot be made; the requester "
    "has been told."
)
MOD_APPROVED = "Approved job {job}; it is queued."
MOD_DENIED = "Denied job {job}; the requester has been told."
MOD_SELF_APPROVAL = (
    "You asked for video {job} yourself, so another moderator must approve it; it stays in "
    "/mod reviews."
)
MOD_REVIEW_WAITING = (
    "Video {job} from user {user} (asked in {scope}) waits for a consent review{phrase}. "
    "Approve or deny it here; /mod reviews shows its script, voice note and photo."
)
MOD_REVIEWS_CHANNEL = "Review requests here are posted in <#{channel}>, with Approve and Deny."
MOD_REVIEWS_CHANNEL_NONE = (
    "No reviews channel is set here; moderators find requests in /mod reviews (on Telegram, "
    "requests made in private chats also reach each operator's private chat)."
)
#: how a video's consent was verified, in /mod audit ("consent …"), and where that counts
CONSENT_PHRASE_HEARD = "phrase heard"
CONSENT_BY_MODERATOR = "moderator approval in {scope} by {by}"
CONSENT_BY_OPERATOR = "operator approval in {scope} by {by}, valid everywhere"
CONSENT_CARRIED = "{how}, carried by the same voice"
CONSENT_MODE = " ({mode} mode)"
CONSENT_EARLIER = " ({verified})"  # a record from before consents had a method
SCOPE_SERVER = "server {scope}"
SCOPE_DMS = "the DMs"
MOD_AUDIT_EMPTY = "No videos requested here yet."
MOD_AUDIT_NO_MATCH = "No video here matches “{term}”."
MOD_AUDIT_NO_MATCH_EVERYWHERE = "No video anywhere matches “{term}”."
MOD_AUDIT_LINE = (
    "{at}{where} · user {user} · job {job} · {status} · consent {mode}{verified} · "
    "voice {voice} · photo {photo} · script {script}"
)
MOD_TAKEN_DOWN_STATE = "taken down"
WHERE_DMS = " · DMs"
WHERE_SERVER = " · server {scope}"
WHERE_EVERYWHERE = " · everywhere"
MOD_CHANNELS_ALL = "Videos may be made in every channel here."
MOD_CHANNELS = "Videos may be made only in: {channels}."
MOD_LABEL = "The “AI-generated” label sits {position}{state}."
MOD_LABEL_OFF_STATE = " (switched off)"
MOD_LABEL_REQUIRED = "The label is required on this bot: you can move it, not remove it."
MOD_BLOCKLIST_EMPTY = "No blocked words or phrases here."
MOD_BLOCKLIST = "Blocked here: {phrases}."
MOD_BLOCK_ADDED = "Blocked. Scripts containing it are refused."
MOD_BLOCK_REMOVED = "Removed from the blocklist."
#: /mod verify: a moderator checks a video file (bot.safety.verify)
MOD_VERIFY_SEND = (
    "Send the video (or its audio) to check: the next file you send here in the next 10 "
    "minutes is checked, not used for a video. A file sent with the command works too "
    "(Telegram: /mod verify as its caption; Discord: the file option)."
)
MOD_VERIFY_NOT_MEDIA = (
    "I check videos and their audio only, not photos or text: run /mod verify again and send "
    "the video file."
)
MOD_VERIFY_NO_WORKER = (
    "No worker answered in time, so the file was not checked: run /mod verify again in a minute."
)
MOD_VERIFY_UNREADABLE = "I could not check that file: {reason}"
MOD_VERIFY_EXPIRED = "The file was gone before a worker could read it: send it again."
MOD_VERIFY_FAILED = (
    "The check failed on the worker; try again later, or ask an operator to run `mouthpiece "
    "verify` on the file."
)
MOD_VERIFY_HEAD = "What the file's marks say:"
MOD_VERIFY_JOB = "job {job}: requested by user {user} {where} on {at}, {status}"
MOD_VERIFY_HERE = "here"
MOD_VERIFY_IN = "in {scope}"
MOD_VERIFY_NO_MARK = "job: no mark in the file names a job."
#: the same line whether the mark maps to another server's job or to none: a server's
#: moderators learn nothing of other servers
MOD_VERIFY_NO_JOB_HERE = "job: no job made here carries these marks."
MOD_VERIFY_NO_JOB = (
    "job: no job in the bot's records carries these marks (another installation, or older "
    "than the audit log)."
)
#: the moderators' log entry of a check (the marks found, never the file)
MOD_VERIFY_LOG_TOKEN = "token {token}"
MOD_VERIFY_LOG_NO_TOKEN = "no token"
MOD_VERIFY_LOG_JOBS = "job {jobs}"
MOD_VERIFY_LOG_NO_JOB = "no job here"
MOD_VERIFY_LOG_UNREADABLE = "unreadable file"

# ---- Discord's command list, option hints and forms (shown in Discord's own UI) ------------
FORM_SCRIPT_TITLE = "Your script"
FORM_SCRIPT_LABEL = "What should the face say?"
FORM_TRANSCRIPT_TITLE = "What is said in the voice note?"
FORM_TRANSCRIPT_LABEL = "Transcript"
DISCORD_COMMANDS = {
    "talk": "Make a talking video from a script, a voice note and a photo",
    "lang": "Change the language your video under way is spoken in",
    "cancel": "Drop your draft",
    "status": "Your draft and your videos",
    "forget": "Delete everything you gave me and the videos made from it",
    "help": "What this bot does",
    "voices": "Your saved voices",
    "voice_save": "Keep the last voice note as a named voice",
    "voice_delete": "Delete one of your saved voices",
    "say": "Make a video with one of your avatars in one step",
    "avatars": "Your avatars (a saved photo and voice)",
    "avatar_save": "Keep the photo and voice of your last video as a named avatar",
    "avatar_delete": "Delete one of your avatars",
    "web": "A private sign-in link to your web studio",
}
DISCORD_SAY_OPTIONS = {
    "avatar": "One of your avatars (/avatars)",
    "script": "What the face should say",
}
DISCORD_TALK_OPTIONS = {
    "script": "What the face should say (leave empty for a long-script form)",
    "voice": "A voice note of the speaker (3-30 s)",
    "photo": "A front-facing photo",
    "language": "The language it is spoken in (auto: detected from the script)",
}
DISCORD_MOD = {
    "limits": "Show or set the render limits here",
    "consent": "Show or set how consent is checked here",
    "ban": "Stop a user from making videos here",
    "unban": "Let a blocked user make videos again",
    "queue": "Videos waiting or rendering here",
    "reviews": "Videos waiting for a consent review",
    "audit": "Recent videos: who, when, fingerprints; or search them",
    "log": "What moderators did here",
    "takedown": "Delete one video made here, by its job id",
    "channels": "Show or change where videos may be made",
    "label": "Show or move the AI-generated label",
    "block": "Blocked words or phrases for scripts here",
    "purge": "Delete what a user made here (operators: everywhere)",
    "reviews-channel": "Where review requests are posted, with Approve and Deny",
    "verify": "Check a video's marks: which job made it here, and who asked",
    "mod": "Moderator controls for Mouthpiece in this server",
}
DISCORD_MOD_OPTIONS = {
    "limits": {"limit": "Which limit, or reset to defaults", "value": "New value (-1: none)"},
    "takedown": {"job": "Job id from /mod audit or `mouthpiece verify`"},
    "audit": {
        "find": "Search: a user id, a job id or fingerprint (6+ characters), or a mark (0x…)",
        "everywhere": "Operators only: look in every server and the DMs",
    },
    "verify": {
        "file": "The video (or its audio); leave it out to send the file next, in a DM to me",
        "everywhere": "Operators only: look in every server and the DMs",
    },
}
DISCORD_MOD_EVERYWHERE = "Operators only: act in every server and the DMs"
MOD_NAME_THE_USER = "Name the user: a mention or a numeric user id."
MOD_ONLY_EVERYWHERE = "This subcommand takes only “everywhere”."
#: what a /mod subcommand takes, shown after a bad one (``label``: the corners filled in)
MOD_USAGE = {
    "consent": "/mod consent attest|phrase|review",
    "audit": (
        "/mod audit [N] [everywhere], N from 1 to 50, or /mod audit find TERM [everywhere]: "
        "TERM a user id, a job id or voice/photo fingerprint (its first 6 or more characters) "
        "or a mark as `mouthpiece verify` prints it (0x…)"
    ),
    "log": "/mod log [N] [everywhere], N from 1 to 50",
    "takedown": "/mod takedown JOB [reason]: the job id from /mod audit or `mouthpiece verify`.",
    "channels": "/mod channels add|remove here|CHANNEL_ID, or /mod channels clear",
    "label": "/mod label {positions}|on|off",
    "block": "/mod block add|remove WORD OR PHRASE, or /mod block list",
    "reviews-channel": "/mod reviews-channel here|CHANNEL|off",
    "verify": "/mod verify [everywhere], then send the file",
}

# ---- the web studio (bot/chat/adapters/web): the /web link and the pages
WEB_LINK = (
    "Your sign-in link for the web studio (for you only, once, within {minutes} minutes):\n{link}"
)
WEB_OFF = "The web studio is not enabled on this bot."
WEB_TITLE = "Mouthpiece studio"
WEB_SIGNED_IN_AS = "Signed in as {platform} user {user}"
WEB_JOBS = "Your videos"
WEB_JOBS_NONE = "No videos yet."
WEB_JOB_HEADERS = ("Job", "State", "When")
WEB_VOICES = "Your saved voices"
WEB_VOICES_NONE = "No saved voices."
WEB_FORGET = "Forget me"
WEB_FORGET_HINT = (
    "Delete everything you gave this bot and the videos made from it, as /forget does in chat. "
    "This also signs you out."
)
WEB_FORGET_BUTTON = "Forget everything"
WEB_SIGN_OUT = "Sign out"
WEB_SIGNED_OUT = "You are signed out. Send /web to the bot for a new link."
WEB_FORGOTTEN = "Done: everything you gave this bot is deleted, and you are signed out."
WEB_BAD_LINK = "This sign-in link is not valid: it expired, was already used, or is damaged."
WEB_NOT_SIGNED_IN = "You are not signed in. Send /web to the bot for a private sign-in link."
WEB_REFUSED = "This request was refused. Reload the studio and try again."
WEB_NOT_FOUND = "There is no such page."
WEB_CONFIRM = "Sign in to the studio with this link? It works once."
WEB_CONFIRM_BUTTON = "Sign in"
# the web studio's render flow and dashboard
WEB_NEW = "New video"
WEB_NEW_HINT = "Start a video: a script, a voice note of the person speaking, and their photo."
WEB_START_BUTTON = "Start a new video"
WEB_DRAFT_HAVE = "Has: {have}. Still needed: {missing}."
WEB_SCRIPT = "Script"
WEB_SCRIPT_HINT = "What the person will say (at most {chars} characters, about {seconds:.0f} s)."
WEB_SCRIPT_BUTTON = "Use this script"
WEB_SCRIPT_FILE = "Or upload the script"
WEB_SCRIPT_FILE_HINT = (
    "A plain-text (.txt) file, UTF-8. Several videos: scripts with a line of --- between "
    "them, or a .csv of script[,title]."
)
WEB_ESTIMATE = "{chars} characters, {spoken} as spoken, about {seconds:.1f} s of speech."
WEB_VOICE = "Voice note"
WEB_VOICE_HINT = (
    "A recording of the person speaking, a few seconds long: upload one, or record it here."
)
WEB_VOICE_HAVE = "Voice note: {seconds:.0f} s."
WEB_RECORD = "Record"
WEB_RECORD_STOP = "Stop recording"
WEB_PHOTO = "Photo"
WEB_PHOTO_HINT = "A front-facing portrait of the person; the box shows the face found."
WEB_PHOTO_ALT = "Your photo, with the face found marked"
WEB_PHOTO_NO_PREVIEW = "A photo is set (its preview is not available right now)."
WEB_UPLOAD_BUTTON = "Upload"
WEB_USE_VOICE = "Or use a saved voice:"
WEB_SAID = "What the bot says"
WEB_JOB_LINE_QUEUED = "queued, {ahead} ahead"
WEB_JOB_LINE_QUEUED_NEXT = "queued, next in line"
WEB_JOB_LINE_RUNNING = "rendering: {stage} {percent}%"
WEB_JOB_LINE_ERROR = "{status}: {error}"
WEB_DOWNLOAD = "Download"
WEB_VIDEO_GONE = "No longer kept."
WEB_CANCEL_JOB = "Cancel"
WEB_TOO_BIG = "That file is too big: at most {limit:.0f} MB."
WEB_NO_FILE = "Choose a file first."
WEB_SLOW_DOWN = "Too many requests: wait a minute and try again."
WEB_DASHBOARD = "Moderator dashboard"
WEB_DASHBOARD_LINK = "Open the moderator dashboard"
WEB_DASHBOARD_SCOPE = "You moderate: {where}."
WEB_DASHBOARD_EVERYWHERE = "everything on {platform} (operator)"
WEB_DASHBOARD_SERVER = "server {scope}"
WEB_DASHBOARD_REFUSED = "This dashboard is for moderators. Send /web in a server you moderate."
WEB_REVIEWS = "Reviews"
WEB_QUEUE = "Queue"
WEB_AUDIT = "Audit"
WEB_AUDIT_HINT = "Search by user id, job id, a voice or photo fingerprint, or a mark from verify."
WEB_AUDIT_BUTTON = "Search"
WEB_TAKEDOWN = "Take down"
WEB_TAKEDOWN_HINT = "Job id and a reason: the video's messages are deleted and the job noted."
WEB_LOG = "Moderation log"
WEB_SETTINGS = "Settings"
WEB_SETTINGS_HINT = "Within the operator's caps, as /mod does in chat."
WEB_CONSENT_MODE = "Change the consent mode to"
WEB_LABEL = "Move the AI-generated label to"
WEB_LIMIT = "Change a limit"
WEB_LIMIT_VALUE = "Set to (-1: no limit)"
WEB_LIMIT_NAMES = {
    "day": "videos a day per user",
    "concurrent": "videos at once per user",
    "hour": "videos an hour for the server",
}
WEB_SAVE = "Save"
WEB_CHARTS = "The last 24 hours"
WEB_CHART_RENDERS = "Videos made and failed, per hour"
WEB_CHART_WAITING = "Jobs waiting in the queue, at each hour's end"
WEB_CHART_SECONDS = "Median render time, per hour"
WEB_CHART_SHARE = "Share of the queue"
WEB_CHART_MADE = "made"
WEB_CHART_FAILED = "failed"
WEB_CHART_WAITING_SERIES = "waiting"
WEB_CHART_SECONDS_SERIES = "render time"
WEB_SHARE_DM = "direct messages"
WEB_SHARE_OTHERS = "everyone else"
WEB_BACK = "Back to the studio"
# the dashboard's charts: what a screen reader hears (the SVG's description)
CHART_NO_DATA = "no data"
CHART_NO_DATA_DESC = "No data."
CHART_SPAN = "{n} points"
CHART_SPAN_FROM = "{n} points, {first} to {last}."
CHART_ALL = "All series: total {total}, highest point {highest}{where}."
CHART_TOTAL = "total {value}"
CHART_LATEST = "latest {value}"
CHART_SERIES = "{name}: {first}, max {max}{where}."
CHART_MORE = "And {n} more series."
CHART_SHARE_TOTAL = "Total {total}. {parts}."
WEB_ERROR = "Something went wrong on our side. Reload the page and try again."

# ---- the preview: a long script's first seconds, sent before the full video --------------------
PREVIEW_CAPTION = "Preview: the first seconds · AI-generated. The full video follows."
#: the preview MP4's title tag (its label, marks and job id are the full video's)
PREVIEW_TITLE = "Mouthpiece preview: the first seconds"

# ---- batches: a .txt of scripts separated by lines of ---, or a .csv (script[,title]) ------------
GOT_BATCH = (
    "Batch received: {count} scripts, about {seconds:.0f} s of speech in all. Each becomes its "
    "own video, with the same voice and photo."
)
SUMMARY_BATCH = (
    "Ready: {count} videos ({seconds:.0f} s of script in all), {voice} voice, photo{warnings}. "
    "Render them?"
)
BATCH_SCRIPT = "Script {number}: {reason}"
BATCH_TOO_MANY = (
    "The file has {count} scripts; a batch takes at most {limit}. Split it into smaller files."
)
BATCH_NO_SCRIPTS = (
    "The file has no scripts: separate the scripts of a .txt with lines of ---, or give a .csv "
    "one script per row."
)
BATCH_CSV_UNREADABLE = (
    "The .csv file can't be read near line {line}: check its quotes, or send the scripts as a "
    ".txt separated by lines of ---."
)
BATCH_CSV_HEADER = "The .csv header may name the columns script and title; it has {columns}."
BATCH_CSV_COLUMNS = (
    "it has {count} columns, but a batch .csv has a script and, optionally, a title: put a "
    "script with commas in double quotes."
)
BATCH_TITLE_TOO_LONG = "its title is {chars} characters; the limit is {limit}."
BATCH_QUEUED = (
    "Queued {count} videos as batch {batch}. One status message below shows them all and has a "
    "Cancel button; each video comes here as soon as it is ready."
)
BATCH_AWAITING_REVIEW = (
    "A moderator checks consent before these {count} videos are made; I'll tell you here as "
    "they decide (batch {batch})."
)
BATCH_ALSO_REVIEW = " {count} more wait for a moderator's consent check."
BATCH_PARTLY = (
    "Queued {made} of {total} videos as batch {batch}; {left} not yet: {reason} Your draft is "
    "kept: press Render again then to queue the rest."
)
#: a batch's Render met a limit that frees by itself: the rest is queued as room frees up
BATCH_HELD = (
    "Queued {made} of {total} videos as batch {batch}. I queue the rest ({left}) one by one "
    "{room}: no need to press Render again (/cancel drops them)."
)
BATCH_HELD_NONE = (
    "None of the {total} videos of batch {batch} can be queued yet. I queue them one by one "
    "{room}: no need to press Render again (/cancel drops them)."
)
#: what a held batch waits for, by the limit that held it (bot.safety.policy.Denial.limit)
HELD_ROOM = {
    "concurrent": "as your videos finish (at most {allowed} wait or render at once)",
    "queue": "as the queue makes room",
    "queue_server": "as this server's share of the queue makes room",
    "queue_dm": "as the queue's share for direct messages makes room",
}
BATCH_HOLD_ENDED = (
    "Batch {batch}: {left} not queued after all. {reason} Your draft is kept: press Render to "
    "queue the rest."
)
BATCH_MORE_REVIEW = "Batch {batch}: {count} more wait for a moderator's consent check."
BATCH_HOLD_STOPPED = (
    " The rest ({left} not queued yet) won't be; your draft is kept: press Render to queue it "
    "after all."
)
STATUS_HELD = "Batch {batch}: {left} more to queue, one by one as room frees up."
CANCEL_BATCH_BUTTON = "Cancel all"
BATCH_CANCELLED = (
    "Batch {batch} cancelled. Taken out of the queue: {removed}; stopping at their next step: "
    "{stopping}; already finished: {closed}."
)
BATCH_ALREADY = "Batch {batch} has already finished: nothing left to cancel."
BATCH_NOT_YOURS = "That batch is not yours to cancel."
BATCH_UNKNOWN = "I don't know a batch {batch}. /status lists your videos."
STATUS_BATCH = "🎬 Batch of {count} ({batch}): {parts}."
STATUS_BATCH_DONE = "✅ Batch of {count} ({batch}): {parts}. The videos are below."
STATUS_BATCH_ENDED = "🏁 Batch of {count} ({batch}): {parts}."
#: the status message's counts per state ("2 done, 1 rendering 40%, 2 queued")
BATCH_PARTS = {
    "done": "{n} done",
    "running": "{n} rendering {percent}",
    "retrying": "{n} trying again",
    "queued": "{n} queued",
    "failed": "{n} failed",
    "cancelled": "{n} cancelled",
    "waiting": "{n} not queued yet",
}

# ---- languages: a video's spoken language (/talk CODE, /lang CODE, Discord's /talk option) -------
LANG_UNKNOWN = "I don't know that language: use one of {codes}, or auto."
LANG_SET = "This video will be spoken in {name}."
LANG_AUTO = "This video's language will be detected from its script."
LANG_NOW = (
    "This video is spoken in {name}. /lang CODE changes it: {codes}, or auto (detected from the "
    "script)."
)
LANG_NOW_AUTO = (
    "This video's language is detected from its script. /lang CODE chooses one: {codes}, or auto."
)
LANG_NO_DRAFT = "No video under way: start one with /talk, or /talk fr to choose its language."
#: the consent phrase made again in the script's language (no voice note sent yet)
PHRASE_LANGUAGE = (
    "This video is spoken in {name}, so the consent phrase is too: in the voice note, the "
    "speaker says “{phrase}”."
)
#: Discord's /talk language option and the web studio's select: "auto" shown as this
LANG_AUTO_CHOICE = "Auto (detect from the script)"
WEB_LANGUAGE = "Language"
