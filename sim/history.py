"""What the demo loop records per day and brand, for the report."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from sim.baselines import TwinMarkets
from sim.market import BrandHandle
from sim.policies import DemoShadow
from sim.truth import Truth


@dataclass(frozen=True)
class DayRecord:
    """One brand on one virtual day.

    v2_ads: the ads V2 launched that day, each (generated_ad_id, true reward of its
    elements under the population audience mix); random_rewards: the random twin's ads
    (same number); oracle_reward: the best true reward possible for the brand;
    mabwiser_rewards: the shadow MABWiser policy's ads that day (same number; empty when
    the run had none, sim.policies.DemoShadow). The *_metrics fields score the same ads by
    the brand's objective metric (Truth.objective_metric: CTR, ROAS for sales; empty or
    None in histories saved before they existed)."""

    day: date
    brand_index: int
    brand_id: str
    v2_ads: tuple[tuple[str, float], ...]
    random_rewards: tuple[float, ...]
    oracle_reward: float
    planned: int
    approved: int
    launched: int
    mabwiser_rewards: tuple[float, ...] = ()
    v2_metrics: tuple[float, ...] = ()
    random_metrics: tuple[float, ...] = ()
    oracle_metric: float | None = None
    mabwiser_metrics: tuple[float, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "brand_index": self.brand_index,
            "brand_id": self.brand_id,
            "v2_ads": [list(a) for a in self.v2_ads],
            "random_rewards": list(self.random_rewards),
            "oracle_reward": self.oracle_reward,
            "planned": self.planned,
            "approved": self.approved,
            "launched": self.launched,
            "mabwiser_rewards": list(self.mabwiser_rewards),
            "v2_metrics": list(self.v2_metrics),
            "random_metrics": list(self.random_metrics),
            "oracle_metric": self.oracle_metric,
            "mabwiser_metrics": list(self.mabwiser_metrics),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DayRecord:
        return cls(
            day=date.fromisoformat(str(d["day"])),
            brand_index=int(d["brand_index"]),
            brand_id=str(d["brand_id"]),
            v2_ads=tuple((str(a), float(r)) for a, r in d["v2_ads"]),
            random_rewards=tuple(float(r) for r in d["random_rewards"]),
            oracle_reward=float(d["oracle_reward"]),
            planned=int(d["planned"]),
            approved=int(d["approved"]),
            launched=int(d["launched"]),
            mabwiser_rewards=tuple(float(r) for r in d.get("mabwiser_rewards", ())),
            v2_metrics=tuple(float(r) for r in d.get("v2_metrics", ())),
            random_metrics=tuple(float(r) for r in d.get("random_metrics", ())),
            oracle_metric=None if d.get("oracle_metric") is None else float(d["oracle_metric"]),
            mabwiser_metrics=tuple(float(r) for r in d.get("mabwiser_metrics", ())),
        )


def _ad_scores(
    conn: psycopg.Connection, truth: Truth, brand_index: int, ad_ids: Sequence[UUID | str]
) -> list[tuple[str, float, float]]:
    """Per ad its id, the true reward and the expected objective metric of its elements
    (read from generated_ads.element_tags; the audience context is dropped so V2, random
    and oracle are scored on the same audience mix)."""
    if not ad_ids:
        return []
    ids = [UUID(str(i)) for i in ad_ids]
    tags = dict(
        conn.execute(
            "SELECT id, element_tags FROM public.generated_ads WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    )
    missing = [i for i in ids if i not in tags]
    if missing:
        raise ValueError(f"generated ads not found: {missing}")
    out = []
    for i in ids:
        elements = truth.element_tags(tags[i] or {})
        out.append(
            (
                str(i),
                truth.true_reward(brand_index, elements),
                truth.true_metric(brand_index, elements),
            )
        )
    return out


def record_day(
    conn: psycopg.Connection,
    truth: Truth,
    twins: TwinMarkets,
    brand: BrandHandle,
    day: date,
    planned_ids: Sequence[UUID | str],
    launched_ids: Sequence[UUID | str],
    shadow: DemoShadow | None = None,
    day_index: int = 0,
) -> DayRecord:
    """The day's record for one brand: V2's launched ads scored by the truth, and the
    twins (and the shadow MABWiser policy, when given) with the same number of ads."""
    approved = 0
    if planned_ids:
        approved = conn.execute(
            "SELECT count(*) FROM public.generated_ads "
            "WHERE id = ANY(%s) AND final_status = 'approved'",
            ([UUID(str(i)) for i in planned_ids],),
        ).fetchone()[0]  # type: ignore[index]
    scores = _ad_scores(conn, truth, brand.index, launched_ids)
    twin = twins.day(brand.index, day, len(scores))
    mab = ((), ()) if shadow is None else shadow.day_scored(brand.index, day_index, len(scores))
    return DayRecord(
        day=day,
        brand_index=brand.index,
        brand_id=str(brand.brand_id),
        v2_ads=tuple((i, r) for i, r, _ in scores),
        random_rewards=twin.random_rewards,
        oracle_reward=twin.oracle_reward,
        planned=len(planned_ids),
        approved=int(approved),
        launched=len(scores),
        mabwiser_rewards=mab[0],
        v2_metrics=tuple(m for _, _, m in scores),
        random_metrics=twin.random_metrics,
        oracle_metric=twin.oracle_metric,
        mabwiser_metrics=mab[1],
    )


def save_history(history: Iterable[DayRecord], path: Path) -> None:
    path.write_text(json.dumps([r.to_json() for r in history], indent=1))


def load_history(path: Path) -> list[DayRecord]:
    return [DayRecord.from_json(d) for d in json.loads(path.read_text())]
