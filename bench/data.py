"""Reproducible bench data, generated set-based in SQL (INSERT ... SELECT generate_series).

Row ids are derived from (seed, row number) with md5, and the random draws come from one
setseed() per statement (INSERT ... SELECT runs serially), so a size and seed always give
the same data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

import psycopg

from sim import factories

MATURED_AT = dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)
P_NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
WEEK_STARTS = (dt.date(2026, 1, 5), dt.date(2026, 1, 12))  # two ISO weeks


@dataclass(frozen=True)
class Tenant:
    organization_id: UUID
    brand_id: UUID
    product_ids: tuple[UUID, ...]
    run_ids: tuple[UUID, ...]


def tenant(conn: psycopg.Connection, name: str, products: int = 1) -> Tenant:
    """An organization, a brand, `products` products and one ad run per product."""
    org = factories.org(conn, name)
    brand = factories.brand(conn, org, name=name, category="bench")
    product_ids: list[UUID] = []
    run_ids: list[UUID] = []
    for i in range(products):
        prod = factories.product(conn, brand, f"{name} product {i}", offer=None)
        product_ids.append(prod)
        run_ids.append(factories.ad_run(conn, prod, max_attempts=1_000_000_000))
    return Tenant(org, brand, tuple(product_ids), tuple(run_ids))


def element_registry(conn: psycopg.Connection) -> dict[str, list[str]]:
    """The registry's element dimensions and their values, in order."""
    rows = conn.execute(
        "SELECT d.dimension, array_agg(v.value ORDER BY v.value) "
        "FROM genome.element_dimensions AS d "
        "JOIN genome.element_values AS v ON v.dimension = d.dimension "
        "WHERE d.kind = 'element' GROUP BY d.dimension ORDER BY d.dimension"
    ).fetchall()
    return {r[0]: list(r[1]) for r in rows}


def make_registry(conn: psycopg.Connection, dimensions: int, values: int) -> dict[str, list[str]]:
    """Replace the element registry of a bench database by `dimensions` x `values` arms: the
    shipped element dimensions become attributes and bench dimensions d1..dN with values
    v1..vM are added (the shipped registry has 5 element dimensions of 3-15 values)."""
    conn.execute("UPDATE genome.element_dimensions SET kind = 'attribute' WHERE kind = 'element'")
    for d in range(1, dimensions + 1):
        dim = f"bench_d{d}"
        conn.execute(
            "INSERT INTO genome.element_dimensions (dimension, kind, strategic_weight, "
            "description) VALUES (%s, 'element', 0.5, 'bench dimension')",
            (dim,),
        )
        conn.execute(
            "INSERT INTO genome.element_values (dimension, value) "
            "SELECT %s, 'v' || i FROM generate_series(1, %s) AS i",
            (dim, values),
        )
    return element_registry(conn)


def _tags_sql(dims: dict[str, list[str]]) -> tuple[str, str, dict[str, object]]:
    """Column list of random value indexes, and the jsonb of tags built from them."""
    picks: list[str] = []
    pairs: list[str] = []
    params: dict[str, object] = {}
    for i, (dim, vals) in enumerate(dims.items()):
        params[f"dim{i}"] = dim
        params[f"vals{i}"] = vals
        picks.append(f"floor(random() * {len(vals)})::int AS x{i}")
        pairs.append(f"%(dim{i})s::text, (%(vals{i})s::text[])[1 + x{i}]")
    tags = "jsonb_build_object(" + ", ".join(pairs) + ")" if pairs else "'{}'::jsonb"
    return ", ".join(picks), tags, params


