"""The chat process's media server: the "fetch" hand-off's other end (``MOUTHPIECE_MEDIA_URL``).

Workers on machines that share nothing with the bot but Redis fetch each upload here, with
the signed link the bot put in Redis for their job (:mod:`bot.jobs.media_links`), instead of
a copy of its bytes in Redis. One route, ``GET /media/<digest>``: the link's signature,
purpose and expiry are checked first, then the bot's own file is found by its digest alone
(:func:`bot.jobs.media.stored_media`: nothing else of the request becomes a path) and sent.
No listing, no other method, no other path.

Refusals: 403 for a link that is malformed, forged or changed (any part), or expired,
counted in ``mouthpiece_media_fetch_refused_total{reason}`` and logged without the signature;
404 for an upload the bot no longer has (erased, or expired by retention).

Plain HTTP: the server must sit on a private network between the bot and its workers, or
behind a TLS proxy (then ``MOUTHPIECE_MEDIA_URL`` names the proxy's https:// address). A link
is a bearer token for one upload until it expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from aiohttp import web

from bot.chat.adapters.web.secret import web_secret
from bot.jobs.media import stored_media
from bot.jobs.media_links import LinkRefusal, MediaLinks, SignedLink
from bot.observability import Metrics
from bot.settings import BotSettings

__all__ = ["media_links_from", "build_media_app", "start_media_server"]

log = logging.getLogger(__name__)


def media_links_from(settings: BotSettings) -> MediaLinks | None:
    """The link signer of the fetch hand-off, or None when it is off (no media URL). The
    secret: the operator's, or a random one made once in the data folder."""
    if not settings.media_url:
        return None
    secret = web_secret(settings.media_secret, settings.media_secret_path)
    return MediaLinks(secret, settings.media_url, settings.media_url_seconds)


def build_media_app(
    links: MediaLinks, media_dir: Path, metrics: Metrics | None = None
) -> web.Application:
    """The media server's one route, over the bot's upload folder ``media_dir``."""
    if metrics is not None:  # every reason from zero: rates and alerts work from the start
        for reason in LinkRefusal:
            metrics.media_refused.labels(reason=reason.value)

    def refuse(reason: LinkRefusal, link: SignedLink) -> web.Response:
        if metrics is not None:
            metrics.media_refused.labels(reason=reason.value).inc()
        log.warning(  # never the signature: with it, the link would open the upload
            "media link refused",
            extra={"reason": reason.value, "purpose": link.purpose[:16], "job": link.ref[:64]},
        )
        return web.Response(status=403, text="forbidden\n")

    async def media(request: web.Request) -> web.StreamResponse:
        query = request.query
        link = SignedLink(
            digest=request.match_info["digest"],
            purpose=query.get("purpose", ""),
            ref=query.get("job", ""),
            exp=query.get("exp", ""),
            sig=query.get("sig", ""),
        )
        refusal = links.refusal(link, time.time())
        if refusal is not None:
            return refuse(refusal, link)
        path = await asyncio.to_thread(stored_media, media_dir, link.digest)
        if path is None:
            log.info("media link to an upload the bot no longer has", extra={"job": link.ref})
            return web.Response(status=404, text="gone\n")
        headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
        return web.FileResponse(path, headers=headers)

    app = web.Application()
    app.router.add_get("/media/{digest}", media, allow_head=False)
    return app


async def start_media_server(
    settings: BotSettings, links: MediaLinks | None, metrics: Metrics | None = None
) -> web.AppRunner | None:
    """Serve the bot's uploads to its workers when the fetch hand-off is on (``links``);
    None when it is off. Stop it with ``await runner.cleanup()``."""
    if links is None:
        return None
    runner = web.AppRunner(build_media_app(links, settings.media_dir, metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.media_host, settings.media_port).start()
    log.info(
        "media server running",
        extra={"host": settings.media_host, "port": int(runner.addresses[0][1])},
    )
    return runner
