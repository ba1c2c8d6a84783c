"""``python -m bot.probe PORT``: the containers' health check. Exit status 0 when the
process's ``/healthz`` on 127.0.0.1:PORT answers 200 within 3 s, else 1.

A module, not a ``python -c "..."`` line in the compose file: podman's Docker-compatible API
splits an exec-form health check's arguments on spaces, which turned that one-liner into a
syntax error there (every check failed, nothing became healthy). ``python -m bot.probe 8080``
has no argument with a space in it, so docker and podman run the same check. Standard library
only: it starts in a few milliseconds and imports nothing of the bot.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m bot.probe PORT", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{int(argv[0])}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 (loopback only)
            ok = answer.status == 200
    except (urllib.error.URLError, OSError) as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