def insert_rewards(
    conn: psycopg.Connection,
    t: Tenant,
    n: int,
    dims: dict[str, list[str]],
    *,
    seed: int = 1,
    matured_at: dt.datetime = MATURED_AT,
) -> int:
    """`n` generated ads of the tenant (spread over its products), each with one matured
    reward in genome.creative_element_rewards. Tags: a random value of every dimension in
    `dims`, plus awareness_stage and audience_type from two values each; spend in two
    spend buckets and first_date in two ISO weeks: 2 x 2 x 2 x 2 = 16 attribution strata.
    Clicks follow a CTR with an effect of the first dimension's value and of the stratum;
    reward_score rises with CTR, with noise."""
    picks, tags, params = _tags_sql(dims)
    first_dim = "x0" if dims else "0"
    k = len(t.run_ids)
    params |= {
        "n": n,
        "seed": seed,
        "runs": list(t.run_ids),
        "products": list(t.product_ids),
        "org": t.organization_id,
        "brand": t.brand_id,
        "at": matured_at,
        "w0": WEEK_STARTS[0],
        "w1": WEEK_STARTS[1],
    }
    conn.execute("SELECT setseed(%s)", ((seed % 1000) / 1000.0,))
    conn.execute(
        f"""
        CREATE TEMP TABLE bench_draws AS
        SELECT
            i,
            md5(%(seed)s::text || ':ad:' || i)::uuid AS ad_id,
            1 + (i %% {k}) AS slot,
            {picks + "," if picks else ""}
            floor(random() * 2)::int AS aw,
            floor(random() * 2)::int AS au,
            floor(random() * 2)::int AS sp,
            floor(random() * 2)::int AS wk,
            500 + floor(random() * 4500)::int AS impressions,
            random() AS u1,
            random() AS u2
        FROM generate_series(1, %(n)s) AS i
        """,
        params,
    )
    conn.execute(
        """
        INSERT INTO generated_ads (id, ad_run_id, prompt_index, canvas_size, element_tags,
                                   final_status, element_tags_source)
        SELECT d.ad_id, (%(runs)s::uuid[])[d.slot], 1 + d.i %% 100, 'bench-' || d.i, '{}',
               'approved', 'plan'
        FROM bench_draws AS d
        """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO genome.creative_element_rewards (
            organization_id, brand_id, product_id, generated_ad_id, element_tags, reward_score,
            reward_components, campaign_objective, reward_objective, matured_at, revised_at,
            first_date, last_date, total_impressions, total_clicks, total_purchases,
            total_spend, total_purchase_value, raw_ctr, bandit_selected, attribution_path
        )
        SELECT
            %(org)s, %(brand)s, (%(products)s::uuid[])[c.slot], c.ad_id,
            c.tags, c.reward, '{{}}', 'OUTCOME_SALES', 'CONVERSIONS', %(at)s, %(at)s,
            c.first_date, c.first_date + 9, c.impressions, c.clicks, 0, c.spend, 0,
            c.clicks::double precision / c.impressions, true, 'mapping'
        FROM (
            SELECT
                d.*,
                {tags} || jsonb_build_object(
                    'awareness_stage', (ARRAY['problem_aware', 'solution_aware'])[1 + d.aw],
                    'audience_type', (ARRAY['broad', 'retargeting'])[1 + d.au]
                ) AS tags,
                CASE d.wk WHEN 0 THEN %(w0)s::date ELSE %(w1)s::date END + (d.i %% 5) AS first_date,
                CASE d.sp WHEN 0 THEN 50.0 ELSE 200.0 END AS spend,
                least(d.impressions, floor(d.impressions * ctr.p + d.u1)::int) AS clicks,
                least(1.0, greatest(0.0, ctr.p / 0.03 + 0.25 * (d.u2 - 0.5))) AS reward
            FROM bench_draws AS d
            CROSS JOIN LATERAL (
                SELECT 0.01 * (1 + 0.08 * {first_dim}) * (1 + 0.5 * d.aw) * (1 + 0.3 * d.au)
                    * (0.6 + 0.8 * d.u2) AS p
            ) AS ctr
        ) AS c
        """,
        params,
    )
    conn.execute("DROP TABLE bench_draws")
    return n


def insert_performance(
    conn: psycopg.Connection,
    t: Tenant,
    ads: int,
    days: int,
    dims: dict[str, list[str]],
    *,
    seed: int = 1,
    start: dt.date = WEEK_STARTS[0],
) -> int:
    """`ads` tagged generated ads, each linked through meta_ad_mapping and with `days`
    consecutive days of Meta insights (from `start` + 0..4 days): ads x days rows of
    meta_ads_performance, stored as the app stores them (link_ctr in percent)."""
    picks, tags, params = _tags_sql(dims)
    k = len(t.run_ids)
    params |= {
        "n": ads,
        "days": days,
        "seed": seed,
        "runs": list(t.run_ids),
        "brand": t.brand_id,
        "start": start,
    }
    conn.execute("SELECT setseed(%s)", ((seed % 1000) / 1000.0,))
    conn.execute(
        f"""
        CREATE TEMP TABLE bench_ads AS
        SELECT i, md5(%(seed)s::text || ':perf:' || i)::uuid AS ad_id, 1 + (i %% {k}) AS slot,
               {picks + "," if picks else ""} 0.004 + 0.02 * random() AS ctr
        FROM generate_series(1, %(n)s) AS i
        """,
        params,
    )
    conn.execute(
        f"""
        INSERT INTO generated_ads (id, ad_run_id, prompt_index, canvas_size, element_tags,
                                   final_status, element_tags_source)
        SELECT a.ad_id, (%(runs)s::uuid[])[a.slot], 1 + a.i %% 100, 'bench-' || a.i, {tags},
               'approved', 'plan'
        FROM bench_ads AS a
        """,
        params,
    )
    conn.execute(
        """
        INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_ad_account_id,
                                     meta_campaign_id)
        SELECT a.ad_id, 'bm-' || a.i, 'bench-acct', 'bench-campaign' FROM bench_ads AS a
        """
    )
    conn.execute(
        """
        INSERT INTO meta_ads_performance (
            meta_ad_account_id, meta_ad_id, meta_campaign_id, date, spend, impressions,
            link_clicks, purchases, purchase_value, brand_id, campaign_objective, link_ctr,
            conversion_rate, roas, cpm
        )
        SELECT 'bench-acct', 'bm-' || a.i, 'bench-campaign', d.date, r.spend, r.impressions,
               r.clicks, r.purchases, r.value, %(brand)s, 'OUTCOME_SALES',
               round(100.0 * r.clicks / r.impressions, 4),
               CASE WHEN r.clicks > 0 THEN round(100.0 * r.purchases / r.clicks, 4) END,
               round(r.value / r.spend, 4), round(1000.0 * r.spend / r.impressions, 4)
        FROM bench_ads AS a
        CROSS JOIN LATERAL (
            SELECT %(start)s::date + (a.i %% 5) + g AS date
            FROM generate_series(0, %(days)s - 1) AS g
        ) AS d
        CROSS JOIN LATERAL (
            SELECT imp AS impressions, clk AS clicks, (imp * 0.012)::numeric(12, 2) AS spend,
                   floor(clk * 0.05 + random())::int AS purchases,
                   (clk * 2.5)::numeric(12, 2) AS value
            FROM (
                SELECT 200 + floor(random() * 800)::int AS imp
            ) AS i0
            CROSS JOIN LATERAL (SELECT floor(i0.imp * a.ctr + random())::int AS clk) AS c0
        ) AS r
        """,
        params,
    )
    conn.execute("DROP TABLE bench_ads")
    return ads * days
