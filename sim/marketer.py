"""The simulated marketer: the human side of the app in the demo.

- Reviews a share of each day's AI decisions with a known standard that differs from the
  AI's default rubric in one way (text legibility, V2, is accepted from 5.5 instead of 7),
  and records agreements and disagreements through genome.record_override.
- Approves calibrated quality configs that the weekly job wrote (activate_quality_config).
- Proposes one single-variable experiment per brand once the genome has some evidence, and
  lets the demo launch its arms like any approved ad.

The standard is fixed and stated here, so the report can show calibration moving the AI's
V2 threshold toward it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

REVIEWER = "sim-marketer"
# The human standard: every check at least 7, except text legibility (V2) from 5.5.
HUMAN_MIN = 7.0
HUMAN_MIN_BY_CHECK = {"V2": 5.5}


@dataclass
class Marketer:
    seed: int
    review_share: float = 0.6
    experiment_after_days: int = 21
    experiment_budget: float = 60.0
    experiment_days: int = 21

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng([self.seed, 77])
        self._proposed: set[UUID] = set()

    def human_verdict(self, scores: dict[str, float] | None, reason: str | None) -> str:
        if not scores:  # rejected by the defect scan: a human agrees
            return "rejected"
        if reason and "duplicate" in reason:
            return "rejected"
        ok = all(s >= HUMAN_MIN_BY_CHECK.get(code, HUMAN_MIN) for code, s in scores.items())
        return "approved" if ok else "rejected"

    def review(self, conn: psycopg.Connection, since: datetime, p_now: datetime) -> int:
        """Look at a share of the ads decided since `since` and record a human decision."""
        rows = conn.execute(
            """
            SELECT g.id, g.review_check_scores, g.decision_reason
            FROM generated_ads AS g
            WHERE g.element_tags_source = 'plan' AND g.final_status <> 'pending'
              AND g.human_override_status IS NULL AND g.created_at >= %s
            ORDER BY g.created_at, g.id
            """,
            (since,),
        ).fetchall()
        done = 0
        for ad_id, scores, reason in rows:
            if self._rng.random() >= self.review_share:
                continue
            verdict = self.human_verdict(scores, reason)
            corrections = (
                {c: max(s, HUMAN_MIN) for c, s in scores.items() if c in HUMAN_MIN_BY_CHECK}
                if scores and verdict == "approved"
                else {}
            )
            conn.execute(
                "SELECT genome.record_override(%s, %s, %s, %s, %s, %s)",
                (ad_id, verdict, "simulated marketer review", Jsonb(corrections), REVIEWER, p_now),
            )
            done += 1
        return done

    def approve_calibrations(self, conn: psycopg.Connection, p_now: datetime) -> list[UUID]:
        """Activate calibrated versions that lower the weighted error on their overrides."""
        rows = conn.execute(
            """
            SELECT c.id FROM genome.quality_scoring_config AS c
            WHERE NOT c.is_active AND c.activated_at IS NULL AND c.calibrated_from_overrides > 0
              AND coalesce((c.calibration_metrics #>> '{after,weighted_error}')::float, 1)
                  <= coalesce((c.calibration_metrics #>> '{before,weighted_error}')::float, 0)
            ORDER BY c.created_at
            """
        ).fetchall()
        for (config_id,) in rows:
            conn.execute(
                "SELECT genome.activate_quality_config(%s, %s, %s)", (config_id, REVIEWER, p_now)
            )
        return [r[0] for r in rows]

    def propose_experiments(
        self, conn: psycopg.Connection, brands: list[tuple[UUID, UUID]], p_now: datetime
    ) -> tuple[list[UUID], list[str]]:
        """Once per brand: test the genome's best hook against its runner-up. Returns the
        experiments created and the refusals (e.g. the budget gate's message)."""
        created: list[UUID] = []
        refusals: list[str] = []
        for brand_id, product_id in brands:
            if brand_id in self._proposed:
                continue
            top = conn.execute(
                """
                SELECT element_value FROM genome.creative_element_scores
                WHERE brand_id = %s AND product_id IS NULL AND element_dimension = 'hook_type'
                  AND n_rewards >= 3
                ORDER BY posterior_alpha / (posterior_alpha + posterior_beta) DESC
                LIMIT 2
                """,
                (brand_id,),
            ).fetchall()
            if len(top) < 2:
                continue
            try:
                with conn.transaction():
                    exp_id = conn.execute(
                        "SELECT genome.propose_experiment(%s, %s, 'hook_type', %s::text, "
                        "%s::text[], %s::text, %s::numeric, %s::integer, 'link_ctr', 0.20, %s, "
                        "true)",
                        (
                            brand_id,
                            product_id,
                            top[0][0],
                            [top[1][0]],
                            f"{top[0][0]} beats {top[1][0]} on CTR with everything else held",
                            self.experiment_budget,
                            self.experiment_days,
                            p_now,
                        ),
                    ).fetchone()[0]  # type: ignore[index]
            except psycopg.Error as exc:
                refusals.append(f"brand {brand_id}: {exc.diag.message_primary}")
            else:
                created.append(exp_id)
            self._proposed.add(brand_id)
        return created, refusals
