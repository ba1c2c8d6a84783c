"""The layering rules of ARCHITECTURE.md, checked on every module's imports, and the whole
import graph of ``engine`` and ``bot`` checked for cycles.

The graph counts every import statement wherever it stands (module level, inside a
function, under ``TYPE_CHECKING``), relative imports resolved, ``from P import name`` as an
import of ``P.name`` when that is a module. Importing ``a.b.c`` from outside package ``a.b``
also runs ``a/b/__init__.py`` (and ``a/__init__.py``): those edges count too, since a
package whose ``__init__`` imports its submodules turns "outside module imports a
submodule" into a real cycle at start-up when the chain leads back.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = {"discord", "telegram"}
#: top-level packages of ours below both engine and bot: standard library only, importing
#: nothing else of ours, so the chat process may use them without meeting the engine
NEUTRAL = ("spoken_text", "job_marks")
OURS = ("engine", "bot", *NEUTRAL)


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


# ---- the whole graph -----------------------------------------------------------------------
def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _targets(node: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ours one import statement names."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        here = name.split(".") if is_package else name.split(".")[:-1]
        base = here[: len(here) - (node.level - 1)]
        module = ".".join([*base, *(node.module.split(".") if node.module else [])])
    else:
        module = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        if sub in known:
            out.add(sub)
        elif module in known:
            out.add(module)
    return out


def import_graph(root: Path, packages: tuple[str, ...] = OURS) -> dict[str, set[str]]:
    """Module -> the modules of ours that importing it runs (see the module docstring)."""
    files = {
        module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))
    }
    known = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(node, name, is_package, known)
        for target in list(edges):
            parts = target.split(".")
            for n in range(1, len(parts)):
                parent = ".".join(parts[:n])
                inside = name == parent or name.startswith(parent + ".")
                if parent in known and not inside:
                    edges.add(parent)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles_anywhere() -> None:
    cycle = find_cycle(import_graph(ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: each kind of import closes a cycle it must report."""

    def write(files: dict[str, str]) -> dict[str, set[str]]:
        for rel, text in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return import_graph(tmp_path, ("pkg",))

    graph = write({"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": ""})
    assert find_cycle(graph) is None
    local = "def f():\n    from pkg import a\n"  # function-local, from-import of a module
    assert find_cycle(write({"pkg/b.py": local})) == ["pkg.a", "pkg.b", "pkg.a"]
    typing = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
    assert find_cycle(write({"pkg/b.py": typing})) == ["pkg.a", "pkg.b", "pkg.a"]
    write({"pkg/b.py": ""})
    # a package whose __init__ imports a submodule that imports, outside, a module which
    # imports one of the package's submodules: a real start-up cycle through the __init__
    cycle = write(
        {
            "pkg/sub/__init__.py": "from pkg.sub.x import y\n",
            "pkg/sub/x.py": "from pkg import c\ny = 1\n",
            "pkg/sub/z.py": "",
            "pkg/c.py": "from pkg.sub.z import *\n",
        }
    )
    assert find_cycle(cycle) == ["pkg.c", "pkg.sub", "pkg.sub.x", "pkg.c"]
    # inside the package the parent's __init__ is already running: no edge, no cycle
    fine = write({"pkg/c.py": "", "pkg/sub/z.py": "from pkg.sub import x\n"})
    assert find_cycle(fine) is None


# ---- the layers ------------------------------------------------------------------------------
def test_engine_imports_nothing_of_ours_or_of_chat() -> None:
    for path in modules("engine"):
        bad = {m for m in imports(path) if m.split(".")[0] in {"bot", "arq", "redis", *PLATFORMS}}
        assert not bad, f"{path}: {bad}"


def test_the_neutral_packages_import_only_the_standard_library() -> None:
    """What engine and bot share (the text normaliser) pulls in nothing heavy: no numpy, no
    torch, no engine; the chat process imports it."""
    for package in NEUTRAL:
        for path in modules(package):
            top = {m.split(".")[0] for m in imports(path)}
            bad = top - set(sys.stdlib_module_names) - {package}
            assert not bad, f"{path}: {bad}"


#: what each layer of bot may import of ours (ARCHITECTURE.md): one way, bottom up; besides
#: these, any layer may import the NEUTRAL packages
LAYERS: dict[str, set[str]] = {
    "bot.contract": {"bot.contract"},
    "bot.db": {"bot.db"},  # a package: the interface and its SQLite and PostgreSQL backends
    "bot.lanes": set(),  # one person's events one at a time (asyncio only)
    "bot.safety": {"bot.contract", "bot.db", "bot.safety"},
    "bot.jobs": {"bot.contract", "bot.jobs", "bot.lanes"},
    "bot.conversation": {
        "bot.contract",
        "bot.safety",
        "bot.jobs",
        "bot.lanes",
        "bot.conversation",
    },
    "bot.settings": {"bot.contract", "bot.safety"},
    "bot.observability": {"bot.contract", "bot.settings"},
    "bot.chat": {
        "bot.contract",
        "bot.db",
        "bot.lanes",
        "bot.safety",
        "bot.jobs",
        "bot.conversation",
        "bot.settings",
        "bot.observability",
        "bot.chat",
    },
    "bot.__main__": {"bot.chat", "bot.observability", "bot.settings"},  # python -m bot
    "bot.probe": set(),  # the containers' health check: standard library only
    "bot.worker": {
        "bot.contract",
        "bot.safety",
        "bot.jobs",
        "bot.conversation",
        "bot.settings",
        "bot.observability",
        "bot.worker",
        "engine",  # the one package where bot meets the engine
    },
}


