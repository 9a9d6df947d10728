"""Generated-ad rows written directly, for tests and benchmarks that drive the market
without the planning and agent pipeline (the demo plans through genome.plan_ads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from sim.market import BrandHandle

MAX_PER_RUN = 100


def insert_ads(
    conn: psycopg.Connection,
    handle: BrandHandle,
    tags: Sequence[Mapping[str, str]],
    created_at: datetime,
    status: str = "approved",
    storage_paths: Sequence[str | None] | None = None,
) -> list[UUID]:
    """One ad run per 100 ads (status complete) and one generated_ads row per tag set."""
    paths = list(storage_paths) if storage_paths is not None else [None] * len(tags)
    if len(paths) != len(tags):
        raise ValueError("one storage path (or None) per ad")
    ids: list[UUID] = []
    with conn.transaction():
        for start in range(0, len(tags), MAX_PER_RUN):
            chunk = list(range(start, min(start + MAX_PER_RUN, len(tags))))
            run_id = conn.execute(
                """
                INSERT INTO public.ad_runs (product_id, status, parameters, created_at)
                VALUES (%s, 'complete', '{}', %s) RETURNING id
                """,
                (handle.product_id, created_at),
            ).fetchone()[0]  # type: ignore[index]
            for k, i in enumerate(chunk):
                ids.append(
                    conn.execute(
                        """
                        INSERT INTO public.generated_ads (
                            ad_run_id, prompt_index, element_tags, element_tags_source,
                            final_status, storage_path, canvas_size, created_at)
                        VALUES (%s, %s, %s, 'app', %s, %s, '1080x1080px', %s) RETURNING id
                        """,
                        (run_id, k + 1, Jsonb(dict(tags[i])), status, paths[i], created_at),
                    ).fetchone()[0]  # type: ignore[index]
                )
    return ids
