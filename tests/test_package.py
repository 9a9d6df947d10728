"""The package as a new user installs it: build the wheel, install it into a fresh
virtualenv outside the checkout, migrate a fresh database with the installed `genome`, and
run one plan -> generate -> review cycle with the offline provider.

Nothing is downloaded: the wheel is built without build isolation from the project
virtualenv's setuptools and installed with --no-deps; the new virtualenv then sees the
project virtualenv's packages through a .pth file (written after the install, so pip never
takes the checkout's editable install for this one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import psycopg

from agents.settings import project_root
from sim import factories as f
from tests.support.pipeline import make_product

ROOT = project_root()
PIP = [sys.executable, "-m", "pip", "-q"]
AGENT_OPTIONS = ["--concurrency", "2", "--idle-exit", "1", "--poll-interval", "0.2"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 90) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, so the checkout gets no build/ or egg-info."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("agents", "sim", "db"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    _run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(src),
        ],
        cwd=src,
        env=dict(os.environ),
    )
    (wheel,) = dist.glob("creative_genome-*.whl")
    return wheel


def _venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, dict(os.environ))
    python = venv / "bin" / "python"
    _run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        tmp_path,
        dict(os.environ),
    )
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
    ).strip()
    (Path(site) / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_ships_every_module_and_migration() -> None:
    """Every module of agents/ and sim/ and every db/ file is in the wheel (the packages
    are listed by hand in pyproject.toml); db/ lands in agents/db/."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("agents", "sim")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert folders | {"agents.db"} == listed
    assert config["package-dir"] == {"agents.db": "db"}


def test_wheel_installs_migrates_and_runs_one_cycle_offline(empty_db: str, tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        f"agents/db/{p.relative_to(ROOT / 'db').as_posix()}" for p in ROOT.glob("db/**/*.sql")
    }
    wanted |= {
        p.relative_to(ROOT).as_posix()
        for top in ("agents", "sim")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert wanted - names == set()

    venv = _venv(tmp_path, wheel)
    genome = str(venv / "bin" / "genome")
    work = tmp_path / "elsewhere"  # outside the checkout, no GENOME_HOME
    work.mkdir()
    storage = tmp_path / "images"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GENOME_STORAGE_DIR": str(storage)}

    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import agents, sim; print(agents.__file__, sim.__file__)",
        ],
        work,
        env,
    )
    assert all(Path(p).is_relative_to(venv) for p in where.split()), where
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _run([genome, "--version"], work, env).strip() == f"genome {version}"

    schema = sorted(p.name for p in (ROOT / "db" / "schema").glob("*.sql"))
    dry = _run([genome, "migrate", "--url", empty_db, "--dry-run", "--no-jobs"], work, env)
    assert [line.split()[-1] for line in dry.splitlines() if "would apply" in line] == schema
    with psycopg.connect(empty_db) as conn:  # the dry run changed nothing
        assert conn.execute("SELECT to_regnamespace('genome')").fetchone()[0] is None

    out = _run([genome, "migrate", "--url", empty_db, "--no-jobs"], work, env)
    assert [line.split()[1] for line in out.splitlines() if line.startswith("applied")] == schema
    status = _run([genome, "migrate", "--url", empty_db, "--status"], work, env)
    assert [line.split()[1] for line in status.splitlines() if line.startswith("applied")] == schema
    assert "pending" not in status and "changed" not in status

    with psycopg.connect(empty_db, autocommit=True) as conn:
        p = make_product(conn)
        run = f.ad_run(conn, p["product"], max_attempts=10)
        planned = [r[0] for r in conn.execute("SELECT genome.plan_ads(%s, 6)", (run,))]
    assert len(planned) == 6

    _run(
        [genome, "agents", "run", "--url", empty_db, "--provider", "offline", *AGENT_OPTIONS],
        work,
        env,
        timeout=60,
    )
    with psycopg.connect(empty_db) as conn:
        statuses = dict(
            conn.execute("SELECT final_status, count(*) FROM generated_ads GROUP BY 1").fetchall()
        )
        assert "pending" not in statuses and sum(statuses.values()) == 6, statuses
        stored = conn.execute(
            "SELECT storage_path FROM generated_ads WHERE storage_path IS NOT NULL"
        ).fetchall()
        # storage_path: the image's file URI under GENOME_STORAGE_DIR
        base = storage.resolve().as_uri() + "/"
        assert len(stored) == 6 and all(
            s.startswith(base) and (storage / s.removeprefix(base)).is_file() for (s,) in stored
        )
        # The offline records say what they are.
        providers = dict(
            conn.execute("SELECT provider, count(*) FROM genome.provider_calls GROUP BY 1")
        )
        assert set(providers) == {"offline"} and providers["offline"] >= 12
        reviewers = conn.execute(
            "SELECT DISTINCT reviewer, model_used LIKE 'offline-%%' FROM genome.ad_reviews"
        ).fetchall()
        assert reviewers == [("offline", True)]
