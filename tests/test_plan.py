"""genome.plan_ads, pre_gen_score and performance_context."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest

from sim import factories as f

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def _counts(db: psycopg.Connection) -> tuple[int, int, int]:
    return db.execute(
        "SELECT (SELECT count(*) FROM generated_ads), (SELECT count(*) FROM genome.agent_jobs), "
        "(SELECT coalesce(sum(attempts_count), 0) FROM ad_runs)"
    ).fetchone()


def test_plan_ads_writes_ads_and_generate_jobs(db: psycopg.Connection) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    run = f.ad_run(db, p, max_attempts=10)
    ids = [r[0] for r in db.execute("SELECT genome.plan_ads(%s, 4, %s, 11)", (run, NOW))]
    assert len(ids) == 4
    rows = db.execute(
        "SELECT prompt_index, canvas_size, element_tags, element_propensities, bandit_selected, "
        "pre_gen_score, genome_version, prompt_version, element_tags_source, final_status "
        "FROM generated_ads WHERE id = ANY(%s) ORDER BY prompt_index",
        (ids,),
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert r[1] == "1080x1080px" and r[2]["canvas_size"] == "1080x1080px"
        assert set(r[3]["propensities"]) == {
            "hook_type",
            "belief_angle",
            "template_category",
            "visual_style",
            "color_mode",
        }
        assert r[4] is True and r[5] is not None and r[6] == 0
        assert (r[7], r[8], r[9]) == ("v2.0", "plan", "pending")
    jobs = db.execute(
        "SELECT kind, generated_ad_id, status FROM genome.agent_jobs ORDER BY created_at"
    ).fetchall()
    assert sorted(j[1] for j in jobs) == sorted(ids)
    assert {(j[0], j[2]) for j in jobs} == {("generate", "queued")}
    run_row = db.execute(
        "SELECT attempts_count, generation_config FROM ad_runs WHERE id = %s", (run,)
    ).fetchone()
    assert run_row[0] == 4
    assert set(run_row[1]) >= {
        "prompt_template_version",
        "pipeline_version",
        "review_rubric_version",
        "genome_scores_version",
    }
    assert run_row[1]["review_rubric_version"] == "default-v1"


def test_attempts_cap_refuses_and_writes_nothing(db: psycopg.Connection) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)), max_attempts=5)
    db.execute("SELECT genome.plan_ads(%s, 4, %s)", (run, NOW))
    before = _counts(db)
    with pytest.raises(psycopg.Error) as err:
        db.execute("SELECT genome.plan_ads(%s, 2, %s)", (run, NOW))
    assert err.value.sqlstate == "GN012"
    assert "used 4 of its 5" in err.value.diag.message_primary
    assert _counts(db) == before
    db.execute("SELECT genome.plan_ads(%s, 1, %s)", (run, NOW))


def test_concurrent_planning_respects_the_cap_exactly(db: psycopg.Connection, db_dsn: str) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)), max_attempts=50)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def plan() -> None:
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            barrier.wait()
            try:
                conn.execute("SELECT genome.plan_ads(%s, 15, %s)", (run, NOW)).fetchall()
                outcomes.append("ok")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate or "?")

    threads = [threading.Thread(target=plan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["GN012", "ok", "ok", "ok"]
    assert (
        db.execute("SELECT attempts_count FROM ad_runs WHERE id = %s", (run,)).fetchone()[0] == 45
    )
    assert (
        db.execute("SELECT count(*) FROM generated_ads WHERE ad_run_id = %s", (run,)).fetchone()[0]
        == 45
    )


def test_fixed_dimension_and_canvas(db: psycopg.Connection) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)))
    ids = [
        r[0]
        for r in db.execute(
            "SELECT genome.plan_ads(%s, 3, %s, 1, '{\"belief_angle\": \"identity\"}', '1080x1920')",
            (run, NOW),
        )
    ]
    tags = [
        r[0]
        for r in db.execute("SELECT element_tags FROM generated_ads WHERE id = ANY(%s)", (ids,))
    ]
    assert all(t["belief_angle"] == "identity" and t["canvas_size"] == "1080x1920px" for t in tags)


@pytest.mark.parametrize(
    ("args", "state"),
    [
        ("gen_random_uuid(), 1", "GN010"),
        ("NULL, 1", "GN005"),
        ("%(run)s, 0", "GN011"),
        ("%(run)s, 101", "GN011"),
        ("%(run)s, 1, NULL", "GN004"),
        ('%(run)s, 1, now(), NULL, \'{"hook_type": "nonsense"}\'', "GN101"),
        ("%(run)s, 1, now(), NULL, '{}', '640x480'", "GN101"),
    ],
)
def test_plan_bad_input(db: psycopg.Connection, args: str, state: str) -> None:
    run = f.ad_run(db, f.product(db, f.brand(db)))
    before = _counts(db)
    with pytest.raises(psycopg.Error) as err:
        db.execute(f"SELECT genome.plan_ads({args})", {"run": run})
    assert err.value.sqlstate == state
    assert _counts(db) == before


def test_performance_context_names_best_and_worst_with_evidence(db: psycopg.Connection) -> None:
    # Asserts the one-bit learner's numbers (docs/learning.md#element-scores).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    b = f.brand(db)
    run = f.ad_run(db, f.product(db, b))
    items = [({"hook_type": "authority"}, 0.9)] * 8 + [({"hook_type": "story"}, 0.1)] * 6
    f.bulk_rewards(db, run, items, NOW - dt.timedelta(days=20))
    empty = db.execute("SELECT genome.performance_context(%s)", (b,)).fetchone()[0]
    assert "no matured evidence yet" in empty
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    text = db.execute("SELECT genome.performance_context(%s)", (b,)).fetchone()[0]
    assert "correlational" in text
    line = next(x for x in text.splitlines() if x.startswith("- hook_type"))
    assert "best authority" in line and "n=8" in line
    assert "weakest story" in line and "n=6" in line
    assert "STALE" not in text
    db.execute("UPDATE genome.genome_state SET is_stale = true WHERE brand_id = %s", (b,))
    assert "STALE" in db.execute("SELECT genome.performance_context(%s)", (b,)).fetchone()[0]


def test_generation_experiment_arm_config_is_applied(db: psycopg.Connection) -> None:
    b = f.brand(db)
    p = f.product(db, b)
    db.execute(
        "SELECT genome.start_generation_experiment(%s, 'prompt v2.1', 'prompt_version', "
        '\'{"prompt_template_version": "v2.0"}\', \'{"prompt_template_version": "v2.1"}\')',
        (b,),
    )
    versions = []
    for _ in range(4):
        run = f.ad_run(db, p)
        ad_id = db.execute("SELECT genome.plan_ads(%s, 1, %s)", (run, NOW)).fetchone()[0]
        versions.append(
            db.execute(
                "SELECT g.prompt_version, r.experiment_group, r.generation_config->'generation_experiment'->>'group' "
                "FROM generated_ads g JOIN ad_runs r ON r.id = g.ad_run_id WHERE g.id = %s",
                (ad_id,),
            ).fetchone()
        )
    assert versions == [
        ("v2.0", "control", "control"),
        ("v2.1", "variant", "variant"),
        ("v2.0", "control", "control"),
        ("v2.1", "variant", "variant"),
    ]


def assert_scored_as_pre_gen_score(db: psycopg.Connection, brand, product, ids) -> None:
    """plan_ads scores each ad from its draw table (docs/learning.md#pre-generation-score):
    the score must be genome.pre_gen_score of the ad's tags, read from the scores."""
    rows = db.execute(
        "SELECT g.pre_gen_score, genome.pre_gen_score(%s, %s, g.element_tags) "
        "FROM generated_ads AS g WHERE g.id = ANY(%s)",
        (brand, product, ids),
    ).fetchall()
    assert len(rows) == len(ids) and all(r[0] is not None for r in rows)
    assert [r[0] for r in rows] == [r[1] for r in rows]


def test_a_plan_draws_what_select_elements_draws_ad_by_ad(db: psycopg.Connection) -> None:
    """plan_ads draws its n ads in one statement; each must be exactly the selection
    select_elements returns for seed + i (tags, propensities, flags, rates), from a stored
    draw table with scores (exploring and exploiting draws both occur), with and without a
    forced dimension."""
    b = f.brand(db)
    p = f.product(db, b)
    run = f.ad_run(db, p, max_attempts=40)
    items = [
        ({"hook_type": h}, 0.8 if h == "authority" else 0.2) for h in ["authority", "urgency"] * 20
    ]
    f.bulk_rewards(db, run, items, NOW - dt.timedelta(days=30))
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    assert db.execute("SELECT count(*) FROM genome.selection_tables").fetchone()[0] > 0
    flags = set()
    for seed, fixed in ((7, "{}"), (100, '{"belief_angle": "identity"}')):
        expected = [
            r[0]
            for r in db.execute(
                "SELECT genome.select_elements(%s, %s, %s, s, %s) "
                "FROM generate_series(%s::bigint, %s::bigint) AS s",
                (b, p, NOW, fixed, seed, seed + 19),
            )
        ]
        ids = [
            r[0]
            for r in db.execute(
                "SELECT genome.plan_ads(%s, 20, %s, %s, %s)", (run, NOW, seed, fixed)
            )
        ]
        rows = db.execute(
            "SELECT element_tags, element_propensities FROM generated_ads WHERE id = ANY(%s) "
            "ORDER BY prompt_index",
            (ids,),
        ).fetchall()
        assert len(rows) == 20
        for want, (tags, logged) in zip(expected, rows, strict=True):
            drawn = {k: v for k, v in tags.items() if k in want["element_tags"]}
            assert drawn == want["element_tags"]
            assert logged == {k: v for k, v in want.items() if k != "element_tags"}
            flags |= set(want["exploratory"].values())
        assert_scored_as_pre_gen_score(db, b, p, ids)
    assert flags == {True, False}


def test_planned_ads_score_as_pre_gen_score_reads_the_scores(db: psycopg.Connection) -> None:
    """The score plan_ads writes is pre_gen_score's: before any score (0.5), from the stored
    draw table, from the table computed when a change made it stale, with the product's own
    scores over the brand's, and under strategic weights that differ by dimension."""
    # The one-bit learner's scores are success rates of the rewards, which vary in the first
    # four decimals the score keeps (the joint learner's are click rates).
    db.execute("UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'")
    b = f.brand(db)
    p = f.product(db, b)
    run = f.ad_run(db, p, max_attempts=100)

    def plan(n: int = 10, fixed: str = "{}") -> list:
        return [
            r[0]
            for r in db.execute("SELECT genome.plan_ads(%s, %s, %s, 3, %s)", (run, n, NOW, fixed))
        ]

    ids = plan()
    assert {
        r[0]
        for r in db.execute("SELECT pre_gen_score FROM generated_ads WHERE id = ANY(%s)", (ids,))
    } == {0.5}
    assert_scored_as_pre_gen_score(db, b, p, ids)
    db.execute(
        "UPDATE genome.element_dimensions SET strategic_weight = 0.9 WHERE dimension = 'hook_type'"
    )
    db.execute(
        "UPDATE genome.element_dimensions SET strategic_weight = 0.1 WHERE dimension = 'color_mode'"
    )
    items = [
        ({"hook_type": h, "color_mode": c}, 0.9 if h == "authority" else 0.1)
        for h in ["authority", "urgency", "scarcity"]
        for c in ["original", "brand"]
    ] * 6
    f.bulk_rewards(db, run, items, NOW - dt.timedelta(days=30))
    db.execute("SELECT genome.update_scores(%s)", (NOW,))
    stored = db.execute(
        "SELECT count(*) FROM genome.selection_tables WHERE brand_id = %s", (b,)
    ).fetchone()[0]
    assert stored > 0
    ids = plan() + plan(fixed='{"hook_type": "authority"}')
    assert_scored_as_pre_gen_score(db, b, p, ids)
    assert (
        len(
            {
                r[0]
                for r in db.execute(
                    "SELECT pre_gen_score FROM generated_ads WHERE id = ANY(%s)", (ids,)
                )
            }
        )
        > 1
    )
    # The product's own scores, one value moved: the product's table (stored or computed).
    db.execute(
        "INSERT INTO genome.creative_element_scores (organization_id, brand_id, product_id, "
        "element_dimension, element_value, posterior_alpha, posterior_beta, genome_version) "
        "SELECT organization_id, brand_id, %s, element_dimension, element_value, 40, 2, genome_version "
        "FROM genome.creative_element_scores WHERE brand_id = %s AND product_id IS NULL "
        "AND element_dimension = 'hook_type' AND element_value = 'urgency' "
        "ON CONFLICT (brand_id, product_id, element_dimension, element_value) DO UPDATE "
        "SET posterior_alpha = 40, posterior_beta = 2",
        (p, b),
    )
    assert (
        db.execute(
            "SELECT count(*) FROM genome.selection_tables WHERE brand_id = %s", (b,)
        ).fetchone()[0]
        == 0
    )
    ids = plan(fixed='{"hook_type": "urgency"}')
    assert_scored_as_pre_gen_score(db, b, p, ids)
    db.execute("SELECT genome._update_scores_selection_tables(ARRAY[%s]::uuid[])", (b,))
    assert (
        db.execute(
            "SELECT count(*) FROM genome.selection_tables WHERE product_id = %s", (p,)
        ).fetchone()[0]
        == 1
    )
    ids = plan(fixed='{"hook_type": "urgency"}') + plan()
    assert_scored_as_pre_gen_score(db, b, p, ids)
