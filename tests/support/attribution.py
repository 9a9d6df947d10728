"""Reward rows for the attribution and interaction tests: an Ad's tags and click counts,
written as one generated ad and one matured reward each."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg

from sim import factories as f

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass
class Ad:
    tags: dict[str, str]
    impressions: int
    clicks: int
    spend: float = 50.0
    first_date: date = date(2025, 3, 3)
    matured_at: datetime = field(default=NOW - timedelta(days=1))


def make_brand(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An organization, brand and product; returns their ids."""
    org = f.org(db)
    brand = f.brand(db, org)
    product = f.product(db, brand, offer=None)
    return org, brand, product


def add_rewards(
    db: psycopg.Connection, ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID], ads: list[Ad]
) -> None:
    """One ad_run per 100 ads, one generated_ads row and one reward row per ad."""
    org, brand, product = ids
    ad_ids = [uuid.uuid4() for _ in ads]
    runs = []
    for _ in range(math.ceil(len(ads) / 100)):
        runs.append(
            db.execute(
                "INSERT INTO public.ad_runs (product_id) VALUES (%s) RETURNING id", (product,)
            ).fetchone()[0]
        )
    db.execute(
        """
        INSERT INTO public.generated_ads (id, ad_run_id, prompt_index, element_tags)
        SELECT t.id, t.run, t.idx, t.tags
        FROM unnest(%s::uuid[], %s::uuid[], %s::int[], %s::jsonb[]) AS t (id, run, idx, tags)
        """,
        (
            ad_ids,
            [runs[i // 100] for i in range(len(ads))],
            [i % 100 + 1 for i in range(len(ads))],
            [json.dumps(a.tags) for a in ads],
        ),
    )
    db.execute(
        """
        INSERT INTO genome.creative_element_rewards (
            organization_id, brand_id, product_id, generated_ad_id, element_tags,
            reward_score, reward_components, reward_objective, matured_at, revised_at,
            first_date, last_date, total_impressions, total_clicks, total_purchases,
            total_spend, total_purchase_value, attribution_path)
        SELECT %s, %s, %s, t.id, t.tags, 0.5, '{}', 'TRAFFIC', t.matured, t.matured,
               t.first_date, t.first_date + 3, t.imps, t.clicks, 0, t.spend, 0, 'mapping'
        FROM unnest(%s::uuid[], %s::jsonb[], %s::timestamptz[], %s::date[], %s::bigint[],
                    %s::bigint[], %s::float8[])
             AS t (id, tags, matured, first_date, imps, clicks, spend)
        """,
        (
            org,
            brand,
            product,
            ad_ids,
            [json.dumps(a.tags) for a in ads],
            [a.matured_at for a in ads],
            [a.first_date for a in ads],
            [a.impressions for a in ads],
            [a.clicks for a in ads],
            [a.spend for a in ads],
        ),
    )
