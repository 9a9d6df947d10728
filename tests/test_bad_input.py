"""The bad-input catalogue: each bad call to the SQL API, the model-output parsers, the
migration and the CLI raises its own clear error (SQLSTATE or exit code, and message) and
leaves every table unchanged (row count and checksum of every table before and after)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agents import migrate as migrate_module
from agents.migrate import MigrationError
from agents.providers.base import DefectScan, MalformedOutput
from agents.providers.common import parse_json
from sim import factories as f
from tests.support.pipeline import (
    CLEAN_SCAN,
    call,
    claim,
    drive_to_review,
    make_ads,
    scores,
)
from tests.support.security import session, table_checksums

ROOT = Path(__file__).resolve().parents[1]
NOW = "2025-03-10 12:00+00"


@dataclass
class Case:
    name: str
    sql: str
    sqlstate: str
    message: str
    role: str = "postgres"


def _world(db: psycopg.Connection) -> dict[str, Any]:
    """Two organizations; a run at its attempts cap and one with room; four pending ads
    whose jobs are leased by worker w1 at review, embed, defect_scan and generate."""
    org_a = f.org(db, "A")
    brand_a = f.brand(db, org_a, category="skincare", sharing=True)
    product_a = f.product(db, brand_a)
    brand_b = f.brand(db, f.org(db, "B"))
    product_b = f.product(db, brand_b)
    full = db.execute(
        "INSERT INTO ad_runs (product_id, max_attempts, attempts_count) VALUES (%s, 2, 2) "
        "RETURNING id",
        (product_a,),
    ).fetchone()[0]
    room = f.ad_run(db, product_a)
    ads = make_ads(db, product_a, 4, enqueue=False)
    drive_to_review(db, ads[0])
    review = claim(db, "review")
    drive_to_review(db, ads[2])
    rv = claim(db, "review")
    db.execute(
        "SELECT genome.record_review(%s, 'w1', %s, %s)",
        (rv["id"], json.dumps({"check_scores": scores(8.5)}), json.dumps(call("review"))),
    )
    embed = claim(db, "embed")
    db.execute("SELECT genome.enqueue_job('generate', %s)", (ads[1],))
    gen = claim(db, "generate")
    db.execute(
        "SELECT genome.record_generation(%s, 'w1', '/tmp/a.png', 'p', %s)",
        (gen["id"], json.dumps(call("generate", "google"))),
    )
    scan = claim(db, "defect_scan")
    db.execute("SELECT genome.enqueue_job('generate', %s)", (ads[3],))
    generate = claim(db, "generate")
    return {
        "brand_a": brand_a, "product_a": product_a, "brand_b": brand_b, "product_b": product_b,
        "run": full, "room": room, "ad": ads[0], "review_job": review["id"],
        "scan_job": scan["id"], "generate_job": generate["id"], "embed_job": embed["id"],
        "org_a": org_a,
    }  # fmt: skip


def _cases(w: dict[str, Any]) -> list[Case]:
    u = uuid.uuid4()
    c = json.dumps(call("review")).replace("'", "''")
    perf = (
        "INSERT INTO meta_ads_performance (meta_ad_account_id, meta_ad_id, meta_campaign_id, "
        "date, impressions, link_clicks, spend, roas, brand_id) VALUES ('acct', 'm1', 'c1', "
        f"'2025-03-01', %s, %s, %s, %s, '{w['brand_a']}')"
    )
    exp = (
        f"SELECT genome.propose_experiment('{w['brand_a']}', '{w['product_a']}', %s, %s, %s, "
        f"'h', %s, 14, 'link_ctr', 0.2, '{NOW}', true)"
    )
    return [
        Case("select_elements NULL brand", "SELECT genome.select_elements(NULL, NULL)", "GN005", "must not be NULL"),
        Case("select_elements unknown brand", f"SELECT genome.select_elements('{u}', NULL)", "GN001", "unknown brand"),
        Case("select_elements unknown product", f"SELECT genome.select_elements('{w['brand_a']}', '{u}')", "GN002", "unknown product"),
        Case("select_elements product of another brand", f"SELECT genome.select_elements('{w['brand_a']}', '{w['product_b']}')", "GN003", "belongs to brand"),
        Case("select_elements brand of another organization (app)", f"SELECT genome.select_elements('{w['brand_b']}', NULL)", "GN001", "unknown brand", "genome_app"),
        Case("select_elements fixed value outside registry", f"SELECT genome.select_elements('{w['brand_a']}', NULL, '{NOW}', 1, '{{\"hook_type\": \"free_pizza\"}}')", "GN101", "free_pizza"),
        Case("plan_ads NULL run", "SELECT genome.plan_ads(NULL, 1)", "GN005", "must not be NULL"),
        Case("plan_ads unknown run", f"SELECT genome.plan_ads('{u}', 1)", "GN010", "unknown ad_run"),
        Case("plan_ads n = 0", f"SELECT genome.plan_ads('{w['run']}', 0)", "GN011", "between 1 and 100"),
        Case("plan_ads beyond the attempts cap", f"SELECT genome.plan_ads('{w['run']}', 1, '{NOW}')", "GN012", "generation attempts"),
        Case("plan_ads infinite p_now", f"SELECT genome.plan_ads('{w['run']}', 1, 'infinity')", "GN004", "finite"),
        Case("plan_ads unknown canvas", f"SELECT genome.plan_ads('{w['room']}', 1, '{NOW}', 1, '{{}}', '7x7px')", "GN101", "canvas_size"),
        Case("normalize_tags value outside registry", "SELECT genome.normalize_tags('{\"hook_type\": \"free_pizza\"}')", "GN101", "free_pizza"),
        Case("normalize_tags unknown dimension", "SELECT genome.normalize_tags('{\"moon_phase\": \"full\"}')", "GN100", "moon_phase"),
        Case("clicks > impressions", perf % (100, 101, 10, 1), "23514", "meta_ads_performance_clicks_check"),
        Case("negative spend", perf % (100, 1, -5, 1), "23514", "meta_ads_performance_spend_check"),
        Case("NaN spend", perf % (100, 1, "'NaN'", 1), "23514", "meta_ads_performance_spend_check"),
        Case("Infinity spend", perf % (100, 1, "'Infinity'", 1), "22003", "numeric field overflow"),
        Case("NaN roas", perf % (100, 1, 10, "'NaN'"), "23514", "meta_ads_performance_rates_check"),
        Case("collect_rewards infinite p_now", "SELECT genome.collect_rewards('infinity')", "GN004", "finite"),
        Case("update_scores NULL p_now", "SELECT genome.update_scores(NULL)", "GN004", "finite"),
        Case("experiment with two test variables (text)", exp % ("'hook_type,color_mode'", "'urgency'", "ARRAY['question']", 50), "GN601", "not an element dimension"),
        Case("experiment with two test variables (array)", exp % ("ARRAY['hook_type', 'color_mode']", "'urgency'", "ARRAY['question']", 50), "42883", "does not exist"),
        Case("experiment control outside registry", exp % ("'hook_type'", "'free_pizza'", "ARRAY['question']", 50), "GN602", "unknown control value"),
        Case("experiment negative budget", exp % ("'hook_type'", "'urgency'", "ARRAY['question']", -1), "GN605", "budget_per_arm_daily"),
        Case("experiment NaN budget", exp % ("'hook_type'", "'urgency'", "ARRAY['question']", "'NaN'"), "GN605", "budget_per_arm_daily"),
        Case("calibration without overrides", f"SELECT genome.calibrate_quality('{w['brand_a']}', '{NOW}')", "GN720", "override"),
        Case("calibration NULL brand", f"SELECT genome.calibrate_quality(NULL, '{NOW}')", "GN005", "brand_id must not be NULL"),
        Case("run_job unknown job", "SELECT genome.run_job('mine_bitcoin')", "GN020", "unknown job"),
        Case("empty review output", f"SELECT genome.record_review('{w['review_job']}', 'w1', '{{}}', '{c}')", "GN407", "check_scores"),
        Case("review output not an object", f"SELECT genome.record_review('{w['review_job']}', 'w1', '\"looks fine\"', '{c}')", "GN407", "check_scores"),
        Case("review score out of range", f"SELECT genome.record_review('{w['review_job']}', 'w1', '{json.dumps({'check_scores': scores(8, V1=11)})}', '{c}')", "GN407", "malformed review"),
        Case("review with a malformed call record", f"SELECT genome.record_review('{w['review_job']}', 'w1', '{json.dumps({'check_scores': scores(8)})}', '{{\"provider\": \"anthropic\", \"operation\": \"review\"}}')", "GN408", "call.model is missing"),
        Case("review oversized output", f"SELECT genome.record_review('{w['review_job']}', 'w1', jsonb_build_object('check_scores', '{{}}'::jsonb, 'notes', repeat('x', 1048577)), '{c}')", "GN413", "too large"),
        Case("review by a worker without the lease", f"SELECT genome.record_review('{w['review_job']}', 'w2', '{json.dumps({'check_scores': scores(8)})}', '{c}')", "GN404", "not leased by"),
        Case("defect scan not booleans", f"SELECT genome.record_defect_scan('{w['scan_job']}', 'w1', '{json.dumps({**CLEAN_SCAN, 'text_garbled': 'no'})}', '{c}')", "GN406", "boolean"),
        Case("defect scan empty", f"SELECT genome.record_defect_scan('{w['scan_job']}', 'w1', 'null', '{c}')", "GN406", "JSON object"),
        Case("embedding of the wrong size", f"SELECT genome.record_embedding('{w['embed_job']}', 'w1', '{{\"mood\": \"calm\"}}', '[1,2,3]'::vector, 'm', '{c}')", "GN409", "1536 dimensions"),
        Case("embedding with zero norm", f"SELECT genome.record_embedding('{w['embed_job']}', 'w1', '{{\"mood\": \"calm\"}}', array_fill(0, ARRAY[1536])::vector, 'm', '{c}')", "GN409", "no direction"),
        Case("generation oversized prompt", f"SELECT genome.record_generation('{w['generate_job']}', 'w1', '/tmp/x.png', repeat('x', 1048577), '{c}')", "GN413", "prompt text is too large"),
        Case("enqueue oversized payload", f"SELECT genome.enqueue_job('generate', '{w['ad']}', jsonb_build_object('blob', repeat('x', 1048577)))", "GN413", "job payload is too large"),
        Case("enqueue unknown kind", f"SELECT genome.enqueue_job('mine_bitcoin', '{w['ad']}')", "GN401", "unknown job kind"),
        Case("enqueue unknown ad", f"SELECT genome.enqueue_job('generate', '{u}')", "GN006", "unknown generated ad"),
        Case("claim unknown kind", "SELECT * FROM genome.claim_jobs(ARRAY['mine_bitcoin'], 'w', '1 minute', 1)", "GN401", "unknown job kind"),
        Case("claim negative lease", "SELECT * FROM genome.claim_jobs(ARRAY['review'], 'w', '-1 minute', 1)", "GN400", "positive interval"),
        Case("fail_job without error text", f"SELECT genome.fail_job('{w['review_job']}', 'w1', '  ')", "GN400", "error text"),
        Case("complete_job result not an object", f"SELECT genome.complete_job('{w['review_job']}', 'w1', '[1]')", "GN400", "JSON object"),
        Case("override unknown ad", f"SELECT genome.record_override('{u}', 'approved', 'r', '{{}}', 'me')", "GN006", "unknown generated ad"),
        Case("override unknown status", f"SELECT genome.record_override('{w['ad']}', 'maybe', 'r', '{{}}', 'me')", "GN410", "approved or rejected"),
        Case("app.organization_id not a uuid", "SELECT count(*) FROM brands", "GN950", "app.organization_id", "genome_app_bad"),
    ]  # fmt: skip


def test_sql_bad_input_catalogue(db: psycopg.Connection, db_dsn: str) -> None:
    w = _world(db)
    cases = _cases(w)
    assert len(cases) >= 30
    before = table_checksums(db)
    failures: list[str] = []
    for case in cases:
        if case.role == "postgres":
            conn_ctx = session(db_dsn, db.info.user)
        elif case.role == "genome_app_bad":
            conn_ctx = session(db_dsn, "genome_app", "org-a")
        else:
            conn_ctx = session(db_dsn, case.role, w["org_a"])
        with conn_ctx as conn:
            try:
                conn.execute(case.sql)
            except psycopg.Error as exc:
                text = exc.diag.message_primary or ""
                if exc.sqlstate != case.sqlstate or case.message not in text:
                    failures.append(f"{case.name}: got [{exc.sqlstate}] {text}")
            else:
                failures.append(f"{case.name}: accepted")
        after = table_checksums(db)
        changed = [t for t in before if before[t] != after.get(t)]
        if changed:
            failures.append(f"{case.name}: changed {changed}")
            before = after
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty output"),
        ("   \n", "empty output"),
        (b'{"text_garbled": \xff\xfe}'.decode("utf-8", errors="replace"), "not valid UTF-8"),
        ('{"text_garbled": false', "defect scan"),
        ('{"text_garbled": "no"}', "defect scan"),
        ("[]", "defect scan"),
    ],
)
def test_model_output_parsing(raw: str, message: str) -> None:
    with pytest.raises(MalformedOutput, match=message):
        parse_json(raw, DefectScan, "defect scan")


def test_migration_without_extensions(empty_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated by naming an extension the server does not have (pgvector is installed
    system-wide): a clear MigrationError, and the database is left as it was."""
    monkeypatch.setattr(migrate_module, "REQUIRED_EXTENSIONS", ("vector", "no_such_extension"))
    with pytest.raises(MigrationError, match=r"lacks the extension.*no_such_extension"):
        migrate_module.migrate(empty_db, ROOT, jobs=False)
    with psycopg.connect(empty_db) as conn:
        assert (
            conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'genome'").fetchone()[0]
            == 0
        )
        assert (
            conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            == 0
        )


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


CLI_CASES: list[tuple[list[str], int, str]] = [
    (["agents", "run", "--kinds", "mine_bitcoin", "--idle-exit", "1"], 2, "invalid choice"),
    (["agents", "run", "--provider", "psychic", "--idle-exit", "1"], 2, "invalid choice"),
    (["agents", "run", "--concurrency", "0", "--idle-exit", "1"], 2, "concurrency"),
    (["frobnicate"], 2, "invalid choice"),
    (["db", "explode"], 2, "invalid choice"),
    (
        ["migrate", "--url", "postgresql://nobody@/nowhere?host=/nonexistent&port=1"],
        1,
        "cannot connect",
    ),
]


@pytest.mark.parametrize(("args", "code", "message"), CLI_CASES)
def test_cli_bad_input(
    args: list[str], code: int, message: str, db: psycopg.Connection, db_dsn: str
) -> None:
    before = table_checksums(db)
    full = [*args, "--url", db_dsn] if args[0] == "agents" else args
    out = _cli(*full)
    assert out.returncode == code, out.stderr[-2000:]
    assert message in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert table_checksums(db) == before
