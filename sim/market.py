"""The simulated ad market: plays Meta for the demo.

`Market.setup` writes the app's catalogue (organizations, brands, products, campaigns,
baselines); `launch` puts an approved generated ad live (audience context confounded with
its hook, meta_ad_mapping, budget); `simulate_day` writes what the app's Meta sync would
write for that day: one meta_ads_performance row per live ad, and restatements of the last
days as delayed conversions arrive (attributed back to the click day).

Seeded: every random draw comes from a generator keyed by (seed, purpose, day or launch
number), so the same seed and the same calls give identical rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid5

import numpy as np
import psycopg

from sim import factories
from sim.truth import (
    AUDIENCE_TYPES,
    AWARENESS_STAGES,
    BrandTruth,
    MarketParams,
    Rates,
    Truth,
    fatigue_factor,
)

SYNC_HOUR = 23
# The namespace of the simulated brands' ids (uuid5 of seed and slug).
_BRAND_NAMESPACE = UUID("6f1c2a9e-3d4b-5e8f-9a0b-1c2d3e4f5a6b")


def sync_time(day: date) -> datetime:
    """When the simulated Meta sync of `day` runs (its rows' created_at / updated_at)."""
    return datetime.combine(day, time(SYNC_HOUR), tzinfo=UTC)


@dataclass(frozen=True)
class BrandHandle:
    """A brand the market created, with its ids in the database."""

    index: int
    brand_id: UUID
    organization_id: UUID
    product_id: UUID
    name: str
    slug: str
    category: str
    objective: str
    cross_brand_sharing: bool
    meta_ad_account_id: str
    meta_campaign_id: str


@dataclass(frozen=True)
class LaunchedAd:
    generated_ad_id: UUID
    meta_ad_id: str
    brand_index: int
    awareness_stage: str
    audience_type: str
    first_day: date
    last_day: date


@dataclass
class _LiveAd:
    ad: LaunchedAd
    handle: BrandHandle
    adset_id: str
    ad_name: str
    ctr: float
    cvr: float
    aov: float
    cpm: float
    budget: float
    cum_impressions: float = 0.0


@dataclass
class _DayRow:
    """One delivered (ad, day): fixed delivery, and the purchases (and their value) known
    k days later at index k of the cumulative lists (delays of 1..7 days)."""

    ad: _LiveAd
    day: date
    spend: float
    impressions: int
    reach: int
    clicks: int
    add_to_carts: int
    cum_purchases: list[int]
    cum_value: list[float]
    written_purchases: int = -1


@dataclass(frozen=True)
class DayStats:
    day: date
    live_ads: int
    new_rows: int
    restated_rows: int
    spend: float
    impressions: int
    clicks: int
    purchases_visible: int


@dataclass(frozen=True)
class Delivery:
    """One day of Meta delivery for n ads (arrays of length n). Purchases of the day's
    clicks arrive over the following days: column k of `cum_purchases` / `cum_value` is
    what is known k days after the click day (k = 0 .. len(delay_probs))."""

    spend: np.ndarray
    impressions: np.ndarray
    reach: np.ndarray
    clicks: np.ndarray
    add_to_carts: np.ndarray
    cum_purchases: np.ndarray
    cum_value: np.ndarray


def ad_budget(rng: np.random.Generator, p: MarketParams, ctr: float, base_ctr: float) -> float:
    """An ad's daily budget: the market's times a lognormal of median one and log-sd
    `budget_sd`, tilted toward ads that click (Meta's auction favours them) by
    (ctr / base_ctr) ** `delivery_tilt`."""
    spread = float(np.exp(rng.normal(0.0, p.budget_sd)))
    tilt = (ctr / base_ctr) ** p.delivery_tilt if p.delivery_tilt else 1.0
    return p.daily_budget * spread * tilt


def deliver(
    rng: np.random.Generator,
    p: MarketParams,
    *,
    budget: np.ndarray,
    cpm: np.ndarray,
    ctr: np.ndarray,
    cvr: np.ndarray,
    aov: np.ndarray,
    cum_impressions: np.ndarray,
) -> Delivery:
    """Meta's delivery of one day to ads with these fresh expected rates: spend near the
    budget, impressions at a noisy CPM, clicks at the CTR after fatigue (average frequency
    of the impressions so far), purchases and their order values with delayed arrival.
    Shared by the demo's market and the learning benchmark's families (sim/markets.py)."""
    n = len(budget)
    spend = np.round(budget * rng.uniform(p.spend_low, p.spend_high, n), 2)
    cpm_paid = cpm * rng.lognormal(-(p.cpm_noise_sd**2) / 2, p.cpm_noise_sd, n)
    imps = np.maximum(np.round(spend / cpm_paid * 1000.0), 1).astype(np.int64)
    ctr_now = ctr * fatigue_factor(cum_impressions + imps / 2.0, p.audience_size, p.fatigue_rate)
    # The day's market-wide shock and each ad's own scatter on the day (mean-one lognormals;
    # drawn only when asked, so markets without them keep their random streams).
    if p.day_ctr_sd > 0:
        ctr_now = ctr_now * rng.lognormal(-(p.day_ctr_sd**2) / 2, p.day_ctr_sd)
    if p.ad_day_ctr_sd > 0:
        ctr_now = ctr_now * rng.lognormal(-(p.ad_day_ctr_sd**2) / 2, p.ad_day_ctr_sd, n)
    clicks = rng.binomial(imps, np.clip(ctr_now, 0.0, 1.0))
    reach = np.clip(
        np.round(p.audience_size * (1.0 - np.exp(-imps / p.audience_size))), 1, imps
    ).astype(np.int64)
    purchases = rng.binomial(clicks, cvr)
    carts = purchases + rng.binomial(
        clicks - purchases, np.clip(cvr * (p.add_to_cart_factor - 1.0), 0.0, 1.0)
    )
    delays = np.array(p.delay_probs) / sum(p.delay_probs)
    by_delay = rng.multinomial(purchases, delays)
    # One order value per purchase, summed per (ad, delay).
    total = int(by_delay.sum())
    values = rng.lognormal(-(p.aov_noise_sd**2) / 2, p.aov_noise_sd, total)
    owner = np.repeat(np.arange(n * len(delays)), by_delay.ravel())
    value_by_delay = np.zeros(n * len(delays))
    np.add.at(value_by_delay, owner, values * np.repeat(aov, len(delays))[owner])
    zero = np.zeros((n, 1))
    return Delivery(
        spend=spend,
        impressions=imps,
        reach=reach,
        clicks=clicks,
        add_to_carts=carts,
        cum_purchases=np.hstack([zero, np.cumsum(by_delay, axis=1)]).astype(int),
        cum_value=np.hstack([zero, np.cumsum(value_by_delay.reshape(n, -1), axis=1)]),
    )


@dataclass
class Market:
    """A market bound to a truth; call setup once per database, then launch and simulate."""

    truth: Truth
    seed: int | None = None
    brands: list[BrandHandle] = field(default_factory=list)
    _live: list[_LiveAd] = field(default_factory=list, repr=False)
    _open_rows: list[_DayRow] = field(default_factory=list, repr=False)
    _launched: set[UUID] = field(default_factory=set, repr=False)
    _last_day: date | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = self.truth.seed

    @property
    def _seed(self) -> int:
        assert self.seed is not None
        return self.seed

    # ----- set-up -----------------------------------------------------------------------

    def setup(self, conn: psycopg.Connection, start: date | None = None) -> list[BrandHandle]:
        """Organizations (two), brands, one product each, a campaign each and baselines."""
        if self.brands:
            raise RuntimeError("market already set up")
        start = start or date(2025, 1, 1)
        s = self._seed
        with conn.transaction():
            org_ids = [
                factories.org(conn, f"Sim Org {k + 1}", slug=f"sim-{s}-org-{k + 1}")
                for k in range(2)
            ]
            for b in self.truth.brands:
                self.brands.append(self._create_brand(conn, b, org_ids[b.index % 2], start))
        return list(self.brands)

    def _create_brand(
        self, conn: psycopg.Connection, b: BrandTruth, org_id: UUID, start: date
    ) -> BrandHandle:
        s = self._seed
        brand_id = factories.brand(
            conn,
            org_id,
            name=b.name,
            slug=b.slug,
            description="Simulated brand",
            category=b.category,
            sharing=b.cross_brand_sharing,
            # Named by the market's seed and slug: the learner's Monte Carlo draws are seeded
            # by genome version and brand id, so a run with the same seed is the same run.
            brand_id=uuid5(_BRAND_NAMESPACE, f"{s}/{b.slug}"),
        )
        product_id = factories.product(
            conn,
            brand_id,
            f"{b.category.replace('_', ' ').title()} Hero {b.index + 1}",
            slug=f"{b.slug}-hero",
            benefits=["works fast", "made simply", "loved by customers"],
            offer="20% off your first order",
        )
        account = f"act_{s % 1_000_000}{b.index:03d}"
        campaign = f"{s % 1_000_000}{b.index:03d}0001"
        conn.execute(
            """
            INSERT INTO public.meta_campaigns
                (meta_ad_account_id, meta_campaign_id, name, status, objective, brand_id,
                 created_at)
            VALUES (%s, %s, %s, 'ACTIVE', %s, %s, %s)
            """,
            (account, campaign, f"{b.name} evergreen", b.objective, brand_id, sync_time(start)),
        )
        self._write_baselines(conn, b, org_id, brand_id, start)
        return BrandHandle(
            index=b.index,
            brand_id=brand_id,
            organization_id=org_id,
            product_id=product_id,
            name=b.name,
            slug=b.slug,
            category=b.category,
            objective=b.objective,
            cross_brand_sharing=b.cross_brand_sharing,
            meta_ad_account_id=account,
            meta_campaign_id=campaign,
        )

    def _write_baselines(
        self, conn: psycopg.Connection, b: BrandTruth, org_id: UUID, brand_id: UUID, start: date
    ) -> None:
        """The brand 'all' cohort and the matching objective cohorts (raw and mapped), all
        with the truth's percentiles, so whichever row is chosen the reward is the same.
        ctr and conversion_rate are RATIOS here, as the app stores them."""
        p = b.baselines
        pct = [
            v
            for m in ("ctr", "cpc", "cpm", "roas", "conversion_rate")
            for v in (p[m].p25, p[m].median, p[m].p75)
        ]
        rows = [(objective, *pct) for objective in ("all", b.objective, b.reward_objective)]
        with conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO public.ad_intelligence_baselines (
                    organization_id, brand_id, awareness_level, creative_format,
                    campaign_objective, sample_size, unique_ads,
                    p25_ctr, median_ctr, p75_ctr, p25_cpc, median_cpc, p75_cpc,
                    p25_cpm, median_cpm, p75_cpm, p25_roas, median_roas, p75_roas,
                    p25_conversion_rate, median_conversion_rate, p75_conversion_rate,
                    date_range_start, date_range_end, computed_at)
                VALUES (%s, %s, 'all', 'image', %s, 400, 400,
                        %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                        %s, %s, %s)
                """,
                [
                    (
                        org_id,
                        brand_id,
                        *r,
                        start - timedelta(days=90),
                        start - timedelta(days=1),
                        sync_time(start - timedelta(days=1)),
                    )
                    for r in rows
                ],
            )

    def handle(self, brand_id: UUID | str) -> BrandHandle:
        key = UUID(str(brand_id))
        for h in self.brands:
            if h.brand_id == key:
                return h
        raise KeyError(f"brand {brand_id} is not in this market")

    # ----- launching --------------------------------------------------------------------

    def launch(
        self,
        conn: psycopg.Connection,
        generated_ad_id: UUID | str,
        day: date,
        audience: tuple[str, str] | None = None,
    ) -> LaunchedAd:
        """Put one approved ad live from `day` for `run_days` days."""
        return self.launch_many(conn, [generated_ad_id], day, [audience])[0]

    def launch_many(
        self,
        conn: psycopg.Connection,
        generated_ad_ids: Sequence[UUID | str],
        day: date,
        audiences: Sequence[tuple[str, str] | None] | None = None,
    ) -> list[LaunchedAd]:
        """Launch approved ads (in the given order): pick each one's audience context
        (confounded with its hook), record it in element_tags, map it to a Meta ad."""
        ids = [UUID(str(i)) for i in generated_ad_ids]
        audiences = list(audiences) if audiences is not None else [None] * len(ids)
        if len(audiences) != len(ids):
            raise ValueError("one audience (or None) per ad")
        if len(set(ids)) != len(ids) or self._launched.intersection(ids):
            raise ValueError("an ad can be launched only once")
        rows = {
            r[0]: r
            for r in conn.execute(
                """
                SELECT ga.id, ga.element_tags, ga.final_status, p.brand_id
                FROM public.generated_ads AS ga
                JOIN public.ad_runs AS r ON r.id = ga.ad_run_id
                JOIN public.products AS p ON p.id = r.product_id
                WHERE ga.id = ANY(%s)
                """,
                (ids,),
            )
        }
        launched: list[LaunchedAd] = []
        live: list[_LiveAd] = []
        for k, (ad_id, aud) in enumerate(zip(ids, audiences, strict=True)):
            if ad_id not in rows:
                raise ValueError(f"generated ad {ad_id} does not exist")
            _, tags, status, brand_id = rows[ad_id]
            if status != "approved":
                raise ValueError(f"generated ad {ad_id} is {status}, not approved")
            n = len(self._live) + k
            item = self._prepare(n, ad_id, tags or {}, self.handle(brand_id), day, aud)
            live.append(item)
            launched.append(item.ad)
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                """
                UPDATE public.generated_ads
                SET element_tags = coalesce(element_tags, '{}'::jsonb)
                        || jsonb_build_object('awareness_stage', %s::text,
                                              'audience_type', %s::text),
                    meta_ad_id = %s
                WHERE id = %s
                """,
                [
                    (
                        x.ad.awareness_stage,
                        x.ad.audience_type,
                        x.ad.meta_ad_id,
                        x.ad.generated_ad_id,
                    )
                    for x in live
                ],
            )
            cur.executemany(
                """
                INSERT INTO public.meta_ad_mapping
                    (generated_ad_id, meta_ad_id, meta_ad_account_id, meta_campaign_id,
                     linked_by, created_at)
                VALUES (%s, %s, %s, %s, 'auto', %s)
                """,
                [
                    (
                        x.ad.generated_ad_id,
                        x.ad.meta_ad_id,
                        x.handle.meta_ad_account_id,
                        x.handle.meta_campaign_id,
                        sync_time(day) - timedelta(hours=SYNC_HOUR),
                    )
                    for x in live
                ],
            )
        self._live.extend(live)
        self._launched.update(ids)
        return launched

    def _prepare(
        self,
        n: int,
        ad_id: UUID,
        tags: dict[str, Any],
        handle: BrandHandle,
        day: date,
        audience: tuple[str, str] | None,
    ) -> _LiveAd:
        rng = np.random.default_rng([self._seed, 4, n])
        elements = self.truth.element_tags(tags)
        if audience is None:
            stage, aud = self.truth.draw_audience(rng, elements.get("hook_type"))
        else:
            stage, aud = audience
            if stage not in AWARENESS_STAGES or aud not in AUDIENCE_TYPES:
                raise ValueError(f"unknown audience context {audience!r}")
        rates = self.launch_rates(handle.index, elements, stage, aud, day, n)
        params = self.truth.params
        meta_ad_id = f"23{self._seed % 1_000_000:06d}{n:07d}"
        adset = (
            f"{handle.meta_campaign_id}{AWARENESS_STAGES.index(stage)}{AUDIENCE_TYPES.index(aud)}"
        )
        ad = LaunchedAd(
            generated_ad_id=ad_id,
            meta_ad_id=meta_ad_id,
            brand_index=handle.index,
            awareness_stage=stage,
            audience_type=aud,
            first_day=day,
            last_day=day + timedelta(days=params.run_days - 1),
        )
        return _LiveAd(
            ad=ad,
            handle=handle,
            adset_id=adset,
            ad_name=f"CG | {handle.slug} | {ad_id}",
            ctr=rates.ctr,
            cvr=rates.conversion_rate,
            aov=rates.aov,
            cpm=rates.cpm,
            budget=ad_budget(rng, params, rates.ctr, self.truth.brands[handle.index].base_ctr),
        )

    def launch_rates(
        self,
        brand_index: int,
        elements: dict[str, str],
        stage: str,
        audience: str,
        day: date,
        n: int,
    ) -> Rates:
        """The fresh expected rates of the `n`-th ad launched, on `day`. The demo's truth is
        stationary and has no ad-level spread; the learning benchmark's markets
        (sim/markets.py) override this."""
        return self.truth.fresh_rates(brand_index, elements, stage, audience)

    def live_ads(self, day: date) -> list[LaunchedAd]:
        return [x.ad for x in self._live if x.ad.first_day <= day <= x.ad.last_day]

    # ----- one day of Meta ------------------------------------------------------------

    def simulate_day(self, conn: psycopg.Connection, day: date) -> DayStats:
        """Deliver `day` for every live ad and write its rows; restate the rows of the
        last days whose delayed conversions arrived since they were last written."""
        if self._last_day is not None and day <= self._last_day:
            raise ValueError(f"days must increase: {day} after {self._last_day}")
        self._last_day = day
        live = [x for x in self._live if x.ad.first_day <= day <= x.ad.last_day]
        new_rows = self._deliver(live, day)
        self._open_rows.extend(new_rows)
        horizon = len(self.truth.params.delay_probs)
        self._open_rows = [r for r in self._open_rows if (day - r.day).days <= horizon]
        due = [r for r in self._open_rows if self._visible(r, day)[0] != r.written_purchases]
        self._write(conn, due, day)
        return DayStats(
            day=day,
            live_ads=len(live),
            new_rows=len(new_rows),
            restated_rows=len(due) - len(new_rows),
            spend=float(sum(r.spend for r in new_rows)),
            impressions=int(sum(r.impressions for r in new_rows)),
            clicks=int(sum(r.clicks for r in new_rows)),
            purchases_visible=int(sum(self._visible(r, day)[0] for r in self._open_rows)),
        )

    def _deliver(self, live: list[_LiveAd], day: date) -> list[_DayRow]:
        if not live:
            return []
        rng = np.random.default_rng([self._seed, 3, day.toordinal()])
        d = deliver(
            rng,
            self.truth.params,
            budget=np.array([x.budget for x in live]),
            cpm=np.array([x.cpm for x in live]),
            ctr=np.array([x.ctr for x in live]),
            cvr=np.array([x.cvr for x in live]),
            aov=np.array([x.aov for x in live]),
            cum_impressions=np.array([x.cum_impressions for x in live]),
        )
        cum_purchases = d.cum_purchases.tolist()
        cum_value = d.cum_value.tolist()
        rows = []
        for i, x in enumerate(live):
            x.cum_impressions += float(d.impressions[i])
            rows.append(
                _DayRow(
                    ad=x,
                    day=day,
                    spend=float(d.spend[i]),
                    impressions=int(d.impressions[i]),
                    reach=int(d.reach[i]),
                    clicks=int(d.clicks[i]),
                    add_to_carts=int(d.add_to_carts[i]),
                    cum_purchases=cum_purchases[i],
                    cum_value=cum_value[i],
                )
            )
        return rows

    @staticmethod
    def _visible(r: _DayRow, day: date) -> tuple[int, float]:
        """Purchases (and their value) of the click day `r.day` known by `day`."""
        k = min((day - r.day).days, len(r.cum_purchases) - 1)
        return r.cum_purchases[k], r.cum_value[k]

    def _write(self, conn: psycopg.Connection, rows: list[_DayRow], day: date) -> None:
        """Upsert `rows` as they are known on `day`, in one statement. Rates are derived in
        SQL from the counts, as the app's sync derives them: link_ctr and conversion_rate in
        PERCENT, roas = purchase_value / spend, cpm per 1000 impressions."""
        if not rows:
            return
        visible = [self._visible(r, day) for r in rows]
        ads = {id(r.ad): r.ad for r in rows}.values()
        for _, value in visible:
            if not math.isfinite(value):
                raise ValueError("non-finite purchase value in a performance row")
        params = {
            "ad": _array([r.ad.ad.meta_ad_id for r in rows], text=True),
            "date": _array([r.day.isoformat() for r in rows]),
            "spend": _array([f"{r.spend:.2f}" for r in rows]),
            "imps": _array([r.impressions for r in rows]),
            "reach": _array([r.reach for r in rows]),
            "clicks": _array([r.clicks for r in rows]),
            "carts": _array([r.add_to_carts for r in rows]),
            "purchases": _array([p for p, _ in visible]),
            "value": _array([f"{v:.2f}" for _, v in visible]),
            "a_ad": _array([a.ad.meta_ad_id for a in ads], text=True),
            "a_account": _array([a.handle.meta_ad_account_id for a in ads], text=True),
            "a_campaign": _array([a.handle.meta_campaign_id for a in ads], text=True),
            "a_adset": _array([a.adset_id for a in ads], text=True),
            "a_name": _array([a.ad_name for a in ads], text=True),
            "a_brand": _array([str(a.handle.brand_id) for a in ads]),
            "a_objective": _array([a.handle.objective for a in ads], text=True),
            "a_last": _array([a.ad.last_day.isoformat() for a in ads]),
            "at": sync_time(day),
        }
        with conn.transaction():
            conn.execute(_UPSERT, params)
        for r, (purchases, _) in zip(rows, visible, strict=True):
            r.written_purchases = purchases


def _array(values: Sequence[Any], text: bool = False) -> str:
    """A PostgreSQL array literal (much faster to send than element-wise adaptation)."""
    if text:
        items = ('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    else:
        items = (str(v) for v in values)
    return "{" + ",".join(items) + "}"


_UPSERT = """
WITH r AS (
    SELECT *
    FROM unnest(
        %(ad)s::text[], %(date)s::date[], %(spend)s::numeric[], %(imps)s::int[],
        %(reach)s::int[], %(clicks)s::int[], %(carts)s::int[], %(purchases)s::int[],
        %(value)s::numeric[]
    ) AS r (meta_ad_id, date, spend, impressions, reach, clicks, carts, purchases, value)
),
a AS (
    SELECT *
    FROM unnest(
        %(a_ad)s::text[], %(a_account)s::text[], %(a_campaign)s::text[],
        %(a_adset)s::text[], %(a_name)s::text[], %(a_brand)s::uuid[],
        %(a_objective)s::text[], %(a_last)s::date[]
    ) AS a (meta_ad_id, account, campaign, adset, name, brand_id, objective, last_day)
)
INSERT INTO public.meta_ads_performance AS m (
    meta_ad_account_id, meta_ad_id, meta_campaign_id, meta_adset_id, ad_name,
    date, spend, impressions, reach, frequency, link_clicks, link_cpc,
    add_to_carts, purchases, purchase_value, brand_id, cpm, ad_status,
    link_ctr, conversion_rate, roas, campaign_objective, created_at, updated_at)
SELECT
    a.account, r.meta_ad_id, a.campaign, a.adset, a.name,
    r.date, r.spend, r.impressions, r.reach,
    round(r.impressions::numeric / r.reach, 4),
    r.clicks,
    round(r.spend / nullif(r.clicks, 0), 4),
    r.carts, r.purchases, r.value, a.brand_id,
    round(r.spend * 1000 / r.impressions, 4),
    CASE WHEN r.date < a.last_day THEN 'ACTIVE' ELSE 'COMPLETED' END,
    round(100.0 * r.clicks / r.impressions, 4),
    round(100.0 * r.purchases / nullif(r.clicks, 0), 4),
    round(r.value / nullif(r.spend, 0), 4),
    a.objective, %(at)s::timestamptz, %(at)s::timestamptz
FROM r JOIN a USING (meta_ad_id)
ON CONFLICT (brand_id, meta_ad_id, date) DO UPDATE SET
    spend = EXCLUDED.spend,
    impressions = EXCLUDED.impressions,
    reach = EXCLUDED.reach,
    frequency = EXCLUDED.frequency,
    link_clicks = EXCLUDED.link_clicks,
    link_cpc = EXCLUDED.link_cpc,
    add_to_carts = EXCLUDED.add_to_carts,
    purchases = EXCLUDED.purchases,
    purchase_value = EXCLUDED.purchase_value,
    cpm = EXCLUDED.cpm,
    ad_status = EXCLUDED.ad_status,
    link_ctr = EXCLUDED.link_ctr,
    conversion_rate = EXCLUDED.conversion_rate,
    roas = EXCLUDED.roas,
    campaign_objective = EXCLUDED.campaign_objective,
    updated_at = EXCLUDED.updated_at
WHERE (m.purchases, m.purchase_value)
    IS DISTINCT FROM (EXCLUDED.purchases, EXCLUDED.purchase_value)
"""
