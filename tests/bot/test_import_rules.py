"""The layering rules of ARCHITECTURE.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = {"discord", "telegram"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_engine_imports_nothing_of_ours_or_of_chat() -> None:
    for path in modules("engine"):
        bad = {m for m in imports(path) if m.split(".")[0] in {"bot", "arq", "redis", *PLATFORMS}}
        assert not bad, f"{path}: {bad}"


def test_core_is_platform_and_engine_free() -> None:
    for path in modules("bot/core"):
        bad = {
            m
            for m in imports(path)
            if m.split(".")[0] in {"engine", "torch", "aiosqlite", "arq", *PLATFORMS}
        }
        assert not bad, f"{path}: {bad}"


def test_only_the_worker_meets_the_engine() -> None:
    for path in modules("bot"):
        if path.name == "worker.py":
            continue
        assert not {m for m in imports(path) if m.split(".")[0] == "engine"}, path


def test_adapters_and_delivery_do_not_import_each_other() -> None:
    for path in modules("bot/adapters"):
        assert not {m for m in imports(path) if m.startswith("bot.delivery")}, path
    for path in modules("bot/delivery"):
        assert not {m for m in imports(path) if m.startswith("bot.adapters")}, path
