"""Every sentence the bot says to a user, in one place."""

HELP = (
    "I turn a script, a voice note and a front-facing photo into a talking video.\n"
    "/talk — start a new video\n/status — your draft and your videos\n/cancel — drop the draft\n"
    "/voice save NAME — keep the last voice · /voices — your saved voices\n"
    "Videos are marked as AI-generated. Only use faces and voices of people who agreed."
)
START = (
    "Let's make a video. Send me, in any order: the script (text or a .txt file), a voice note "
    "(3–30 s of clear speech) and a front-facing photo."
)
NEED = "Still needed: {missing}."
MISSING_NAMES = {"script": "the script", "voice": "a voice note", "photo": "a photo"}
GOT_SCRIPT = "Script received ({chars} characters, about {seconds:.0f} s of speech)."
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
QUEUED = "Rendering… I'll send the video here when it is ready (job {job})."
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
SCRIPT_NOT_TEXT = "The .txt file is not UTF-8 text: paste the script as a message instead."
VOICE_TOO_SHORT = "The voice note has {seconds:.1f} s of speech; send at least {min:.0f} s."
VOICE_TOO_LONG = "The voice note is {seconds:.0f} s long; send at most {max:.0f} s."
CHECK_SLOW = "(The photo check is busy; I'll check it when rendering.)"
STATUS_NONE = "No draft and no videos yet. Send /talk to start."
STATUS_DRAFT = "Draft: {have}; still needed: {missing}."
STATUS_JOB = "Job {job}: {status}{detail}"
VOICE_SAVED = "Saved the last voice as “{name}”."
VOICE_SAVE_USAGE = "Usage: /voice save NAME (letters, digits, - and _; up to 32)."
NO_VOICE_TO_SAVE = "Send a voice note first; then /voice save NAME keeps it."
VOICES_NONE = "No saved voices. After sending a voice note, /voice save NAME keeps it."
VOICES_LIST = "Your voices: {names}. Pick one:"
USE_VOICE = "Using the saved voice “{name}”."
LAST_PHOTO = "Using your last photo."
