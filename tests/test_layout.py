"""The production package agents/ never depends on the simulator sim/ (README, Layout)."""

from __future__ import annotations

import ast
import json
import os
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


def test_builtin_commands_are_the_parsers_own() -> None:
    """main() runs these without looking up the other packages' commands."""
    from agents import cli

    parser = cli.build_parser(builtin_only=True)
    assert set(parser._subparsers._group_actions[0].choices) == cli.BUILTIN_COMMANDS  # type: ignore[union-attr]


# `genome agents run --provider offline` up to its LISTEN: the listener's start waits until
# it listens, then records the modules loaded and stops the agent (before any claim).
_LISTENING_PROBE = """
import json, os, signal, sys
from agents import cli, runtime
real_start = runtime.Listener.start
def start(self):
    real_start(self)
    listening = self.connected.wait(60)
    print(json.dumps({"listening": listening, "modules": sorted(sys.modules)}), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
runtime.Listener.start = start
sys.exit(cli.main(["agents", "run", "--url", sys.argv[1], "--provider", "offline",
                   "--concurrency", "1"]))
"""


def test_an_offline_agent_listens_before_loading_the_pipelines_libraries(
    db_dsn: str, tmp_path: Path
) -> None:
    """docs/operations.md#start-up: numpy, Pillow, pydantic, fsspec, the stages and the
    offline models are loaded for the first job, not before the agent listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENOME_")}
    env["GENOME_STORAGE_DIR"] = str(tmp_path)
    res = subprocess.run(
        [sys.executable, "-c", _LISTENING_PROBE, db_dsn],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    probe = json.loads(res.stdout.splitlines()[-1])
    assert probe["listening"]
    modules = set(probe["modules"])
    assert {"psycopg", "agents.runtime", "agents.providers.factory"} <= modules
    heavy = sorted(
        m
        for m in modules
        if m.split(".")[0] in {"numpy", "PIL", "pydantic", "fsspec"}
        or m in {"agents.pipeline", "agents.providers.base", "agents.providers.settings"}
        or m.startswith("agents.providers.offline")
    )
    assert heavy == []
