"""The studio's HTML: every value from outside (ids, names, states, the core's answers) is
escaped here, and every sentence comes from :mod:`bot.contract.texts`. Plain forms and
buttons, labelled, usable with the keyboard alone and without scripts; the one script
(:func:`studio_script`, served by the app itself) adds recording, the live script counter and live
job progress on top."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from html import escape
from typing import Any

from bot.chat.adapters.web.charts import Series, bar_chart, line_chart, share_chart
from bot.contract import texts
from bot.contract.events import Action, Reply
from bot.contract.jobs import LABEL_POSITIONS
from bot.contract.ports import FaceFrame, WebSession
from bot.conversation.studio import OTHERS, Activity, Dashboard, LiveJob, StudioView
from spoken_text.languages import LANGUAGES, SUPPORTED

__all__ = [
    "CSS",
    "confirm_page",
    "dashboard_page",
    "home_page",
    "job_state",
    "message_page",
    "one_line",
    "queue_view",
    "studio_script",
]

#: served by the app itself at /static/studio.css (nothing external)
CSS = """\
:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
body { max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #8884;
  vertical-align: top; }
button, input, textarea, select { font: inherit; }
button { padding: .4rem 1rem; border-radius: .3rem; cursor: pointer; }
button:focus-visible, a:focus-visible, input:focus-visible, textarea:focus-visible,
select:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
textarea { width: 100%; min-height: 6rem; box-sizing: border-box; }
label { font-weight: 600; display: block; margin-top: .6rem; }
.hint { color: GrayText; margin: .2rem 0; }
.danger { background: #b3261e; color: #fff; border: 0; }
.said { border-left: 4px solid #1a73e8; padding: .2rem .8rem; margin: 1rem 0; }
.said p { margin: .3rem 0; white-space: pre-line; }
.refused { color: #b3261e; }
form { margin: .5rem 0; } form.inline { display: inline-block; margin: .2rem .4rem .2rem 0; }
section { margin-bottom: 1.5rem; }
.photo svg { max-width: 18rem; height: auto; display: block; }
.face { fill: none; stroke: #00c853; stroke-width: 1%; }
video { max-width: 100%; width: 24rem; display: block; }
progress { width: 10rem; }
.chart svg { max-width: 100%; height: auto; }
.review { border: 1px solid #8884; border-radius: .4rem; padding: .6rem; margin: .6rem 0; }
.review img { max-width: 12rem; display: block; }
nav a { margin-right: 1rem; }
"""

_SCRIPT = """\
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf"]')?.content || "";

  // the script's live length and speech time, as the bot counts it (the server normalises)
  const script = document.getElementById("script");
  const out = document.getElementById("estimate");
  const language = document.getElementById("language");
  if (script && out) {
    let timer = 0;
    const ask = async () => {
      const lang = language ? language.value : "auto";
      const body = new URLSearchParams({ csrf, script: script.value, language: lang });
      const r = await fetch("/estimate", { method: "POST", body, credentials: "same-origin" });
      if (!r.ok) return;
      const e = await r.json();
      out.textContent = e.line;
      out.classList.toggle("refused", !!e.refused);
    };
    script.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 250); });
    if (language) language.addEventListener("change", ask);
    if (script.value) ask();
  }

  // record the voice note in the browser: the recording becomes the file to upload
  const rec = document.getElementById("record");
  const input = document.getElementById("voice-file");
  const heard = document.getElementById("recorded");
  if (rec && input && window.MediaRecorder && navigator.mediaDevices) {
    rec.hidden = false;
    let recorder = null;
    let chunks = [];
    rec.addEventListener("click", async () => {
      if (recorder && recorder.state === "recording") { recorder.stop(); return; }
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      recorder = new MediaRecorder(stream);
      chunks = [];
      recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
      recorder.addEventListener("stop", () => {
        stream.getTracks().forEach((t) => t.stop());
        const type = recorder.mimeType || "audio/webm";
        const blob = new Blob(chunks, { type });
        const ext = type.includes("ogg") ? "ogg" : "webm";
        const file = new File([blob], "recording." + ext, { type });
        const files = new DataTransfer();
        files.items.add(file);
        input.files = files.files;
        if (heard) { heard.src = URL.createObjectURL(blob); heard.hidden = false; }
        rec.textContent = rec.dataset.start;
      });
      recorder.start();
      rec.textContent = rec.dataset.stop;
    });
  }

  // the dashboard's queue, live: the server sends the block as it draws it on the page
  // a stream the server refused or dropped is opened again after a pause (EventSource
  // itself gives up on an HTTP error such as "too many streams")
  const listen = (path, onMessage) => {
    const live = new EventSource(path);
    live.addEventListener("message", (m) => onMessage(m, live));
    live.addEventListener("error", () => {
      if (live.readyState === EventSource.CLOSED) setTimeout(() => listen(path, onMessage), 5000);
    });
  };

  const queue = document.getElementById("queue-view");
  if (queue && window.EventSource) {
    listen("/mod/events", (m) => {
      const block = new DOMParser().parseFromString(JSON.parse(m.data).html, "text/html");
      const fresh = block.getElementById("queue-view");
      if (fresh) queue.replaceChildren(...fresh.childNodes);
    });
  }

  // the person's jobs, live: queue place and progress pushed by the server
  const jobs = document.getElementById("jobs-list");
  if (jobs && window.EventSource) {
    listen("/events", (m, live) => {
      for (const job of JSON.parse(m.data)) {
        const row = document.getElementById("job-" + job.id);
        if (!row) { if (!job.final) location.reload(); continue; }
        if (row.dataset.status !== job.status && (job.final || job.video)) {
          live.close(); location.reload(); return;
        }
        const text = row.querySelector(".state");
        if (text) text.textContent = job.line;
        const bar = row.querySelector("progress");
        if (bar) bar.value = job.fraction;
      }
    });
  }
})();
"""


def studio_script() -> str:
    """The studio's one script, served at /static/studio.js (the CSP allows no other)."""
    return _SCRIPT


