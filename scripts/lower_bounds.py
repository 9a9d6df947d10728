"""Pins for the lower-bound test run (`make test-lower-bounds`), read from pyproject.toml.

Prints one requirement a line: every runtime dependency pinned to its declared lower bound
(`name[extras]==X` for `>=X`), then the dev requirements named on the command line as
declared (the test tools, e.g. pytest, are not under test). Transitive dependencies are left
to pip (a lowest-direct resolution). A runtime dependency without a `>=` bound is an error:
its lower bound could not be tested.

    python scripts/lower_bounds.py pytest pytest-postgresql respx setuptools
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def lower_bound_pins(project: dict) -> list[str]:
    pins = []
    for line in project["dependencies"]:
        req = Requirement(line)
        bounds = [spec.version for spec in req.specifier if spec.operator == ">="]
        if len(bounds) != 1:
            raise SystemExit(f"lower_bounds: {line!r} has no single '>=' lower bound")
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        pins.append(f"{req.name}{extras}=={bounds[0]}")
    return pins


def dev_requirements(project: dict, names: list[str]) -> list[str]:
    dev = {
        canonicalize_name(Requirement(line).name): line
        for line in project["optional-dependencies"]["dev"]
    }
    missing = [name for name in names if canonicalize_name(name) not in dev]
    if missing:
        raise SystemExit(f"lower_bounds: not in the dev extra: {', '.join(missing)}")
    return [dev[canonicalize_name(name)] for name in names]


def main(argv: list[str]) -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    print("\n".join(lower_bound_pins(project) + dev_requirements(project, argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
