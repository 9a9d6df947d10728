"""The simulated marketer: the human side of the app in the demo.

- Reviews a share of each day's AI decisions with a known standard that differs from the
  AI's default rubric in one way (text legibility, V2, is accepted from 5.5 instead of 7),
  and records agreements and disagreements through genome.record_override.
- Curates each brand's few-shot exemplar library (genome.add_exemplar) from the ads it
  reviewed: the AI's approvals it rejected (gold_reject), clear approvals (gold_approve) and
  approvals close to its bar or that only its V2 standard lets through (edge_case), a few
  a day up to the library's limits, so later review prompts carry the brand's bar.
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
# A clear approval for the library: every check at least this.
GOLD_MIN = 8.5
# An approval with a check within this of the human bar is an edge case for the library.
EDGE_MARGIN = 0.5


@dataclass
class Marketer:
    seed: int
    review_share: float = 0.6
    experiment_after_days: int = 21
    experiment_budget: float = 60.0
    experiment_days: int = 21
    exemplars_per_day: int = 3

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

    def curate_exemplars(self, conn: psycopg.Connection, p_now: datetime) -> int:
        """Add up to `exemplars_per_day` exemplars per brand from the ads this reviewer
        judged that have a descriptor and embedding (the AI approved them), keeping each
        type under the library's limit. Returns how many were added."""
        rows = conn.execute(
            """
            WITH judged AS (
                SELECT DISTINCT ON (o.generated_ad_id)
                    o.generated_ad_id, o.human_status, o.ai_check_scores, o.created_at
                FROM genome.ad_review_overrides AS o
                WHERE o.overridden_by = %(reviewer)s AND o.created_at <= %(now)s
                ORDER BY o.generated_ad_id, o.created_at DESC, o.id DESC
            ),
            scored AS (
                SELECT j.*, coalesce(j.ai_check_scores, g.review_check_scores) AS scores
                FROM judged AS j
                JOIN generated_ads AS g ON g.id = j.generated_ad_id
            ),
            candidates AS (
                SELECT
                    p.brand_id, g.id, j.created_at,
                    CASE
                        WHEN j.human_status = 'rejected' THEN 'gold_reject'
                        WHEN (SELECT min(s.value::float)
                              FROM jsonb_each_text(j.scores) AS s) >= %(gold)s
                            THEN 'gold_approve'
                        WHEN (j.scores ->> 'V2')::float < %(default_min)s
                          OR (SELECT min(s.value::float)
                              FROM jsonb_each_text(j.scores) AS s) < %(edge)s
                            THEN 'edge_case'
                    END AS exemplar_type
                FROM scored AS j
                JOIN generated_ads AS g ON g.id = j.generated_ad_id
                JOIN ad_runs AS r ON r.id = g.ad_run_id
                JOIN products AS p ON p.id = r.product_id
                WHERE g.visual_embedding IS NOT NULL AND j.scores IS NOT NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM genome.ad_quality_exemplars AS e WHERE e.generated_ad_id = g.id
                  )
            ),
            room AS (
                SELECT c.*, row_number() OVER (
                    PARTITION BY c.brand_id, c.exemplar_type ORDER BY c.created_at DESC, c.id
                ) AS nth,
                (SELECT count(*) FROM genome.ad_quality_exemplars AS e
                 WHERE e.brand_id = c.brand_id AND e.exemplar_type = c.exemplar_type
                   AND e.is_active) AS have,
                genome._setting_int('exemplar_limit_' || c.exemplar_type) AS type_limit
                FROM candidates AS c WHERE c.exemplar_type IS NOT NULL
            )
            SELECT brand_id, id, exemplar_type FROM room
            WHERE have + nth <= type_limit
            ORDER BY brand_id, nth, exemplar_type
            """,
            {
                "gold": GOLD_MIN,
                "default_min": HUMAN_MIN,
                "edge": HUMAN_MIN + EDGE_MARGIN,
                "reviewer": REVIEWER,
                "now": p_now,
            },
        ).fetchall()
        notes = {
            "gold_reject": "the AI approved it; the brand's reviewer rejected it",
            "gold_approve": "a clear approval: every check well above the bar",
            "edge_case": "accepted by the brand close to its bar (or with V2 under the default)",
        }
        added: dict[UUID, int] = {}
        for brand_id, ad_id, kind in rows:
            if added.get(brand_id, 0) >= self.exemplars_per_day:
                continue
            try:
                with conn.transaction():
                    conn.execute(
                        "SELECT genome.add_exemplar(%s, %s, %s, %s)",
                        (ad_id, kind, notes[kind], p_now),
                    )
            except psycopg.Error as exc:
                if exc.sqlstate != "GN713":  # the library is full: nothing more today
                    raise
                continue
            added[brand_id] = added.get(brand_id, 0) + 1
        return sum(added.values())

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