def _page(title: str, body: str, csrf: str = "") -> str:
    meta = f'<meta name="csrf" content="{escape(csrf)}">\n' if csrf else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{meta}<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/studio.css">\n'
        '<script src="/static/studio.js" defer></script>\n</head>\n'
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def confirm_page(path: str) -> str:
    """The sign-in link's page: a button that signs in. Opening the link spends nothing, so a
    chat app that fetches it for a preview does not use it up; the sign-in itself is a form
    post from this page (same origin, which also keeps another site from signing a browser
    in as someone else)."""
    body = (
        f"<h1>{escape(texts.WEB_TITLE)}</h1>\n<p>{escape(texts.WEB_CONFIRM)}</p>\n"
        f'<form method="post" action="{escape(path)}">'
        f'<button type="submit">{escape(texts.WEB_CONFIRM_BUTTON)}</button></form>'
    )
    return _page(texts.WEB_TITLE, body)


def message_page(text: str) -> str:
    """A page that says one thing (a refused link, signed out, not signed in)."""
    return _page(texts.WEB_TITLE, f"<h1>{escape(texts.WEB_TITLE)}</h1>\n<p>{escape(text)}</p>")


def one_line(text: str) -> Reply:
    """A one-line answer of the web adapter's own (a missing file), shown as the core's are."""
    return Reply(text)


def _when(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return (
        f'<time datetime="{moment.isoformat(timespec="seconds")}">'
        f"{moment.strftime('%Y-%m-%d %H:%M UTC')}</time>"
    )


def _form(
    action: str,
    csrf: str,
    label: str,
    button_class: str = "",
    fields: dict[str, str] | None = None,
    inline: bool = False,
) -> str:
    cls = f' class="{button_class}"' if button_class else ""
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in (fields or {}).items()
    )
    form_class = ' class="inline"' if inline else ""
    return (
        f'<form method="post" action="{escape(action)}"{form_class}>'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">{hidden}'
        f'<button type="submit"{cls}>{escape(label)}</button></form>'
    )


def _said(actions: list[Action], csrf: str, press: str) -> str:
    """The core's answers to the last change, with their buttons as forms (``press``: the
    route a button posts to) and any previews (a review's photo and voice)."""
    if not actions:
        return ""
    parts = []
    for a in actions:
        media = "".join(_attachment(att.name, att.data) for att in a.attachments)
        buttons = "".join(
            _form(press, csrf, b.label, fields={"action": b.action, "value": b.value}, inline=True)
            for b in a.buttons
        )
        parts.append(f"<p>{escape(a.text)}</p>{media}{buttons}")
    return (
        f'<section class="said" role="status" aria-label="{escape(texts.WEB_SAID)}">'
        + "".join(parts)
        + "</section>"
    )


