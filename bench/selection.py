"""Selection: genome.select_elements per call vs a client-side Thompson draw.

Project: `SELECT genome.select_elements(brand, NULL, p_now)`, one round trip per ad.
Alternatives on the same scores: (a) fetch the brand's score rows over psycopg and draw
Beta(alpha, beta) per value with numpy, argmax per dimension; (b) MABWiser's Thompson
sampling, one in-memory MAB per dimension fitted with the same success/failure counts,
one predict per dimension.

Planning, per ad: `genome.plan_ads(run, n)` (one round trip for n ads: elements, the
generated_ads rows, their generate jobs) against the same client-side planner (fetch the
scores once, n numpy draws, the n generated_ads rows in one multi-row INSERT), each in a
transaction that is rolled back so every plan starts from the same run.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from mabwiser.mab import MAB, LearningPolicy
from psycopg.types.json import Jsonb

from bench import data
from bench.harness import BenchResult, Row, Server, summarize_ms, timed
from sim import factories


@dataclass(frozen=True)
class SelectionSizes:
    dimensions: int = 8
    values: int = 8
    calls: int = 2000
    rewards: int = 2000
    warmup: int = 50
    seed: int = 11
    plan_ads: int = 10
    plans: int = 100


SCORE_SQL = (
    "SELECT element_dimension, element_value, posterior_alpha, posterior_beta "
    "FROM genome.creative_element_scores "
    "WHERE brand_id = %s AND product_id IS NULL ORDER BY element_dimension, element_value"
)


def _numpy_select(conn: psycopg.Connection, brand: Any, rng: np.random.Generator) -> dict[str, str]:
    """One score fetch and one ad's Thompson draws (_plan_draws)."""
    rows = conn.execute(SCORE_SQL, (brand,)).fetchall()
    return {rows[at][0]: rows[at][1] for at in _plan_draws(rows, 1, rng)[0]}


PLAN_INSERT = (
    "INSERT INTO public.generated_ads (ad_run_id, prompt_index, canvas_size, final_status, "
    "element_tags, element_propensities, element_tags_source, bandit_selected, created_at) "
    "SELECT %s, i, '1080x1080px', 'pending', t, p, 'plan', true, %s "
    "FROM unnest(%s::int[], %s::jsonb[], %s::jsonb[]) AS x (i, t, p)"
)


def _plan_draws(rows: list[Any], n: int, rng: np.random.Generator) -> list[list[int]]:
    """n ads' Thompson draws from score rows (dimension, value, alpha, beta, ...) ordered by
    dimension: per ad, the row of the value each dimension drew."""
    dims = np.array([r[0] for r in rows])
    alpha = np.fromiter((r[2] for r in rows), float, len(rows))
    beta = np.fromiter((r[3] for r in rows), float, len(rows))
    _, starts = np.unique(dims, return_index=True)
    bounds = [*starts.tolist(), len(rows)]
    draws = rng.beta(alpha, beta, size=(n, len(rows)))
    return [[lo + int(np.argmax(d[lo:hi])) for lo, hi in itertools.pairwise(bounds)] for d in draws]


def _numpy_plan(
    conn: psycopg.Connection, brand: Any, run: Any, n: int, rng: np.random.Generator
) -> None:
    """The client-side planner: one score fetch, n Thompson draws, one INSERT of n rows."""
    rows = conn.execute(SCORE_SQL, (brand,)).fetchall()
    tags = [Jsonb({rows[at][0]: rows[at][1] for at in ad}) for ad in _plan_draws(rows, n, rng)]
    conn.execute(
        PLAN_INSERT,
        (run, data.P_NOW, list(range(1, n + 1)), tags, [Jsonb({})] * n),
    )


# The client-side planner that leaves what plan_ads leaves: each ad with its propensities
# (the stored win probability of the value drawn) and pre-generation score (the strategic-
# weighted mean of the values' posterior means), its generate job queued, the run's attempts
# counted; one round trip for the three writes.
PLAN_SCORE_SQL = (
    "SELECT s.element_dimension, s.element_value, s.posterior_alpha, s.posterior_beta, "
    "coalesce(s.win_probability, 0), d.strategic_weight "
    "FROM genome.creative_element_scores AS s "
    "JOIN genome.element_dimensions AS d ON d.dimension = s.element_dimension "
    "WHERE s.brand_id = %s AND s.product_id IS NULL ORDER BY 1, 2"
)
PLAN_SAME_WRITES = (
    "WITH ads AS ("
    " INSERT INTO public.generated_ads (ad_run_id, prompt_index, canvas_size, final_status, "
    " element_tags, element_propensities, element_tags_source, bandit_selected, pre_gen_score, "
    " created_at) "
    " SELECT %(run)s, x.i, '1080x1080px', 'pending', x.t, x.p, 'plan', true, x.s, %(now)s "
    " FROM unnest(%(i)s::int[], %(t)s::jsonb[], %(p)s::jsonb[], %(s)s::numeric[]) "
    " AS x (i, t, p, s) "
    " RETURNING id), "
    "jobs AS (INSERT INTO genome.agent_jobs (kind, generated_ad_id) "
    " SELECT 'generate', ads.id FROM ads), "
    "counted AS (UPDATE public.ad_runs SET attempts_count = attempts_count + %(n)s "
    " WHERE id = %(run)s) "
    "SELECT count(*) FROM ads"
)


