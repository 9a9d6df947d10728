"""Helpers shared by the tests (and, for factories, by bench/ and sim/). Not test modules:
pytest collects only files named test_*.py, and nothing here is."""

from __future__ import annotations

import os

# The session's template database. Separate names let several test sessions share the
# project cluster at once, and so do the pytest-xdist workers of one session (gw0, gw1, ...):
# every database a test makes is named from this one.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_DB = os.environ.get("GENOME_TEST_DB", "genome_test") + (f"_{_WORKER}" if _WORKER else "")