def _attachment(name: str, data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    if name.endswith((".jpg", ".jpeg")):
        return f'<img src="data:image/jpeg;base64,{encoded}" alt="{escape(name)}">'
    if name.endswith(".ogg"):
        return (
            f'<audio controls src="data:audio/ogg;base64,{encoded}" '
            f'aria-label="{escape(name)}"></audio>'
        )
    return ""


def job_line(job: LiveJob) -> str:
    """A job's state in words, as the page and its live updates show it."""
    if job.status == "queued" and job.ahead is not None:
        if job.ahead == 0:
            return texts.WEB_JOB_LINE_QUEUED_NEXT
        return texts.WEB_JOB_LINE_QUEUED.format(ahead=job.ahead)
    if job.status == "running":
        stage = job.stage or "starting"
        return texts.WEB_JOB_LINE_RUNNING.format(stage=stage, percent=round(job.fraction * 100))
    if job.error:
        return texts.WEB_JOB_LINE_ERROR.format(status=job.status, error=job.error)
    return job.status


def job_state(job: LiveJob) -> dict[str, Any]:
    """What the live stream sends for a job (the page's script puts ``line`` in place)."""
    return {
        "id": job.job_id,
        "status": job.status,
        "line": job_line(job),
        "fraction": round(job.fraction, 3),
        "final": job.final,
        "video": job.video,
    }


def _job(job: LiveJob, csrf: str) -> str:
    short = escape(job.job_id[:8])
    parts = [f'<span class="state">{escape(job_line(job))}</span>']
    if not job.final:
        parts.append(
            f'<progress max="1" value="{job.fraction:.3f}" '
            f'aria-label="{escape(texts.STATUS_JOB.format(job=short, status="", detail=""))}">'
            "</progress>"
        )
        parts.append(
            _form(
                "/press",
                csrf,
                texts.WEB_CANCEL_JOB,
                fields={"action": "cancel_job", "value": job.job_id},
                inline=True,
            )
        )
    if job.video:
        src = f"/videos/{escape(job.job_id)}.mp4"
        parts.append(
            f'<video controls preload="metadata" src="{src}" '
            f'aria-label="{escape(texts.VIDEO_CAPTION)} {short}"></video>'
            f'<a href="{src}?download=1" download>{escape(texts.WEB_DOWNLOAD)}</a>'
        )
    elif job.status == "done":
        parts.append(f"<span>{escape(texts.WEB_VIDEO_GONE)}</span>")
    return (
        f'<tr id="job-{escape(job.job_id)}" data-status="{escape(job.status)}">'
        f"<td><code>{short}</code></td><td>{' '.join(parts)}</td><td>{_when(job.created)}</td>"
        "</tr>\n"
    )


def _jobs(view: StudioView, csrf: str) -> str:
    if not view.jobs:
        return f'<p id="jobs-list">{escape(texts.WEB_JOBS_NONE)}</p>'
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in texts.WEB_JOB_HEADERS)
    rows = "".join(_job(j, csrf) for j in view.jobs)
    return (
        f'<table id="jobs-list" aria-labelledby="jobs">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}</tbody>\n</table>"
    )


def _voices(view: StudioView) -> str:
    if not view.voices:
        return f"<p>{escape(texts.WEB_VOICES_NONE)}</p>"
    return "<ul>\n" + "".join(f"<li>{escape(name)}</li>\n" for name in view.voices) + "</ul>"


def _photo(face: FaceFrame | None) -> str:
    """The draft's photo (a worker's re-encoded copy) with the face box drawn over it: an
    SVG in the photo's own pixel units, so the box needs no style (the CSP allows none)."""
    if face is None:
        return f'<p><img src="/draft/photo.jpg" alt="{escape(texts.WEB_PHOTO_ALT)}"></p>'
    return (
        f'<div class="photo"><svg viewBox="0 0 {face.width} {face.height}" role="img" '
        f'aria-label="{escape(texts.WEB_PHOTO_ALT)}">'
        f'<image href="/draft/photo.jpg" x="0" y="0" width="{face.width}" '
        f'height="{face.height}" preserveAspectRatio="none"/>'
        f'<rect class="face" x="{face.x}" y="{face.y}" width="{face.w}" height="{face.h}"/>'
        "</svg></div>"
    )


