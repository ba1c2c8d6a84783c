"""Every sentence the bot says to a person lives in ``bot/contract/texts.py``.

Scans the modules that talk to people (the contract, the conversation, safety, the job
lifecycle, the chat process and the worker: adapters, wire formats, deliveries, the status
board) for sentence-shaped string constants outside docstrings, log
calls and exceptions meant for operators. Operator-facing text (metrics help, settings
errors) lives in ``bot/observability.py`` and ``bot/settings.py``, which are not scanned."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("contract", "conversation", "safety", "jobs", "chat", "worker")
#: three or more words from a capital: "Drop your draft", "Only the person who ...".
_SENTENCE = re.compile(r"^[A-Z][a-z]+(?: [\w’'“”,:;()-]+){2,}[.!?]?$")
_OPERATOR_CALLS = {"debug", "info", "warning", "error", "exception", "RuntimeError", "ValueError"}


def _exempt(tree: ast.AST) -> set[int]:
    """Docstrings, and everything inside a log call or an operator's exception."""
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in _OPERATOR_CALLS:
                out |= {id(n) for n in ast.walk(node)}
    return out


def sentences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    exempt = _exempt(tree)
    return [
        f"{path.name}:{n.lineno}: {n.value!r}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in exempt
        and _SENTENCE.match(n.value.strip())
    ]


def test_sentences_live_only_in_texts() -> None:
    files = [
        p
        for part in SCANNED
        for p in (
            [ROOT / "bot" / part] if part.endswith(".py") else (ROOT / "bot" / part).rglob("*.py")
        )
        if p.name != "texts.py"
    ]
    assert len(files) > 20
    found = [s for p in files for s in sentences(p)]
    assert not found, "sentences outside bot/contract/texts.py:\n" + "\n".join(found)


def test_the_scan_finds_a_sentence(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        'def f():\n    """Docs are fine."""\n    log.info("Logs are fine too")\n'
        '    return "Drop your draft"\n'
    )
    assert [s.split(": ", 1)[1] for s in sentences(probe)] == ["'Drop your draft'"]
