"""The production package agents/ never depends on the simulator sim/ (README, Layout)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import agents

AGENTS_DIR = Path(agents.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_under_agents_imports_sim() -> None:
    offenders = {
        str(path.relative_to(AGENTS_DIR.parent)): sorted(
            name for name in _imported_modules(path) if name == "sim" or name.startswith("sim.")
        )
        for path in sorted(AGENTS_DIR.rglob("*.py"))
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert len(list(AGENTS_DIR.rglob("*.py"))) > 10
    assert offenders == {}


_PROBE = """
import json, sys
from agents import cli
from agents.providers.factory import load_providers
from agents.providers.settings import ProviderSettings
args = cli.build_parser().parse_args(["agents", "run", "--provider", "live"])
keys = {"GEMINI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"}
providers = load_providers("live", ProviderSettings.from_env(keys))
print(json.dumps({"mode": providers.mode, "func": args.func.__module__,
                  "modules": sorted(sys.modules)}))
"""


def test_starting_live_agents_imports_neither_the_simulator_nor_the_offline_models() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    probe = json.loads(out.splitlines()[-1])
    assert probe["mode"] == "live"
    assert probe["func"] == "agents.runtime"
    modules = set(probe["modules"])
    loaded = sorted(
        m
        for m in modules
        if m.split(".")[0] in {"sim", "scipy"} or m.startswith("agents.providers.offline")
    )
    assert loaded == []
    assert "agents.providers.gemini" in modules


def test_genome_demo_is_found_through_the_entry_point_group() -> None:
    from agents import cli

    commands = cli.extra_commands()
    assert commands["demo"].value == "sim.demo:main"
    assert "demo" in cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
