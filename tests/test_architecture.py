"""One direction of flow (issue 20, docs/architecture.md), read from the package's imports with ``ast``.

No import cycle among ``awaker_eval`` modules (imports anywhere in a module count, those under
``if TYPE_CHECKING:`` excepted); no stage module imports the benchmark registry; the only function-level imports
of the project's own modules are the deliberately lazy ones named in ``LAZY_IMPORTS`` and in
docs/architecture.md; no function over 60 lines; the real backends never import the tiny-model builders.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "awaker_eval"
DOC = PKG.parent / "docs" / "architecture.md"
STAGES = ("data", "prompts", "extract", "score", "engine", "models")
REGISTRY = "awaker_eval.tasks.registry"
TINY_BUILDERS = {"awaker_eval.models.tiny", "awaker_eval.models.awaker.tiny"}
REAL_BACKENDS = ("awaker_eval.models.qwen2_vl", "awaker_eval.models.awaker.backend")

# (module file, module it imports inside a function): each keeps a heavy library off a light path, and each is
# named in docs/architecture.md ("Deliberately lazy imports"). Adding one needs a reason there; at most 15.
LAZY_IMPORTS = {
    ("awaker_eval/app.py", "awaker_eval.pipeline"),
    ("awaker_eval/perf_cli.py", "awaker_eval.perf"),
    ("awaker_eval/golden_cli.py", "awaker_eval.models.awaker.verify_golden"),
    ("awaker_eval/convert_cli.py", "awaker_eval.models.awaker.convert"),
    ("awaker_eval/models/factory.py", "awaker_eval.models.materialize"),
    ("awaker_eval/models/factory.py", "awaker_eval.models.openai_api"),
    ("awaker_eval/models/awaker/epilogue.py", "awaker_eval.models.awaker.epilogue_triton"),
}


def _modname(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(cur: str, node: ast.AST, modules: set[str], packages: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    base = node.module or ""
    if node.level:
        pkg = cur.split(".") if cur in packages else cur.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([base] if base else []))
    out = []
    for a in node.names:
        full = f"{base}.{a.name}"
        out.append(full if full in modules else base)
    return [t for t in out if t in modules]


def _graph():
    files = {_modname(p): p for p in PKG.rglob("*.py")}
    packages = {_modname(p) for p in PKG.rglob("__init__.py")}
    edges, local, long_funcs = {}, set(), set()
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {id(m) for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
                for m in ast.walk(n)}
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(m) for f in funcs for m in ast.walk(f) if m is not f}
        deps = set()
        for n in ast.walk(tree):
            if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skip:
                targets = _targets(mod, n, set(files), packages)
                deps.update(t for t in targets if t != mod)
                if targets and id(n) in inside:
                    local |= {(str(path.relative_to(PKG.parent)), t) for t in targets}
        long_funcs |= {f"{path.relative_to(PKG.parent)}:{f.name}" for f in funcs if f.end_lineno - f.lineno + 1 > 60}
        edges[mod] = deps
    return edges, local, long_funcs


def _is_stage(mod: str) -> bool:
    parts = mod.split(".")
    if len(parts) < 2:
        return False
    return parts[1] in STAGES or (parts[1] == "report" and not (parts[-1].endswith("_cli") or parts[-1] == "cli"))


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(edges):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycle():
    edges, _, _ = _graph()
    assert _cycle(edges) is None


def test_stage_modules_do_not_import_the_registry():
    edges, _, _ = _graph()
    users = sorted(m for m, deps in edges.items() if REGISTRY in deps and _is_stage(m))
    assert not users, f"stage modules import the registry (take the Benchmark object instead): {users}"


def test_function_level_imports_are_the_documented_lazy_ones():
    _, local, _ = _graph()
    assert local <= LAZY_IMPORTS, (f"function-level imports of awaker_eval modules {sorted(local - LAZY_IMPORTS)}: "
                                   "import at the top of the module, or name a deliberately lazy heavy import in "
                                   "docs/architecture.md and LAZY_IMPORTS")
    assert len(LAZY_IMPORTS) <= 15
    doc = DOC.read_text(encoding="utf-8")
    undocumented = [(f, m) for f, m in sorted(LAZY_IMPORTS) if f"`{f}`" not in doc or f"`{m}`" not in doc]
    assert not undocumented, f"lazy imports missing from docs/architecture.md: {undocumented}"


def test_stage_modules_never_take_the_whole_run_config():
    """Stages get their own settings object or the few values they need (``EngineSettings``, a
    ``BenchmarkConfig``, the benchmark object), never ``RunConfig``: entry points unpack it."""
    takers = []
    for path in PKG.rglob("*.py"):
        mod = _modname(path)
        if not _is_stage(mod):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        if "RunConfig" in names:
            takers.append(mod)
    assert not takers, f"stage modules that import RunConfig: {sorted(takers)}"


def test_no_function_over_60_lines():
    _, _, long_funcs = _graph()
    assert not long_funcs, f"functions over 60 lines: {sorted(long_funcs)}"


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(edges.get(mod, ()))
    return seen


def test_real_backends_do_not_import_the_tiny_builders():
    """A tiny model is a checkpoint its builder writes (``models/materialize.py``), then loaded like any other: the
    real backends and everything they import (at the top or inside a function) never reach a tiny builder."""
    edges, _, _ = _graph()
    for backend in REAL_BACKENDS:
        assert backend in edges, backend
        reached = _reachable(edges, backend) & TINY_BUILDERS
        assert not reached, f"{backend} imports the tiny builder(s) {sorted(reached)}"