def _numpy_plan_same_writes(
    conn: psycopg.Connection, brand: Any, run: Any, n: int, rng: np.random.Generator
) -> None:
    """The client-side planner writing what plan_ads writes (PLAN_SAME_WRITES)."""
    rows = conn.execute(PLAN_SCORE_SQL, (brand,)).fetchall()
    tags: list[Jsonb] = []
    props: list[Jsonb] = []
    scores: list[float] = []
    for ad in _plan_draws(rows, n, rng):
        chosen = [rows[at] for at in ad]
        tags.append(Jsonb({r[0]: r[1] for r in chosen}))
        props.append(Jsonb({"propensities": {r[0]: round(float(r[4]), 6) for r in chosen}}))
        weights = sum(float(r[5]) for r in chosen)
        weighted = sum(float(r[5]) * r[2] / (r[2] + r[3]) for r in chosen)
        scores.append(round(weighted / weights, 4) if weights else 0.5)
    conn.execute(
        PLAN_SAME_WRITES,
        {
            "run": run,
            "now": data.P_NOW,
            "i": list(range(1, n + 1)),
            "t": tags,
            "p": props,
            "s": scores,
            "n": n,
        },
    )


def _plans(conn: psycopg.Connection, fns: list[Any], n: int, warmup: int) -> list[list[float]]:
    """Seconds per plan of each planner, each plan in a transaction rolled back afterwards.
    The planners take turns, so both see the same dead rows of the plans rolled back before
    and the same swings of the machine."""
    out: list[list[float]] = [[] for _ in fns]
    for i in range(warmup + n):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            conn.rollback()
            if i >= warmup:
                out[k].append(elapsed)
    return out


def _fit_mabwiser(rows: list[tuple[Any, ...]], seed: int) -> dict[str, MAB]:
    """One MAB per dimension, fitted with round(alpha - 1) successes and round(beta - 1)
    failures per value (MABWiser's Thompson sampling starts every arm at Beta(1, 1))."""
    by_dim: dict[str, list[tuple[str, float, float]]] = {}
    for dim, value, a, b in rows:
        by_dim.setdefault(dim, []).append((value, a, b))
    mabs: dict[str, MAB] = {}
    for i, (dim, arms) in enumerate(by_dim.items()):
        decisions: list[str] = []
        rewards: list[int] = []
        for value, a, b in arms:
            s, f = round(a - 1), round(b - 1)
            decisions += [value] * (s + f)
            rewards += [1] * s + [0] * f
        mab = MAB(
            arms=[v for v, _, _ in arms],
            learning_policy=LearningPolicy.ThompsonSampling(),
            seed=seed + i,
        )
        mab.fit(decisions, rewards)
        mabs[dim] = mab
    return mabs


