"""The package's layers, read from the imports (top-level and inside functions alike): every import of a
restora module goes to the same layer or one below, so nothing imports upwards and the packages form no
cycle; docs/architecture.md draws these layers and names every module."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "restora"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

LAYERS = {
    # 0: plain pieces every layer may use
    "errors": 0, "scales": 0, "pairs": 0, "installed": 0, "io": 0, "schedules": 0, "pictures": 0,
    # 1: degradations and the classical restorations over them
    "operators": 1, "baselines": 1,
    # 2: denoisers, and priors around priors
    "priors": 2, "metrics": 2, "references": 2,
    # 3: the restoration methods
    "solvers": 3,
    # 4: tools over the methods
    "train": 4, "experiments": 4,
    # 5: the command line
    "cli": 5, "__main__": 5,
}


def imports() -> dict[str, set[str]]:
    """Top-level package of each module file -> the restora packages it imports."""
    out: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("").parts
        if rel == ("__init__",):
            continue
        deps = out.setdefault(rel[0], set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "restora" and len(parts) > 1 and parts[1] != rel[0]:
                    deps.add(parts[1])
    return out


def test_every_module_has_a_layer():
    assert set(imports()) == set(LAYERS)


def test_nothing_imports_upwards():
    upwards = [f"{a} -> {b}" for a, deps in imports().items() for b in deps if LAYERS[b] > LAYERS[a]]
    assert not upwards, upwards


def test_the_packages_form_no_cycle():
    graph = imports()
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, " -> ".join((*path, node))
        if node in done:
            return
        for dep in graph.get(node, ()):
            visit(dep, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_the_architecture_page_names_every_module():
    text = DOC.read_text()
    missing = [name for name in LAYERS if name != "__main__" and f"restora.{name}" not in text]
    assert not missing, missing


MAX_FUNCTION_LINES = 60
PARSER_DECLARATIONS = SRC / "cli" / "arguments.py"  # one add_COMMAND per command: argparse tables


ROOT = SRC.parents[1]
MAX_SCRIPT_LINES = 250  # a benchmarks/ script is a thin main() over restora.experiments


def test_no_function_anywhere_is_over_60_lines():
    """A reader should find any room in an hour; ruff (C901, PLR0915 in dev.py lint) bounds the complexity.
    Argument-parser declarations (cli/arguments.py's add_COMMAND) are tables, not logic."""
    long = []
    for path in [*SRC.rglob("*.py"), *(ROOT / "examples").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                parser = path == PARSER_DECLARATIONS and node.name.startswith("add_")
                if lines > MAX_FUNCTION_LINES and not parser:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_no_benchmark_script_is_over_250_lines_nor_imports_another():
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    names = {p.stem for p in scripts}
    assert scripts
    for path in scripts:
        assert len(path.read_text().splitlines()) <= MAX_SCRIPT_LINES, path.name
        nodes = list(ast.walk(ast.parse(path.read_text())))
        modules = {n.module for n in nodes if isinstance(n, ast.ImportFrom) and n.module}
        modules |= {a.name for n in nodes if isinstance(n, ast.Import) for a in n.names}
        assert not {m.split(".")[0] for m in modules} & names, path.name
        assert not [m for m in modules if m.startswith("restora.cli")], path.name
