"""Row-level security at scale: one brand's ads read by the app role against the owner.

`ads` generated_ads across `brands` brands (`brands_per_org` brands to an organization, one
product and one run each). The read is the app's listing of one brand's ads (ads joined to
their run and product, filtered by the brand). The project's figure is the read as
genome_app with app.organization_id set, so every table's tenant policy applies; the
"alternative" is the same read by the owner, which row-level security does not bind. The
goal (issue 19) is the app's read within 2x of the owner's.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.harness import BenchResult, Row, Server, summarize_ms

READ_SQL = (
    "SELECT g.id, g.final_status, g.element_tags "
    "FROM public.generated_ads AS g "
    "INNER JOIN public.ad_runs AS r ON r.id = g.ad_run_id "
    "INNER JOIN public.products AS p ON p.id = r.product_id "
    "WHERE p.brand_id = %s"
)

# Ids from md5 of (kind, row number): the same sizes always give the same data.
_ID = "md5('{kind}' || {n})::uuid"


def _generate(conn: psycopg.Connection, ads: int, brands: int, per_org: int) -> None:
    orgs = (brands + per_org - 1) // per_org
    org_id, brand_id = _ID.format(kind="org", n="o"), _ID.format(kind="brand", n="b")
    conn.execute(
        f"INSERT INTO public.organizations (id, name) "
        f"SELECT {org_id}, 'rls org ' || o FROM generate_series(1, %s) AS o",
        (orgs,),
    )
    conn.execute(
        f"INSERT INTO public.brands (id, organization_id, name) "
        f"SELECT {brand_id}, md5('org' || (1 + (b - 1) / %s))::uuid, 'rls brand ' || b "
        f"FROM generate_series(1, %s) AS b",
        (per_org, brands),
    )
    conn.execute(
        "INSERT INTO public.products (id, brand_id, name) "
        "SELECT md5('product' || b)::uuid, md5('brand' || b)::uuid, 'rls product ' || b "
        "FROM generate_series(1, %s) AS b",
        (brands,),
    )
    conn.execute(
        "INSERT INTO public.ad_runs (id, product_id) "
        "SELECT md5('run' || b)::uuid, md5('product' || b)::uuid FROM generate_series(1, %s) AS b",
        (brands,),
    )
    conn.execute(
        "INSERT INTO public.generated_ads (ad_run_id, prompt_index, element_tags) "
        "SELECT md5('run' || (1 + (a - 1) %% %s))::uuid, 1 + (a - 1) / %s, '{}'::jsonb "
        "FROM generate_series(1, %s) AS a",
        (brands, brands, ads),
    )
    conn.execute("ANALYZE public.organizations, public.brands, public.products")
    conn.execute("ANALYZE public.ad_runs, public.generated_ads")


def _reads(conn: psycopg.Connection, brand: Any, n: int, warmup: int) -> tuple[list[float], int]:
    rows = 0
    out: list[float] = []
    for i in range(warmup + n):
        start = time.perf_counter()
        rows = len(conn.execute(READ_SQL, (brand,)).fetchall())
        if i >= warmup:
            out.append(time.perf_counter() - start)
    return out, rows


def run(server: Server, ads: int, brands: int, per_org: int, reads: int) -> BenchResult:
    res = BenchResult(
        "rls", {"ads": ads, "brands": brands, "brands_per_org": per_org, "reads": reads}
    )
    with server.database("rls") as url, psycopg.connect(url, autocommit=True) as conn:
        _generate(conn, ads, brands, per_org)
        brand = conn.execute("SELECT md5('brand' || %s)::uuid", (brands // 2,)).fetchone()
        org = conn.execute(
            "SELECT organization_id FROM public.brands WHERE id = %s", (brand[0],)
        ).fetchone()
        assert brand is not None and org is not None
        owner, owner_rows = _reads(conn, brand[0], reads, 5)
        conn.execute("SET ROLE genome_app")
        conn.execute("SELECT set_config('app.organization_id', %s, false)", (str(org[0]),))
        app, app_rows = _reads(conn, brand[0], reads, 5)
        plan = conn.execute("EXPLAIN " + READ_SQL, (brand[0],)).fetchall()
        conn.execute("RESET ROLE")
    assert app_rows == owner_rows > 0, (app_rows, owner_rows)
    app_ms, owner_ms = summarize_ms(app), summarize_ms(owner)
    for q in ("p50", "p99"):
        res.rows.append(
            Row(f"{q} one brand's ads ({app_rows} rows)", "ms", app_ms[q], owner_ms[q], "owner")
        )
    res.details = {"app_ms": app_ms, "owner_ms": owner_ms, "app_plan": [r[0] for r in plan]}
    res.notes.append(
        f"{ads:,} generated_ads across {brands:,} brands ({per_org} to an organization). The "
        "goal is the app within 2x of the owner (ratio >= 0.5). Each tenant policy compares "
        "the row's tenant key (tenant_organization_id, written by a trigger from its keys) "
        "with the session's organization, computed once per statement: one InitPlan per "
        "table whatever the organization's size (docs/security.md#row-level-security)."
    )
    return res