def _upload(field: str, accept: str, label: str, hint: str, csrf: str, extra: str = "") -> str:
    """A file form; the CSRF token is the first field (the server reads it before the file)."""
    fid = f"{field.replace('_', '-')}-file"
    return (
        '<form method="post" action="/upload" enctype="multipart/form-data">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<label for="{fid}">{escape(label)}</label>'
        f'<p class="hint" id="{fid}-hint">{escape(hint)}</p>'
        f'<input type="file" id="{fid}" name="{field}" accept="{accept}" '
        f'aria-describedby="{fid}-hint">{extra}'
        f'<button type="submit">{escape(texts.WEB_UPLOAD_BUTTON)}</button></form>'
    )


def _language_select(chosen: str) -> str:
    """The script's language: auto (detected from the script), or a language by its own
    name; sent with the script (and to the live counter)."""
    options = [("auto", texts.LANG_AUTO_CHOICE)] + [
        (code, LANGUAGES[code].native) for code in SUPPORTED
    ]
    current = chosen or "auto"
    choices = "".join(
        f'<option value="{code}"{" selected" if code == current else ""}>{escape(name)}</option>'
        for code, name in options
    )
    return (
        f'<p><label for="language">{escape(texts.WEB_LANGUAGE)}</label> '
        f'<select id="language" name="language">{choices}</select></p>'
    )


def _draft(view: StudioView, csrf: str, photo_shown: bool, face: FaceFrame | None) -> str:
    d = view.draft
    if d is None:
        return f"<p>{escape(texts.WEB_NEW_HINT)}</p>{_form('/talk', csrf, texts.WEB_START_BUTTON)}"
    have = [name for name in ("script", "voice", "photo") if name not in d.missing]
    summary = texts.WEB_DRAFT_HAVE.format(
        have=", ".join(have) or "nothing yet", missing=", ".join(d.missing) or "nothing"
    )
    hint = texts.WEB_SCRIPT_HINT.format(chars=view.max_chars, seconds=view.max_seconds)
    script = (
        '<form method="post" action="/script">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<label for="script">{escape(texts.WEB_SCRIPT)}</label>'
        f'<p class="hint" id="script-hint">{escape(hint)}</p>'
        f'<textarea id="script" name="script" maxlength="{view.max_chars * 4}" '
        f'aria-describedby="script-hint estimate">{escape(d.script)}</textarea>'
        f"{_language_select(d.language)}"
        '<p><output id="estimate" for="script" aria-live="polite"></output></p>'
        f'<button type="submit">{escape(texts.WEB_SCRIPT_BUTTON)}</button></form>'
    ) + _upload(
        "script_file",
        ".txt,text/plain,.csv,text/csv",
        texts.WEB_SCRIPT_FILE,
        texts.WEB_SCRIPT_FILE_HINT,
        csrf,
    )
    record = (
        f'<button type="button" id="record" hidden data-start="{escape(texts.WEB_RECORD)}" '
        f'data-stop="{escape(texts.WEB_RECORD_STOP)}">{escape(texts.WEB_RECORD)}</button>'
        '<audio id="recorded" controls hidden></audio>'
    )
    voice = _upload("voice", "audio/*", texts.WEB_VOICE, texts.WEB_VOICE_HINT, csrf, record)
    if d.voice_seconds is not None:
        voice = f"<p>{escape(texts.WEB_VOICE_HAVE.format(seconds=d.voice_seconds))}</p>{voice}"
    if view.voices:
        saved = "".join(
            _form(
                "/press",
                csrf,
                texts.VOICE_BUTTON.format(name=name),
                fields={"action": "use_voice", "value": name},
                inline=True,
            )
            for name in view.voices[:10]
        )
        voice += f"<p>{escape(texts.WEB_USE_VOICE)}</p>{saved}"
    photo = _upload(
        "photo", "image/jpeg,image/png,image/webp", texts.WEB_PHOTO, texts.WEB_PHOTO_HINT, csrf
    )
    if d.photo:
        shown = _photo(face) if photo_shown else f"<p>{escape(texts.WEB_PHOTO_NO_PREVIEW)}</p>"
        photo = shown + photo
    cancel = _form("/press", csrf, texts.CANCEL_BUTTON, fields={"action": "cancel"})
    return (
        f"<p>{escape(summary)}</p>\n<section>{script}</section>\n<section>{voice}</section>\n"
        f"<section>{photo}</section>\n{cancel}"
    )


