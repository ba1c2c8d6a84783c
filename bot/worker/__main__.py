"""``python -m bot.worker``: run the worker process."""

from bot.worker.main import main

raise SystemExit(main())
