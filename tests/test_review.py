"""The three-stage review decisions, embedding checks and human overrides, through SQL."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from tests.support.pipeline import (
    CLEAN_SCAN,
    ad_status,
    call,
    claim,
    drive_to_review,
    make_ads,
    make_product,
    record_review,
    scores,
    unit_vector,
)
from tests.support.plans import capture_plans


def _count(conn: psycopg.Connection, sql: str, *args: object) -> int:
    return conn.execute(sql, args).fetchone()[0]


def _approved_count(conn: psycopg.Connection, ad: uuid.UUID) -> int:
    return conn.execute(
        "SELECT r.approved_count FROM ad_runs r JOIN generated_ads g ON g.ad_run_id = r.id WHERE g.id = %s",
        (ad,),
    ).fetchone()[0]


def _jobs(conn: psycopg.Connection, ad: uuid.UUID) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT kind, status FROM genome.agent_jobs WHERE generated_ad_id = %s ORDER BY created_at, kind",
        (ad,),
    ).fetchall()


def test_critical_defect_rejects_at_once(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    job = claim(db, "generate")
    db.execute(
        "SELECT genome.record_generation(%s, 'w1', '/tmp/x.png', 'p', %s)",
        (job["id"], json.dumps(call("generate", "google"))),
    )
    job = claim(db, "defect_scan")
    scan = {**CLEAN_SCAN, "anatomy_error": True, "notes": "six fingers"}
    got = db.execute(
        "SELECT genome.record_defect_scan(%s, 'w1', %s, %s)",
        (job["id"], json.dumps(scan), json.dumps(call("defect_scan", "google"))),
    ).fetchone()[0]
    assert got == "rejected"
    row = db.execute(
        "SELECT passed, defects_found, anatomy_error, model_used FROM genome.ad_defect_scans WHERE generated_ad_id = %s",
        (ad,),
    ).fetchone()
    assert row == (False, ["ANATOMY_ERROR"], True, "test-model")
    assert ad_status(db, ad) == "rejected"
    assert [k for k, _ in _jobs(db, ad)] == ["generate", "defect_scan"]  # stages 2-3 skipped
    assert db.execute("SELECT genome.decide_review(%s)", (ad,)).fetchone()[0] == "rejected"


@pytest.mark.parametrize(
    ("first", "second", "expected", "kinds"),
    [
        # clean approve
        (scores(8.5), None, "approved", ["generate", "defect_scan", "review", "embed"]),
        # hard reject: V9 below 3.0 although the weighted score passes
        (scores(9.0, V9=2.5), None, "rejected", ["generate", "defect_scan", "review"]),
        # C5 below 3.0
        (scores(9.0, C5=1.0), None, "rejected", ["generate", "defect_scan", "review"]),
        # weighted below the flag threshold, no borderline check
        (scores(4.0), None, "rejected", ["generate", "defect_scan", "review"]),
        # borderline -> second opinion approves (OR logic)
        (scores(8.5, V3=6.0), scores(8.0), "approved",
         ["generate", "defect_scan", "review", "second_opinion", "embed"]),
        # both borderline -> flagged
        (scores(8.5, V3=6.0), scores(8.0, V2=5.5), "flagged",
         ["generate", "defect_scan", "review", "second_opinion"]),
        # borderline, second opinion rejects
        (scores(6.0), scores(3.5), "rejected",
         ["generate", "defect_scan", "review", "second_opinion"]),
    ],
)  # fmt: skip
def test_decision_table(
    db: psycopg.Connection,
    first: dict[str, float],
    second: dict[str, float] | None,
    expected: str,
    kinds: list[str],
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    drive_to_review(db, ad)
    got = record_review(db, "review", first)
    if second is None:
        assert got == expected
    else:
        assert got == "pending"
        assert ad_status(db, ad) == "pending"
        got = record_review(db, "second_opinion", second, provider="google")
        assert got == expected
    assert ad_status(db, ad) == expected
    assert [k for k, _ in _jobs(db, ad)] == kinds
    assert db.execute("SELECT genome.decide_review(%s)", (ad,)).fetchone()[0] == expected
    assert _approved_count(db, ad) == (1 if expected == "approved" else 0)
    history = db.execute(
        "SELECT old_status, new_status FROM genome.ad_status_history WHERE generated_ad_id = %s",
        (ad,),
    ).fetchall()
    assert history == [("pending", expected)]
    reviewers = [
        r[0]
        for r in db.execute(
            "SELECT reviewer FROM genome.ad_reviews WHERE generated_ad_id = %s ORDER BY created_at",
            (ad,),
        )
    ]
    assert reviewers == (["claude"] if second is None else ["claude", "gemini"])


def test_weighted_score_uses_the_config_weights(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    drive_to_review(db, ad)
    record_review(db, "review", scores(8.0, V1=10.0))
    got = db.execute(
        "SELECT weighted_score FROM genome.ad_reviews WHERE generated_ad_id = %s", (ad,)
    ).fetchone()[0]
    total = (
        1.5
        + 1.5
        + 1.0
        + 0.8
        + 0.8
        + 1.0
        + 1.0
        + 0.8
        + 1.2
        + 1.0
        + 0.8
        + 0.8
        + 0.8
        + 1.5
        + 1.0
        + 0.8
    )
    assert float(got) == pytest.approx(round((8.0 * (total - 1.5) + 10.0 * 1.5) / total, 3))


def test_decide_review_is_stable_and_uses_the_config_the_review_was_scored_with(
    db: psycopg.Connection,
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    drive_to_review(db, ad)
    assert record_review(db, "review", scores(7.5)) == "approved"
    # A stricter config activated later does not change the stored decision.
    db.execute(
        "UPDATE genome.quality_scoring_config SET is_active = false WHERE organization_id = %s",
        (p["organization"],),
    )
    db.execute(
        """
        INSERT INTO genome.quality_scoring_config
            (organization_id, version, is_active, check_weights, check_thresholds, weighted_pass_threshold)
        SELECT organization_id, 'strict', true, check_weights, check_thresholds, 9.0
        FROM genome.quality_scoring_config WHERE organization_id = %s AND version = 'default-v1'
        """,
        (p["organization"],),
    )
    answers = {db.execute("SELECT genome.decide_review(%s)", (ad,)).fetchone()[0] for _ in range(3)}
    assert answers == {"approved"}
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.decide_review(%s)", (uuid.uuid4(),))
    assert err.value.sqlstate == "GN006"


def test_review_uses_the_brands_active_config_before_the_organizations(
    db: psycopg.Connection,
) -> None:
    p = make_product(db)
    other = make_product(db, "Other")
    (ad,) = make_ads(db, p["product"], 1, enqueue=False)
    (ad2,) = make_ads(db, other["product"], 1, enqueue=False)
    db.execute(
        """
        INSERT INTO genome.quality_scoring_config
            (organization_id, brand_id, version, is_active, check_weights, check_thresholds,
             weighted_pass_threshold, borderline_low, borderline_high)
        SELECT organization_id, %s, 'brand-lenient', true, check_weights,
               (SELECT jsonb_object_agg(key, 5.0) FROM jsonb_object_keys(check_weights) AS key),
               6.0, 4.0, 5.0
        FROM genome.quality_scoring_config WHERE organization_id = %s AND version = 'default-v1'
        """,
        (p["brand"], p["organization"]),
    )
    for a in (ad, ad2):
        drive_to_review(db, a)
    # 6.5 everywhere: borderline under the default config, approved under the brand's own.
    assert record_review(db, "review", scores(6.5)) == "approved"
    assert record_review(db, "review", scores(6.5)) == "pending"
    versions = dict(
        db.execute(
            "SELECT r.generated_ad_id, c.version FROM genome.ad_reviews r "
            "JOIN genome.quality_scoring_config c ON c.id = r.config_id"
        ).fetchall()
    )
    assert versions == {ad: "brand-lenient", ad2: "default-v1"}


@pytest.mark.parametrize(
    ("review", "fragment"),
    [
        ({"check_scores": {k: v for k, v in scores(8.0).items() if k != "C5"}}, "C5 missing"),
        ({"check_scores": {**scores(8.0), "X1": 9}}, "X1 is not a check"),
        ({"check_scores": scores(8.0, V2=11.0)}, "V2 = 11.0 is not a score"),
        ({"check_scores": {**scores(8.0), "V2": "good"}}, "is not a score"),
        ({"scores": scores(8.0)}, "check_scores object"),
    ],
)
def test_malformed_review_is_an_error_and_writes_nothing(
    db: psycopg.Connection, review: dict, fragment: str
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    drive_to_review(db, ad)
    job = claim(db, "review")
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.record_review(%s, 'w1', %s, %s)",
            (job["id"], json.dumps(review), json.dumps(call("review"))),
        )
    assert err.value.sqlstate == "GN407"
    assert fragment in str(err.value)
    assert _count(db, "SELECT count(*) FROM genome.ad_reviews") == 0
    assert (
        _count(db, "SELECT count(*) FROM genome.provider_calls WHERE agent_job_id = %s", job["id"])
        == 0
    )
    assert (
        db.execute("SELECT status FROM genome.agent_jobs WHERE id = %s", (job["id"],)).fetchone()[0]
        == "running"
    )
    assert ad_status(db, ad) == "pending"


@pytest.mark.parametrize(
    ("scan", "call_record", "sqlstate"),
    [
        (
            {k: v for k, v in CLEAN_SCAN.items() if k != "text_garbled"},
            call("defect_scan"),
            "GN406",
        ),
        ({**CLEAN_SCAN, "physics_violation": "no"}, call("defect_scan"), "GN406"),
        (CLEAN_SCAN, {**call("defect_scan"), "latency_ms": -1}, "GN408"),
        (CLEAN_SCAN, {**call("defect_scan"), "model": ""}, "GN408"),
    ],
)
def test_malformed_scan_or_call_is_an_error_and_writes_nothing(
    db: psycopg.Connection, scan: dict, call_record: dict, sqlstate: str
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    job = claim(db, "generate")
    db.execute(
        "SELECT genome.record_generation(%s, 'w1', '/tmp/x.png', 'p', %s)",
        (job["id"], json.dumps(call("generate"))),
    )
    job = claim(db, "defect_scan")
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.record_defect_scan(%s, 'w1', %s, %s)",
            (job["id"], json.dumps(scan), json.dumps(call_record)),
        )
    assert err.value.sqlstate == sqlstate
    assert _count(db, "SELECT count(*) FROM genome.ad_defect_scans") == 0
    assert _count(db, "SELECT count(*) FROM genome.agent_jobs WHERE kind = 'review'") == 0
    assert ad_status(db, ad) == "pending"


def _approve(db: psycopg.Connection, ad: uuid.UUID) -> None:
    drive_to_review(db, ad)
    assert record_review(db, "review", scores(8.5)) == "approved"


def _embed(db: psycopg.Connection, vec: list[float], model: str = "emb-1") -> str:
    job = claim(db, "embed")
    return db.execute(
        "SELECT genome.record_embedding(%s, 'w1', %s, %s::vector, %s, %s)",
        (
            job["id"],
            json.dumps({"mood": "bold"}),
            str(vec),
            model,
            json.dumps([call("describe", "google"), call("embed", "openai")]),
        ),
    ).fetchone()[0]


def test_embedding_flags_duplicates_and_rejects_too_similar_siblings(
    db: psycopg.Connection,
) -> None:
    p = make_product(db)
    base = unit_vector("base")
    # Runs of one brand: r1 has ads a, b, c; r2 has ad d.
    a, b, c = make_ads(db, p["product"], 3, enqueue=False)
    (d,) = make_ads(db, p["product"], 1, enqueue=False)
    (e,) = make_ads(db, p["product"], 1, enqueue=False)
    for ad in (a, b, c, d, e):
        _approve(db, ad)
    assert _approved_count(db, a) == 3
    # Jobs are claimed later-stage first, oldest first: a, b, c, d, e.
    assert _embed(db, base) == "approved"
    # b: sibling of a at cosine ~0.93 > 0.90 -> rejected for diversity.
    assert _embed(db, unit_vector("b", base, noise=0.012)) == "rejected"
    # c: far from everything -> stays approved.
    assert _embed(db, unit_vector("c")) == "approved"
    # d: another run, cosine ~0.99 to approved a -> flagged duplicate.
    assert _embed(db, unit_vector("d", base, noise=0.004)) == "flagged"
    # e: same vector as a but another embedding model -> not compared.
    assert _embed(db, base, model="emb-2") == "approved"
    reasons = dict(db.execute("SELECT id, decision_reason FROM generated_ads").fetchall())
    assert f"sibling {a}" in reasons[b] and reasons[b].startswith("review:")
    assert f"approved ad {a}" in reasons[d]
    assert _approved_count(db, a) == 2  # a, c stay; b left approved
    assert _approved_count(db, d) == 0
    assert (
        _count(
            db,
            "SELECT count(*) FROM genome.provider_calls WHERE operation IN ('describe', 'embed')",
        )
        == 10
    )


def test_similarity_queries_use_the_hnsw_index(db: psycopg.Connection) -> None:
    """auto_explain shows the plans of the statements inside record_embedding. On a table
    of a few rows the planner rightly sorts them instead, so sequential scans and sorts are
    priced out: the ordered output can then only come from the HNSW index, which shows the
    queries have the shape (ORDER BY <=> LIMIT) that lets it serve them."""
    p = make_product(db)
    a, b = make_ads(db, p["product"], 2, enqueue=False)
    _approve(db, a)
    _approve(db, b)
    _embed(db, unit_vector("a"))
    plans = capture_plans(db)
    db.execute("SET enable_seqscan = off")
    db.execute("SET enable_sort = off")
    _embed(db, unit_vector("b"))
    nearest = [pl for pl in plans if "<=>" in pl and "Limit" in pl]
    assert len(nearest) == 2, plans
    assert all("generated_ads_embedding_idx" in pl for pl in nearest), nearest


def test_duplicate_check_walks_the_index_and_scans_exactly_when_the_walk_finds_none(
    db: psycopg.Connection,
) -> None:
    """docs/quality.md#visual-space: the duplicate check's nearest approved ad comes from
    the HNSW index with the planner's own settings (on a few rows it would sort instead); when
    the bounded walk meets only other brands' ads, the brand's ads are scanned exactly, so a
    duplicate among many nearer ads of other brands is still flagged."""
    base = unit_vector("base")
    a = make_product(db, "Acme")
    other = make_product(db, "Other")
    (x,) = make_ads(db, a["product"], 1, enqueue=False)
    (y,) = make_ads(db, a["product"], 1, enqueue=False)
    y_vec = unit_vector("y", base, noise=0.004)
    # 200 approved ads of another brand, nearer y than x is: they fill the walk's first
    # candidates (ef_search, 40) and the next.
    crowd = make_ads(db, other["product"], 200, enqueue=False)
    for i, ad in enumerate(crowd):
        db.execute(
            "UPDATE generated_ads SET final_status = 'approved', visual_embedding = %s::vector, "
            "visual_embedding_model = 'emb-1' WHERE id = %s",
            (str(unit_vector(f"crowd{i}", y_vec, noise=0.001)), ad),
        )
    for ad in (x, y):
        _approve(db, ad)
    assert _embed(db, base) == "approved"

    plans = capture_plans(db)
    brand = a["brand"]
    nearest = db.execute(
        "SELECT id FROM genome._nearest_approved_by_index(%s, %s, %s::vector, 'emb-1')",
        (y, brand, str(y_vec)),
    ).fetchall()
    assert nearest == [(x,)]
    assert any("generated_ads_embedding_idx" in pl and "<=>" in pl for pl in plans), plans
    assert not any("Sort" in pl and "<=>" in pl for pl in plans), plans

    # A walk of one tuple past its first candidates meets only the other brand's ads.
    db.execute("UPDATE genome.settings SET value = '1' WHERE key = 'duplicate_index_max_tuples'")
    assert (
        db.execute(
            "SELECT count(*) FROM genome._nearest_approved_by_index(%s, %s, %s::vector, 'emb-1')",
            (y, brand, str(y_vec)),
        ).fetchone()[0]
        == 0
    )
    assert _embed(db, y_vec) == "flagged"
    reason = db.execute("SELECT decision_reason FROM generated_ads WHERE id = %s", (y,)).fetchone()[
        0
    ]
    assert f"approved ad {x}" in reason
    # The function's own setting ended with it.
    assert db.execute("SHOW hnsw.max_scan_tuples").fetchone()[0] == "20000"


@pytest.mark.parametrize(
    ("first", "human", "ai_status", "override_type", "final"),
    [
        (scores(8.5), "approved", "approved", "confirm_approve", "approved"),
        (scores(8.5), "rejected", "approved", "override_reject", "rejected"),
        (scores(4.0), "approved", "rejected", "override_approve", "approved"),
        (scores(4.0), "rejected", "rejected", "confirm_reject", "rejected"),
    ],
)
def test_record_override(
    db: psycopg.Connection, first: dict, human: str, ai_status: str, override_type: str, final: str
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    drive_to_review(db, ad)
    record_review(db, "review", first)
    oid = db.execute(
        "SELECT genome.record_override(%s, %s, 'looks off', '{\"V3\": 4}', 'ann')", (ad, human)
    ).fetchone()[0]
    row = db.execute(
        "SELECT ai_status, override_type, ai_check_scores, config_id IS NOT NULL, check_overrides, overridden_by,"
        " organization_id FROM genome.ad_review_overrides WHERE id = %s",
        (oid,),
    ).fetchone()
    assert row == (ai_status, override_type, first, True, {"V3": 4}, "ann", p["organization"])
    status, human_status = db.execute(
        "SELECT final_status, human_override_status FROM generated_ads WHERE id = %s", (ad,)
    ).fetchone()
    assert (status, human_status) == (final, human)
    assert _approved_count(db, ad) == (1 if final == "approved" else 0)
    embed_jobs = _count(
        db,
        "SELECT count(*) FROM genome.agent_jobs WHERE generated_ad_id = %s AND kind = 'embed'",
        ad,
    )
    assert embed_jobs == (1 if "approved" in (human, ai_status) else 0)


def test_override_history_is_kept_and_keeps_the_ai_status(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    drive_to_review(db, ad)
    record_review(db, "review", scores(4.0))
    db.execute("SELECT genome.record_override(%s, 'approved', 'fine', '{}', 'ann')", (ad,))
    db.execute("SELECT genome.record_override(%s, 'rejected', 'on reflection', NULL, 'bob')", (ad,))
    rows = db.execute(
        "SELECT ai_status, human_status, override_type FROM genome.ad_review_overrides "
        "WHERE generated_ad_id = %s ORDER BY created_at, id",
        (ad,),
    ).fetchall()
    assert rows == [
        ("rejected", "approved", "override_approve"),
        ("rejected", "rejected", "confirm_reject"),
    ]
    assert ad_status(db, ad) == "rejected"
    assert _approved_count(db, ad) == 0
    history = [
        r[0]
        for r in db.execute(
            "SELECT new_status FROM genome.ad_status_history WHERE generated_ad_id = %s ORDER BY id",
            (ad,),
        )
    ]
    assert history == ["rejected", "approved", "rejected"]


@pytest.mark.parametrize(
    ("status", "checks", "sqlstate", "pending"),
    [
        ("maybe", "{}", "GN410", False),
        ("approved", '{"ZZ": 3}', "GN410", False),
        ("approved", '{"V1": 12}', "GN410", False),
        ("approved", "[]", "GN410", False),
        ("approved", "{}", "GN411", True),
    ],
)
def test_record_override_rejects_bad_input(
    db: psycopg.Connection, status: str, checks: str, sqlstate: str, pending: bool
) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    if not pending:
        db.execute("UPDATE generated_ads SET final_status = 'rejected' WHERE id = %s", (ad,))
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.record_override(%s, %s, 'r', %s::jsonb, 'ann')", (ad, status, checks)
        )
    assert err.value.sqlstate == sqlstate
    assert _count(db, "SELECT count(*) FROM genome.ad_review_overrides") == 0
    with pytest.raises(psycopg.Error) as err:
        db.execute(
            "SELECT genome.record_override(%s, 'approved', 'r', '{}', 'ann')", (uuid.uuid4(),)
        )
    assert err.value.sqlstate == "GN006"


def test_job_context_carries_the_rubric_of_the_active_config(db: psycopg.Connection) -> None:
    p = make_product(db)
    (ad,) = make_ads(db, p["product"], 1)
    job = db.execute(
        "SELECT id FROM genome.agent_jobs WHERE generated_ad_id = %s", (ad,)
    ).fetchone()[0]
    # Only the worker holding the job's lease reads its context.
    for worker in ("w1", None):
        with pytest.raises(psycopg.Error) as err:
            db.execute("SELECT genome.job_context(%s, %s)", (job, worker))
        assert err.value.sqlstate == "GN404"
    assert claim(db, "generate", "w1")["id"] == job
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.job_context(%s, 'w2')", (job,))
    assert err.value.sqlstate == "GN404"
    ctx = db.execute("SELECT genome.job_context(%s, 'w1')", (job,)).fetchone()[0]
    assert ctx["ad"]["id"] == str(ad)
    assert ctx["brand"]["name"] == "Acme" and ctx["product"]["current_offer"] == "20% off"
    assert ctx["config"]["version"] == "default-v1"
    assert {c["code"]: c["weight"] for c in ctx["rubric"]}["V1"] == 1.5
    assert len(ctx["rubric"]) == 16
