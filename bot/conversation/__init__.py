"""The conversation: ``flow`` (the /talk state table, drawn in ``flow.mmd``) and ``service``
(one chat event in, the actions to show out), over the ports it is handed. No platform
library, no file I/O of its own."""

from __future__ import annotations

from bot.conversation.flow import Draft, step
from bot.conversation.service import Limits, Service

__all__ = ["Draft", "step", "Limits", "Service"]