def home_page(
    view: StudioView,
    csrf: str,
    said: list[Action] | None = None,
    photo_shown: bool = False,
    face: FaceFrame | None = None,
) -> str:
    """The studio: the core's last answers, the video being made, the person's videos (live),
    their voices, the dashboard's door for moderators, forget, sign out."""
    who = texts.WEB_SIGNED_IN_AS.format(platform=view.platform, user=view.user_id)
    door = (
        f'<nav><a href="/mod">{escape(texts.WEB_DASHBOARD_LINK)}</a></nav>\n' if view.staff else ""
    )
    body = (
        f"<h1>{escape(texts.WEB_TITLE)}</h1>\n<p>{escape(who)}</p>\n{door}"
        f"{_said(said or [], csrf, '/press')}\n"
        f'<h2 id="new">{escape(texts.WEB_NEW)}</h2>\n{_draft(view, csrf, photo_shown, face)}\n'
        f'<h2 id="jobs">{escape(texts.WEB_JOBS)}</h2>\n{_jobs(view, csrf)}\n'
        f'<h2 id="voices">{escape(texts.WEB_VOICES)}</h2>\n{_voices(view)}\n'
        f'<h2 id="forget">{escape(texts.WEB_FORGET)}</h2>\n'
        f'<p id="forget-hint">{escape(texts.WEB_FORGET_HINT)}</p>\n'
        f"{_form('/forget', csrf, texts.WEB_FORGET_BUTTON, 'danger')}\n"
        f'<h2 id="signout">{escape(texts.WEB_SIGN_OUT)}</h2>\n'
        f"{_form('/logout', csrf, texts.WEB_SIGN_OUT)}"
    )
    return _page(texts.WEB_TITLE, body, csrf)


# ---- the moderator dashboard ------------------------------------------------------------------
def _view(actions: list[Action], csrf: str) -> str:
    """A /mod view's answers: each a block with its lines, previews and buttons (Approve,
    Deny, Cancel post to /mod/press)."""
    out = []
    for a in actions:
        media = "".join(_attachment(att.name, att.data) for att in a.attachments)
        buttons = "".join(
            _form(
                "/mod/press",
                csrf,
                b.label,
                fields={"action": b.action, "value": b.value},
                inline=True,
            )
            for b in a.buttons
        )
        text = "".join(f"<p>{escape(t)}</p>" for t in a.text.split("\n"))
        out.append(f'<div class="review">{text}{media}{buttons}</div>')
    return "".join(out)


def queue_view(actions: list[Action], csrf: str) -> str:
    """The dashboard's queue block (its page and its live stream draw the same)."""
    return f'<div id="queue-view" aria-live="polite">{_view(actions, csrf)}</div>'


def _command_form(csrf: str, sub: str, label: str, field: str, hint: str, button: str) -> str:
    fid = f"mod-{sub}"
    return (
        '<form method="post" action="/mod/command">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="sub" value="{escape(sub)}">'
        f'<label for="{fid}">{escape(label)}</label>'
        f'<p class="hint" id="{fid}-hint">{escape(hint)}</p>'
        f'<input type="text" id="{fid}" name="{field}" aria-describedby="{fid}-hint" '
        f'maxlength="400"> <button type="submit">{escape(button)}</button></form>'
    )


def _select_form(csrf: str, sub: str, label: str, options: tuple[str, ...]) -> str:
    fid = f"mod-{sub}"
    choices = "".join(f'<option value="{escape(o)}">{escape(o)}</option>' for o in options)
    return (
        '<form method="post" action="/mod/command">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="sub" value="{escape(sub)}">'
        f'<label for="{fid}">{escape(label)}</label>'
        f'<select id="{fid}" name="args">{choices}</select> '
        f'<button type="submit">{escape(texts.WEB_SAVE)}</button></form>'
    )


def _limits_form(csrf: str) -> str:
    """A limit of the server's (day, concurrent, hour) set to a number, as /mod limits set."""
    choices = "".join(
        f'<option value="{name}">{escape(label)}</option>'
        for name, label in texts.WEB_LIMIT_NAMES.items()
    )
    return (
        '<form method="post" action="/mod/command">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<input type="hidden" name="sub" value="limits">'
        f'<label for="mod-limit">{escape(texts.WEB_LIMIT)}</label>'
        f'<select id="mod-limit" name="limit">{choices}</select> '
        f'<label for="mod-limit-value">{escape(texts.WEB_LIMIT_VALUE)}</label>'
        '<input type="number" id="mod-limit-value" name="value" min="-1" max="100000"> '
        f'<button type="submit">{escape(texts.WEB_SAVE)}</button></form>'
    )


