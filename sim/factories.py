"""Rows of the app's tables (org -> brand -> product -> run -> ad, Meta insights, rewards):
the one set of builders that the simulator, the benchmarks and the tests all use. It lives
in sim/ because sim is an installed package (`genome demo` imports it) and tests/ is not."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def org(db: psycopg.Connection, name: str = "Org", *, slug: str | None = None) -> uuid.UUID:
    return db.execute(
        "INSERT INTO public.organizations (name, slug) VALUES (%s, %s) RETURNING id",
        (name, slug),
    ).fetchone()[0]


def brand(
    db: psycopg.Connection,
    organization_id: uuid.UUID | None = None,
    *,
    category: str | None = None,
    sharing: bool = False,
    name: str = "Brand",
    slug: str | None = None,
    description: str | None = None,
    brand_id: uuid.UUID | None = None,
) -> uuid.UUID:
    organization_id = organization_id or org(db)
    return db.execute(
        "INSERT INTO public.brands "
        "(id, organization_id, name, slug, description, category, cross_brand_sharing) "
        "VALUES (coalesce(%s, gen_random_uuid()), %s, %s, %s, %s, %s, %s) RETURNING id",
        (brand_id, organization_id, name, slug, description, category, sharing),
    ).fetchone()[0]


def product(
    db: psycopg.Connection,
    brand_id: uuid.UUID,
    name: str = "Product",
    *,
    offer: str | None = "20% off",
    benefits: list[str] | None = None,
    slug: str | None = None,
) -> uuid.UUID:
    return db.execute(
        "INSERT INTO public.products (brand_id, name, slug, benefits, current_offer) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (brand_id, name, slug, benefits, offer),
    ).fetchone()[0]


def ad_run(db: psycopg.Connection, product_id: uuid.UUID, max_attempts: int = 50) -> uuid.UUID:
    return db.execute(
        "INSERT INTO ad_runs (product_id, max_attempts) VALUES (%s, %s) RETURNING id",
        (product_id, max_attempts),
    ).fetchone()[0]


def ad(
    db: psycopg.Connection,
    run_id: uuid.UUID,
    tags: dict[str, str],
    *,
    index: int | None = None,
    status: str = "approved",
    imported: bool = False,
) -> uuid.UUID:
    if index is None:
        index = db.execute(
            "SELECT coalesce(max(prompt_index), 0) + 1 FROM generated_ads WHERE ad_run_id = %s",
            (run_id,),
        ).fetchone()[0]
    return db.execute(
        "INSERT INTO generated_ads (ad_run_id, prompt_index, element_tags, element_tags_source, "
        "final_status, is_imported) VALUES (%s, %s, genome.normalize_tags(%s), 'plan', %s, %s) "
        "RETURNING id",
        (run_id, index, Jsonb(tags), status, imported),
    ).fetchone()[0]


def link(
    db: psycopg.Connection, ad_id: uuid.UUID, meta_ad_id: str | None = None, campaign: str = "c1"
) -> str:
    meta_ad_id = meta_ad_id or f"meta-{ad_id}"
    db.execute(
        "INSERT INTO meta_ad_mapping (generated_ad_id, meta_ad_id, meta_ad_account_id, "
        "meta_campaign_id) VALUES (%s, %s, 'acct', %s)",
        (ad_id, meta_ad_id, campaign),
    )
    return meta_ad_id


def perf(
    db: psycopg.Connection,
    meta_ad_id: str,
    day: dt.date,
    *,
    impressions: int,
    clicks: int,
    spend: float = 10.0,
    purchases: int | None = 0,
    value: float | None = 0.0,
    objective: str | None = "OUTCOME_SALES",
    brand_id: uuid.UUID | None = None,
    ad_name: str | None = None,
    campaign: str = "c1",
) -> None:
    """One day of Meta insights, stored as the app stores them (link_ctr in percent)."""
    row: dict[str, Any] = {
        "meta_ad_id": meta_ad_id,
        "date": day,
        "impressions": impressions,
        "clicks": clicks,
        "spend": spend,
        "purchases": purchases,
        "value": value,
        "objective": objective,
        "brand_id": brand_id,
        "ad_name": ad_name,
        "campaign": campaign,
        "ctr": round(100.0 * clicks / impressions, 4) if impressions else None,
        "cvr": round(100.0 * purchases / clicks, 4) if clicks and purchases is not None else None,
        "roas": round(value / spend, 4) if spend and value is not None else None,
    }
    db.execute(
        """
        INSERT INTO meta_ads_performance (
            meta_ad_account_id, meta_ad_id, meta_campaign_id, ad_name, date, spend, impressions,
            link_clicks, purchases, purchase_value, brand_id, campaign_objective, link_ctr,
            conversion_rate, roas, cpm
        ) VALUES (
            'acct', %(meta_ad_id)s, %(campaign)s, %(ad_name)s, %(date)s, %(spend)s,
            %(impressions)s, %(clicks)s, %(purchases)s, %(value)s,
            -- Rows carry their brand, as the app stores them: the mapped ad's, else the
            -- brand of the ad named in ad_name.
            coalesce(
                %(brand_id)s::uuid,
                (SELECT m.brand_id FROM meta_ad_mapping AS m
                 WHERE m.meta_ad_id = %(meta_ad_id)s AND m.brand_id IS NOT NULL LIMIT 1),
                (SELECT pr.brand_id FROM generated_ads AS g
                 JOIN ad_runs AS r ON r.id = g.ad_run_id JOIN products AS pr ON pr.id = r.product_id
                 WHERE g.id::text = substring(lower(%(ad_name)s::text)
                     FROM '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'))
            ),
            %(objective)s,
            %(ctr)s, %(cvr)s, %(roas)s,
            CASE WHEN %(impressions)s > 0 THEN 1000.0 * %(spend)s / %(impressions)s END
        )
        ON CONFLICT (brand_id, meta_ad_id, date) DO UPDATE SET
            spend = excluded.spend, impressions = excluded.impressions,
            link_clicks = excluded.link_clicks, purchases = excluded.purchases,
            purchase_value = excluded.purchase_value, link_ctr = excluded.link_ctr,
            conversion_rate = excluded.conversion_rate, roas = excluded.roas, cpm = excluded.cpm
        """,
        row,
    )


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """A UTC timestamp on a day (p_now for the genome functions)."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def reward(
    db: psycopg.Connection,
    ad_id: uuid.UUID,
    score: float,
    matured_at: dt.datetime,
    *,
    impressions: int = 1000,
    clicks: int = 20,
) -> None:
    """A matured reward row written directly (for score and selection tests)."""
    db.execute(
        """
        INSERT INTO genome.creative_element_rewards (
            organization_id, brand_id, product_id, generated_ad_id, element_tags, reward_score,
            reward_components, reward_objective, matured_at, revised_at, first_date, last_date,
            total_impressions, total_clicks, total_purchases, total_spend, total_purchase_value,
            is_imported, attribution_path
        )
        SELECT b.organization_id, b.id, p.id, g.id, g.element_tags, %(score)s, '{}', 'CONVERSIONS',
               %(at)s, %(at)s, %(at)s::date - 10, %(at)s::date - 1, %(impr)s, %(clicks)s, 0, 10, 0,
               g.is_imported, 'mapping'
        FROM generated_ads AS g
        JOIN ad_runs AS r ON r.id = g.ad_run_id
        JOIN products AS p ON p.id = r.product_id
        JOIN brands AS b ON b.id = p.brand_id
        WHERE g.id = %(ad)s
        """,
        {"score": score, "at": matured_at, "ad": ad_id, "impr": impressions, "clicks": clicks},
    )


