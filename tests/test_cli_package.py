"""The layout of the ``graph/cli`` package: no import cycle, the commands in order, a light ``--help``."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT, cli_env

CLI = ROOT / "graph" / "cli"


def test_command_modules_never_import_the_cli_package():
    """The package imports the command modules to register them; they import ``graph.cli.common``, never it."""
    for path in sorted(CLI.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):  # from graph.cli import x, from graph import cli
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert "graph.cli" not in names, f"{path.name}:{node.lineno} imports the package graph.cli"


def test_help_lists_the_commands_in_order_and_imports_nothing_heavy():
    """``fairnad --help`` keeps its command order and imports neither torch nor LangGraph, Chroma or the embedder."""
    probe = (
        "import sys\nfrom graph.cli import run_cli\n"
        "try:\n    run_cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'langchain_core', 'langgraph', 'chromadb', 'sentence_transformers') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=120
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed[:8] == ["run", "resume", "status", "trace", "verify", "roles", "graph", "config"]