def _charts(activity: Activity | None) -> str:
    if activity is None:
        return ""
    hours = tuple(time.strftime("%H:00", time.gmtime(h)) for h in activity.hours)
    made = bar_chart(
        texts.WEB_CHART_RENDERS,
        hours,
        (
            Series(texts.WEB_CHART_MADE, tuple(float(v) for v in activity.done)),
            Series(texts.WEB_CHART_FAILED, tuple(float(v) for v in activity.failed)),
        ),
    )
    waiting = line_chart(
        texts.WEB_CHART_WAITING,
        hours,
        (Series(texts.WEB_CHART_WAITING_SERIES, tuple(float(v) for v in activity.waiting)),),
    )
    seconds = bar_chart(
        texts.WEB_CHART_SECONDS,
        hours,
        (Series(texts.WEB_CHART_SECONDS_SERIES, activity.render_seconds),),
        unit="s",
    )

    def name(s: str) -> str:
        if s == OTHERS:
            return texts.WEB_SHARE_OTHERS
        return texts.WEB_SHARE_DM if s == "" else texts.WEB_DASHBOARD_SERVER.format(scope=s)

    share = share_chart(
        texts.WEB_CHART_SHARE, tuple((name(s), float(n)) for s, n in activity.shares[:12])
    )
    return f"{made}\n{share}\n{waiting}\n{seconds}"


def dashboard_page(session: WebSession, csrf: str, said: list[Action], board: Dashboard) -> str:
    """The moderator dashboard of the session's scope: the last answers, reviews (photo,
    voice, expected phrase, Approve/Deny), the live queue (Cancel), the audit with search
    and take-down, settings within the operator's caps, and charts as pictures."""
    where = (
        texts.WEB_DASHBOARD_EVERYWHERE.format(platform=session.platform)
        if board.operator
        else texts.WEB_DASHBOARD_SERVER.format(scope=session.scope)
    )
    find = (
        '<form method="get" action="/mod" role="search">'
        f'<label for="find">{escape(texts.WEB_AUDIT_BUTTON)}</label>'
        f'<p class="hint" id="find-hint">{escape(texts.WEB_AUDIT_HINT)}</p>'
        f'<input type="search" id="find" name="find" value="{escape(board.find)}" '
        'maxlength="64" aria-describedby="find-hint"> '
        f'<button type="submit">{escape(texts.WEB_AUDIT_BUTTON)}</button></form>'
    )
    takedown = _command_form(
        csrf, "takedown", texts.WEB_TAKEDOWN, "args", texts.WEB_TAKEDOWN_HINT, texts.WEB_TAKEDOWN
    )
    settings = (
        f'<p class="hint">{escape(texts.WEB_SETTINGS_HINT)}</p>'
        + _select_form(csrf, "consent", texts.WEB_CONSENT_MODE, ("attest", "phrase", "review"))
        + _select_form(csrf, "label", texts.WEB_LABEL, (*LABEL_POSITIONS, "on", "off"))
        + _limits_form(csrf)
    )
    body = (
        f"<h1>{escape(texts.WEB_DASHBOARD)}</h1>\n"
        f"<p>{escape(texts.WEB_DASHBOARD_SCOPE.format(where=where))}</p>\n"
        f'<nav><a href="/">{escape(texts.WEB_BACK)}</a></nav>\n'
        f"{_said(said, csrf, '/mod/press')}\n"
        f'<h2 id="reviews">{escape(texts.WEB_REVIEWS)}</h2>\n{_view(board.reviews, csrf)}\n'
        f'<h2 id="queue">{escape(texts.WEB_QUEUE)}</h2>\n{queue_view(board.queue, csrf)}\n'
        f'<h2 id="charts">{escape(texts.WEB_CHARTS)}</h2>\n{_charts(board.activity)}\n'
        f'<h2 id="audit">{escape(texts.WEB_AUDIT)}</h2>\n{find}\n{_view(board.audit, csrf)}\n'
        f"{takedown}\n"
        f'<h2 id="settings">{escape(texts.WEB_SETTINGS)}</h2>\n{settings}\n'
        f'<h2 id="log">{escape(texts.WEB_LOG)}</h2>\n{_view(board.log, csrf)}\n'
    )
    return _page(texts.WEB_DASHBOARD, body, csrf)