def bulk_rewards(
    db: psycopg.Connection,
    run_id: uuid.UUID,
    items: list[tuple[dict[str, str], float]],
    matured_at: dt.datetime,
    *,
    imported: bool = False,
) -> list[uuid.UUID]:
    """Many ads of one run, each with a matured reward (tags, score), in one statement.

    Each ad gets prompt_index 1 and a unique test canvas label, so the identity
    (ad_run_id, prompt_index, canvas_size) holds however many ads a test needs."""
    batch = uuid.uuid4().hex[:8]
    rows = db.execute(
        """
        WITH input AS (
            SELECT t.tags, t.score, t.n
            FROM unnest(%(tags)s::jsonb[], %(scores)s::float8[])
                WITH ORDINALITY AS t (tags, score, n)
        ),
        ads AS (
            INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, element_tags,
                                       element_tags_source, final_status, is_imported)
            SELECT %(run)s, 1, 'test-' || %(batch)s || '-' || n, genome.normalize_tags(tags),
                   'plan', 'approved', %(imported)s
            FROM input
            RETURNING id, canvas_size, element_tags, is_imported
        ),
        owner AS (
            SELECT b.organization_id, b.id AS brand_id, p.id AS product_id
            FROM ad_runs AS r JOIN products AS p ON p.id = r.product_id
            JOIN brands AS b ON b.id = p.brand_id WHERE r.id = %(run)s
        )
        INSERT INTO genome.creative_element_rewards (
            organization_id, brand_id, product_id, generated_ad_id, element_tags, reward_score,
            reward_components, reward_objective, matured_at, revised_at, first_date, last_date,
            total_impressions, total_clicks, total_purchases, total_spend, total_purchase_value,
            is_imported, attribution_path
        )
        SELECT o.organization_id, o.brand_id, o.product_id, a.id, a.element_tags, i.score, '{}',
               'CONVERSIONS', %(at)s, %(at)s, %(at)s::date - 10, %(at)s::date - 1, 1000, 20, 0,
               10, 0, a.is_imported, 'mapping'
        FROM ads AS a
        JOIN input AS i ON a.canvas_size = 'test-' || %(batch)s || '-' || i.n
        CROSS JOIN owner AS o
        RETURNING generated_ad_id
        """,
        {
            "tags": [Jsonb(t) for t, _ in items],
            "scores": [s for _, s in items],
            "run": run_id,
            "batch": batch,
            "imported": imported,
            "at": matured_at,
        },
    ).fetchall()
    return [r[0] for r in rows]