def _calls(fns: list[Any], n: int, warmup: int) -> list[list[float]]:
    """Seconds per call of each function; they take turns call by call, so a swing of the
    machine's speed falls on every side alike (the ratios are what the table reports)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - start)
    return out


def run(server: Server, sizes: SelectionSizes) -> BenchResult:
    res = BenchResult("selection", sizes.__dict__.copy())
    with server.database("selection") as url, psycopg.connect(url) as conn:
        registry = data.make_registry(conn, sizes.dimensions, sizes.values)
        tenant = data.tenant(conn, "selection")
        data.insert_rewards(conn, tenant, sizes.rewards, registry, seed=sizes.seed)
        # MABWiser is fitted with the one-bit learner's pseudo-counts (alpha - 1, beta - 1);
        # the joint learner's moment-matched Betas are not counts (docs/learning.md#joint-learner).
        conn.execute(
            "UPDATE genome.settings SET value = '\"beta_bernoulli\"' WHERE key = 'learner'"
        )
        conn.execute("SELECT genome.update_scores(%s)", (data.P_NOW,))
        conn.commit()
        conn.autocommit = True
        # As autovacuum leaves a database in use: the planner's statistics of the loaded rows.
        conn.execute("VACUUM ANALYZE")
        brand = tenant.brand_id
        p_now = data.P_NOW

        def project() -> Any:
            return conn.execute(
                "SELECT genome.select_elements(%s, NULL, %s)", (brand, p_now)
            ).fetchone()

        picked = project()
        assert picked is not None and len(picked[0]["element_tags"]) == sizes.dimensions
        rng = np.random.default_rng(sizes.seed)
        assert len(_numpy_select(conn, brand, rng)) == sizes.dimensions

        proj, alt = (
            summarize_ms(ts)
            for ts in _calls(
                [project, lambda: _numpy_select(conn, brand, rng)], sizes.calls, sizes.warmup
            )
        )
        # The same two, called as the app calls them: role genome_app with its organization
        # set, so the tenant policies compare one key (the owner's session above also tests
        # whether it is the owner's, docs/security.md#row-level-security).
        with psycopg.connect(
            url,
            autocommit=True,
            options=f"-c role=genome_app -c app.organization_id={tenant.organization_id}",
        ) as app:

            def project_app() -> Any:
                return app.execute(
                    "SELECT genome.select_elements(%s, NULL, %s)", (brand, p_now)
                ).fetchone()

            assert len(project_app()[0]["element_tags"]) == sizes.dimensions
            assert len(_numpy_select(app, brand, rng)) == sizes.dimensions
            proj_app, alt_app = (
                summarize_ms(ts)
                for ts in _calls(
                    [project_app, lambda: _numpy_select(app, brand, rng)],
                    sizes.calls,
                    sizes.warmup,
                )
            )
        rows = conn.execute(SCORE_SQL, (brand,)).fetchall()
        fit_s, mabs = timed(lambda: _fit_mabwiser(rows, sizes.seed))
        mab = summarize_ms(
            _calls([lambda: {d: m.predict() for d, m in mabs.items()}], sizes.calls, sizes.warmup)[
                0
            ]
        )

        # Planning n ads in one call against the client-side planner, per ad, into a run of
        # its own as the app plans (its default cap of 50 attempts; each plan rolled back),
        # not the run holding the rewards' 2,000 ads: plan_ads' cap and prompt checks read
        # the run's ads and jobs, which a real run (100 prompts a canvas size) keeps small.
        run, n = factories.ad_run(conn, tenant.product_ids[0]), sizes.plan_ads
        conn.autocommit = False
        planned = conn.execute(
            "SELECT count(*) FROM genome.plan_ads(%s, %s, %s)", (run, n, p_now)
        ).fetchone()
        assert planned is not None and planned[0] == n
        conn.rollback()

        def plan_project() -> None:
            conn.execute("SELECT count(*) FROM genome.plan_ads(%s, %s, %s)", (run, n, p_now))

        per_plan = _plans(
            conn,
            [
                plan_project,
                lambda: _numpy_plan(conn, brand, run, n, rng),
                lambda: _numpy_plan_same_writes(conn, brand, run, n, rng),
            ],
            sizes.plans,
            sizes.warmup // 5,
        )
        plan_proj, plan_alt, plan_same = (summarize_ms([t / n for t in ts]) for ts in per_plan)

    numpy_name, mab_name = "psycopg fetch + numpy draw", "MABWiser TS predict"
    for q in ("p50", "p99"):
        res.rows.append(Row(f"{q} per selection", "ms", proj[q], alt[q], numpy_name))
    for q in ("p50", "p99"):
        res.rows.append(
            Row(f"{q} per selection, as the app", "ms", proj_app[q], alt_app[q], numpy_name)
        )
    for q in ("p50", "p99"):
        res.rows.append(Row(f"{q} per selection", "ms", proj[q], mab[q], mab_name))
    for q in ("p50", "p99"):
        res.rows.append(
            Row(
                f"{q} per planned ad (plan_ads, {sizes.plan_ads} a call)",
                "ms",
                plan_proj[q],
                plan_alt[q],
                "psycopg fetch + numpy draws + INSERT",
            )
        )
    for q in ("p50", "p99"):
        res.rows.append(
            Row(
                f"{q} per planned ad, the same writes",
                "ms",
                plan_proj[q],
                plan_same[q],
                "fetch + numpy draws + the ads, their jobs and the attempts in one statement",
            )
        )
    res.details = {
        "project_ms": proj,
        "numpy_ms": alt,
        "project_as_app_ms": proj_app,
        "numpy_as_app_ms": alt_app,
        "mabwiser_ms": mab,
        "mabwiser_fit_s": fit_s,
        "plan_ads_per_ad_ms": plan_proj,
        "numpy_plan_per_ad_ms": plan_alt,
        "numpy_plan_same_writes_per_ad_ms": plan_same,
        "score_rows": len(rows),
    }
    res.notes.append(
        "select_elements also applies exploration and cold start and returns propensities; "
        "it reads the per-value win probabilities update_scores stored (no sampling loop per "
        "call). MABWiser keeps its model in process memory (no database read per call; its "
        'fit is not timed per call). "as the app": both sides on a connection with role '
        "genome_app and the brand's organization set, as the ad app calls them; the other "
        "rows run as the owner (superuser, no organization)."
    )
    res.notes.append(
        "plan_ads also writes each ad's pre-generation score, propensities and generate job "
        "and counts the run's attempts; the first client-side planner writes only the ad "
        'rows, the second ("the same writes") also each ad\'s propensities (the stored win '
        "probabilities) and pre-generation score, its generate job and the run's attempts. "
        "Plans go into a run of their own (50 attempts), each rolled back."
    )
    return res
