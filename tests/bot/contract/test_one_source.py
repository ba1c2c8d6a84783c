"""Values the bot and the engine must agree on, each defined once per side and checked
equal here (the bot never imports the engine, so the engine's copy cannot be imported)."""

from __future__ import annotations

from bot.chat.adapters.discord_mod import ModGroup
from bot.contract.jobs import LABEL, LABEL_POSITIONS, RenderJob
from bot.settings import BotSettings
from engine.media.label import DEFAULT_TEXT, POSITIONS
from engine.types import RenderOptions


def test_the_label_is_the_engines() -> None:
    assert LABEL_POSITIONS == POSITIONS and LABEL == DEFAULT_TEXT
    assert RenderOptions().label_position == POSITIONS[0]
    job = RenderJob("j", "telegram", "u", "c", "Hi", "v", "p")
    assert (job.label, job.label_position) == (LABEL, LABEL_POSITIONS[0])
    settings = BotSettings()
    assert (settings.label, settings.label_position) == (LABEL, LABEL_POSITIONS[0])


def test_discord_offers_exactly_the_label_positions() -> None:
    group = ModGroup.__discord_app_commands_group_children__  # type: ignore[attr-defined]
    label = next(c for c in group if c.name == "label")
    choices = [c.value for c in label._params["position"].choices]
    assert choices == [*LABEL_POSITIONS, "on", "off"]


def test_one_media_kind_rule() -> None:
    """Both adapters call this one rule: the sender's type first, else the file name."""
    from bot.contract.events import media_kind

    cases = {
        ("note.OGG", ""): "audio",
        ("x.bin", "audio/mpeg"): "audio",
        ("me.jpeg", ""): "image",
        ("x", "image/webp"): "image",
        ("script.txt", ""): "text",
        ("x", "text/plain; charset=utf-8"): "text",
        ("x.pdf", "application/pdf"): "other",
        ("clip.MP4", ""): "video",
        ("x", "video/quicktime"): "video",
        ("x.webm", "video/webm"): "audio",  # a WebM voice note stays a voice note
    }
    assert {k: media_kind(*k) for k in cases} == cases