def package_of(module: str) -> str:
    """The layer a module of ours belongs to (``bot.chat.adapters.telegram`` -> ``bot.chat``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = package_of(module)
        out.setdefault(here, set()).update(package_of(t) for t in targets if package_of(t) != here)
    return out


def test_no_two_packages_import_each_other() -> None:
    """Cycles between packages, not only between modules: ``bot.safety`` and the
    conversation (or the chat process and the worker) must not lean on each other."""
    cycle = find_cycle(package_graph(import_graph(ROOT)))
    assert cycle is None, "package cycle: " + " -> ".join(cycle or [])


def test_the_package_cycle_finder_sees_two_packages_leaning_on_each_other(tmp_path: Path) -> None:
    for rel, text in {
        "bot/__init__.py": "",
        "bot/a/__init__.py": "",
        "bot/a/x.py": "from bot.b import y\n",
        "bot/b/__init__.py": "",
        "bot/b/y.py": "",
        "bot/b/z.py": "import bot.a.x\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    # no module cycle (x -> y, z -> x), but bot.a and bot.b import each other
    graph = import_graph(tmp_path, ("bot",))
    assert find_cycle(graph) is None
    assert find_cycle(package_graph(graph)) in (
        ["bot.a", "bot.b", "bot.a"],
        ["bot.b", "bot.a", "bot.b"],
    )


def test_each_layer_imports_only_the_layers_below_it() -> None:
    graph = import_graph(ROOT)
    for module, targets in graph.items():
        layer = package_of(module)
        if not module.startswith("bot.") or layer not in LAYERS:
            continue
        ours = {package_of(t) for t in targets}
        bad = ours - LAYERS[layer] - {"bot", *NEUTRAL}
        assert not bad, f"{module} ({layer}) imports {sorted(bad)}"
    assert set(LAYERS) >= {package_of(m) for m in graph if m.startswith("bot.")}


def test_the_conversation_and_safety_are_platform_and_engine_free() -> None:
    banned = {"engine", "torch", "aiosqlite", "arq", "redis", *PLATFORMS}
    for package in ("bot/contract", "bot/conversation", "bot/safety"):
        for path in modules(package):
            bad = {m for m in imports(path) if m.split(".")[0] in banned - {"arq", "aiosqlite"}}
            if package != "bot/safety":  # safety's own records are SQLite tables
                bad |= {m for m in imports(path) if m.split(".")[0] == "aiosqlite"}
            if package == "bot/conversation":
                bad |= {m for m in imports(path) if m.split(".")[0] == "arq"}
            assert not bad, f"{path}: {bad}"


def test_adapters_never_import_safety() -> None:
    """The adapters report facts; bot.safety decides who may act."""
    for path in modules("bot/chat/adapters"):
        assert not {m for m in imports(path) if m.startswith("bot.safety")}, path


def test_only_the_worker_meets_the_engine() -> None:
    for path in modules("bot"):
        if "worker" in path.relative_to(ROOT).parts:
            continue
        assert not {m for m in imports(path) if m.split(".")[0] == "engine"}, path


def test_adapters_and_delivery_do_not_import_each_other() -> None:
    for path in modules("bot/chat/adapters"):
        assert not {m for m in imports(path) if m.startswith("bot.worker")}, path
    for path in modules("bot/worker"):
        assert not {m for m in imports(path) if m.startswith("bot.chat")}, path


def test_importing_the_bot_leaves_the_environment_alone() -> None:
    """Importing a module changes no environment variable: the process's starter owns it."""
    code = (
        "import os; before = dict(os.environ)\n"
        "import bot.chat.adapters.telegram, bot.chat.adapters.discord, bot.chat.app\n"
        "import bot.settings\n"
        "changed = {k for k in before.keys() | os.environ.keys()\n"
        "           if before.get(k) != os.environ.get(k)}\n"
        "assert not changed, changed\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_the_architecture_page_draws_the_transition_table_as_it_is() -> None:
    """docs/architecture.md's state diagram has exactly the table's moves."""
    from bot.contract.jobs import TRANSITIONS

    text = (ROOT / "docs" / "architecture.md").read_text()
    drawn = {
        tuple(line.split("-->")[0].split()) + tuple(line.split("-->")[1].split(":")[0].split())
        for line in text.splitlines()
        if "-->" in line and "[*]" not in line
    }
    table = {(s.value, n.value) for s, nexts in TRANSITIONS.items() for n in nexts}
    assert drawn == table
