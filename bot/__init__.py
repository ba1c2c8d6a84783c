"""Mouthpiece chat service: Telegram and Discord front-ends over one conversation core."""
