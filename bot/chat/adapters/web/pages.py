"""The studio's HTML: every value from outside (ids, names, states) is escaped here, and
every sentence comes from :mod:`bot.contract.texts`. Plain forms and buttons: usable with
the keyboard alone, without scripts (the CSP allows none)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from bot.contract import texts
from bot.conversation.studio import StudioView

__all__ = ["CSS", "home_page", "message_page"]

#: served by the app itself at /static/studio.css (nothing external)
CSS = """\
:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
body { max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #8884; }
button { font: inherit; padding: .4rem 1rem; border-radius: .3rem; cursor: pointer; }
button:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
.danger { background: #b3261e; color: #fff; border: 0; }
form { margin: .5rem 0; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/studio.css">\n</head>\n'
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


def message_page(line: str) -> str:
    """A page that says one thing (a refused link, signed out, not signed in)."""
    return _page(texts.WEB_TITLE, f"<h1>{escape(texts.WEB_TITLE)}</h1>\n<p>{escape(line)}</p>")


def _when(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return (
        f'<time datetime="{moment.isoformat(timespec="seconds")}">'
        f"{moment.strftime('%Y-%m-%d %H:%M UTC')}</time>"
    )


def _jobs(view: StudioView) -> str:
    if not view.jobs:
        return f"<p>{escape(texts.WEB_JOBS_NONE)}</p>"
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in texts.WEB_JOB_HEADERS)
    rows = "".join(
        f"<tr><td><code>{escape(j.job_id[:8])}</code></td><td>{escape(j.status)}</td>"
        f"<td>{_when(j.created)}</td></tr>\n"
        for j in view.jobs
    )
    return (
        f'<table aria-labelledby="jobs">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}</tbody>\n</table>"
    )


def _voices(view: StudioView) -> str:
    if not view.voices:
        return f"<p>{escape(texts.WEB_VOICES_NONE)}</p>"
    return "<ul>\n" + "".join(f"<li>{escape(name)}</li>\n" for name in view.voices) + "</ul>"


def _form(action: str, csrf: str, label: str, button_class: str = "") -> str:
    cls = f' class="{button_class}"' if button_class else ""
    return (
        f'<form method="post" action="{action}">\n'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">\n'
        f'<button type="submit"{cls}>{escape(label)}</button>\n</form>'
    )


def home_page(view: StudioView, csrf: str) -> str:
    """The studio's home: who is signed in, their videos and voices, forget, sign out."""
    who = texts.WEB_SIGNED_IN_AS.format(platform=view.platform, user=view.user_id)
    body = (
        f"<h1>{escape(texts.WEB_TITLE)}</h1>\n<p>{escape(who)}</p>\n"
        f'<h2 id="jobs">{escape(texts.WEB_JOBS)}</h2>\n{_jobs(view)}\n'
        f'<h2 id="voices">{escape(texts.WEB_VOICES)}</h2>\n{_voices(view)}\n'
        f'<h2 id="forget">{escape(texts.WEB_FORGET)}</h2>\n'
        f'<p id="forget-hint">{escape(texts.WEB_FORGET_HINT)}</p>\n'
        f"{_form('/forget', csrf, texts.WEB_FORGET_BUTTON, 'danger')}\n"
        f'<h2 id="signout">{escape(texts.WEB_SIGN_OUT)}</h2>\n'
        f"{_form('/logout', csrf, texts.WEB_SIGN_OUT)}"
    )
    return _page(texts.WEB_TITLE, body)
