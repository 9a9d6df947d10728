"""The demo report: every section present (with "none yet" when empty), images embedded,
headline figures computed from the history and the database."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import numpy as np
import psycopg
import pytest
from PIL import Image
from psycopg.types.json import Jsonb

from sim.ads import insert_ads
from sim.baselines import TwinMarkets
from sim.history import DayRecord, record_day
from sim.market import Market, sync_time
from sim.policies import DemoShadow
from sim.report import build_report, format_summary
from sim.truth import build_truth

D0 = date(2025, 6, 2)
SECTIONS = [
    "learning",
    "regret",
    "benchmark",
    "posteriors",
    "attribution",
    "experiments",
    "winners",
    "alerts",
    "calibration",
    "exemplars",
    "gallery",
    "cost",
    "jobs",
]


def _sections(page: str) -> dict[str, str]:
    found = dict(re.findall(r'<section id="([a-z]+)">(.*?)</section>', page, flags=re.S))
    return found


def test_empty_database_every_section_says_none_yet(db, tmp_path) -> None:
    truth = build_truth(1, 2)
    summary = build_report(db, [], truth, tmp_path)
    page = (tmp_path / "report.html").read_text()
    sections = _sections(page)
    assert list(sections) == SECTIONS
    for key, body in sections.items():
        assert "none yet" in body, key
    assert summary["report_html"] == str(tmp_path / "report.html")
    assert summary["v2_pct_of_oracle_last30"] is None
    assert summary["mabwiser_pct_of_oracle_last30"] is None
    assert summary["regret_ratio_vs_random"] is None
    assert summary["bench_families"] == 0 and "bench.json" in sections["benchmark"]
    assert summary["top_value_accuracy"] is None
    assert summary["experiments"] == summary["alerts"] == summary["winners"] == 0
    text = format_summary(summary)
    assert "% of oracle" in text and "n/a" in text


def test_headline_figures() -> None:
    from sim.report import _headline

    recs = [
        DayRecord(D0, 0, "b0", (("a", 0.5), ("b", 1.0)), (0.25, 0.25), 1.0, 2, 2, 2, (0.5, 0.4)),
        # outside the last 30 days: counts for regret only
        DayRecord(D0 - timedelta(days=40), 0, "b0", (("c", 0.0),), (0.0,), 1.0, 1, 1, 1, (0.2,)),
    ]
    h = _headline(recs)
    assert h["v2_pct_of_oracle_last30"] == pytest.approx(75.0)
    assert h["random_pct_of_oracle_last30"] == pytest.approx(25.0)
    assert h["regret_v2"] == pytest.approx(0.5 + 1.0)
    assert h["regret_random"] == pytest.approx(1.5 + 1.0)
    assert h["regret_ratio_vs_random"] == pytest.approx(1.5 / 2.5)
    assert h["mabwiser_pct_of_oracle_last30"] == pytest.approx(45.0)
    assert h["regret_mabwiser"] == pytest.approx(0.5 + 0.6 + 0.8)
    assert h["regret_ratio_vs_mabwiser"] == pytest.approx(1.5 / 1.9)
    assert h["mabwiser_regret_ratio_vs_random"] == pytest.approx(1.9 / 2.5)
    assert h["oracle_mean_reward_last30"] == pytest.approx(1.0)
    assert (h["ads_planned"], h["ads_launched"], h["days"]) == (3, 3, 2)
    # Histories saved before the objective metric existed: none of its figures.
    assert h["v2_pct_of_oracle_metric_last30"] is None
    assert h["metric_regret_ratio_v2_vs_random"] is None


def test_headline_on_the_objective_metric_weighs_brands_alike() -> None:
    from sim.report import _headline

    def rec(day, brand, v2, rnd, mab, oracle):
        n = len(v2)
        return DayRecord(
            day, brand, f"b{brand}", tuple((f"a{i}", 0.5) for i in range(n)), (0.5,) * n, 1.0,
            n, n, n, (0.5,) * n, v2_metrics=v2, random_metrics=rnd, oracle_metric=oracle,
            mabwiser_metrics=mab,
        )  # fmt: skip

    recs = [
        # A CTR brand (oracle 0.04) and a ROAS brand (oracle 20): shares, not raw sums.
        rec(D0, 0, (0.04, 0.02), (0.01, 0.01), (0.02, 0.02), 0.04),
        rec(D0, 1, (10.0, 20.0), (5.0, 3.0), (20.0, 10.0), 20.0),
        rec(D0 - timedelta(days=40), 0, (0.0,), (0.02,), (0.04,), 0.04),
    ]
    h = _headline(recs)
    assert h["v2_pct_of_oracle_metric_last30"] == pytest.approx(100 * (1 + 0.5 + 0.5 + 1) / 4)
    assert h["random_pct_of_oracle_metric_last30"] == pytest.approx(
        100 * (0.25 + 0.25 + 0.25 + 0.15) / 4
    )
    assert h["mabwiser_pct_of_oracle_metric_last30"] == pytest.approx(
        100 * (0.5 + 0.5 + 1 + 0.5) / 4
    )
    v2, rnd, mab = 0.5 + 0.5 + 1.0, 0.75 * 3 + 0.85 + 0.5, 0.5 + 0.5 + 0.5
    assert h["metric_regret_v2"] == pytest.approx(v2)
    assert h["metric_regret_ratio_v2_vs_random"] == pytest.approx(v2 / rnd)
    assert h["metric_regret_ratio_v2_vs_mabwiser"] == pytest.approx(v2 / mab)
    assert h["metric_regret_ratio_mabwiser_vs_random"] == pytest.approx(mab / rnd)


def _populate(db: psycopg.Connection, tmp_path) -> tuple:
    truth = build_truth(31, 2)
    market = Market(truth)
    handles = market.setup(db, D0)
    twins = TwinMarkets(truth)
    shadow = DemoShadow(truth, 31)
    rng = np.random.default_rng(5)
    history = []
    # The report's storage root (out/storage): images under their keys <organization>/<file>.
    storage = tmp_path / "out" / "storage"
    for k in range(5):
        day = D0 + timedelta(days=k)
        for h in handles:
            tags = [truth.random_tags(rng) for _ in range(3)]
            paths = []
            for j in range(3):
                key = f"{h.organization_id}/{h.index}_{k}_{j}.png"
                (storage / key).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (400, 400), (40 * j, 100, 200)).save(storage / key)
                paths.append(key)
            ids = insert_ads(db, h, tags, sync_time(day), storage_paths=paths)
            db.execute(
                "UPDATE generated_ads SET final_status = 'rejected' WHERE id = %s", (ids[2],)
            )
            market.launch_many(db, ids[:2], day)
            history.append(record_day(db, truth, twins, h, day, ids, ids[:2], shadow, k))
        market.simulate_day(db, day)
        shadow.learn(k)
    # What the genome believes: brand-level scores that rank the truth's best value first,
    # except one planted miss (brand 0, color_mode).
    for h in handles:
        best = truth.best_values(h.index)
        for dim, values in truth.dimensions.items():
            for v in values:
                good = v == best[dim]
                if h.index == 0 and dim == "color_mode":
                    good = not good and v == values[(values.index(best[dim]) + 1) % len(values)]
                a, b = (9.0, 2.0) if good else (3.0, 6.0)
                db.execute(
                    """
                    INSERT INTO genome.creative_element_scores
                        (organization_id, brand_id, element_dimension, element_value,
                         alpha, beta, posterior_alpha, posterior_beta, n_rewards)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                    """,
                    (h.organization_id, h.brand_id, dim, v, a, b, a, b, int(a + b - 2)),
                )
    h = handles[0]
    db.execute(
        """
        INSERT INTO genome.system_alerts (organization_id, brand_id, alert_type, severity, title)
        VALUES (%s, %s, 'approval_rate', 'critical', 'Approval rate below 40%%')
        """,
        (h.organization_id, h.brand_id),
    )
    exp = db.execute(
        """
        INSERT INTO genome.experiments (organization_id, brand_id, name, hypothesis, test_variable,
                                        status)
        VALUES (%s, %s, 'hook test', 'authority beats story', 'hook_type', 'running')
        RETURNING id
        """,
        (h.organization_id, h.brand_id),
    ).fetchone()[0]
    db.execute(
        """
        INSERT INTO genome.experiment_arms (experiment_id, arm_name, arm_index, test_variable_value)
        VALUES (%s, 'control', 0, 'story'), (%s, 'treatment', 1, 'authority')
        """,
        (exp, exp),
    )
    default = db.execute(
        "SELECT id, check_weights, check_thresholds FROM genome.quality_scoring_config "
        "WHERE organization_id = %s",
        (h.organization_id,),
    ).fetchone()
    db.execute(
        """
        INSERT INTO genome.quality_scoring_config (organization_id, version, check_weights,
            check_thresholds, parent_config_id, calibrated_from_overrides)
        VALUES (%s, 'calibrated-1', %s, %s, %s, 24)
        """,
        (h.organization_id, Jsonb(default[1]), Jsonb(default[2]), default[0]),
    )
    ad = db.execute("SELECT id FROM generated_ads LIMIT 1").fetchone()[0]
    db.execute(
        """
        INSERT INTO genome.provider_calls (generated_ad_id, operation, provider, model, ok,
                                           latency_ms, cost_usd)
        VALUES (%s, 'generate', 'offline', 'offline-v1', true, 3, 0),
               (%s, 'review', 'anthropic', 'claude', true, 900, 0.03)
        """,
        (ad, ad),
    )
    return truth, history


def _bench_json(path) -> None:
    """A `python -m bench --only learning` report, its learning part from bench.learning's
    own functions (two families, two seeds, hand-made scores)."""
    from bench.harness import BenchResult
    from bench.learning import FamilyResult, Scores, _details

    def sc(pct: float, regret: float) -> Scores:
        return Scores(pct, regret, [True, False], None, [pct])

    policies = ("project", "mabwiser", "random", "oracle")
    fams = {
        "additive": {"project": (91, 10), "mabwiser": (65, 40), "random": (25, 100)},
        "sparse": {"project": (80, 30), "mabwiser": (70, 30), "random": (30, 60)},
    }
    res = BenchResult(
        "learning",
        {"seeds": 2, "days": 50, "ads_per_day": 6, "families": list(fams), "policies": policies},
    )
    for fam, by_policy in fams.items():
        scores = {p: [sc(*v), sc(*v)] for p, v in by_policy.items()}
        scores["oracle"] = [sc(100.0, 0.0), sc(100.0, 0.0)]
        fr = FamilyResult(fam, scores)
        res.details[fam] = {
            **_details(fr, {"seconds": {}, "job_runs": {}, "off_policy": []}),
            "description": fam,
        }
    report = {
        "finished_at": "2026-12-01T10:00:00+00:00",
        "command": ["python", "-m", "bench", "--only", "learning"],
        "benchmarks": [{"name": "selection", "rows": []}, res.to_json()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))


def test_report_with_data_embeds_images_and_fills_sections(db, tmp_path) -> None:
    truth, history = _populate(db, tmp_path)
    out = tmp_path / "out"
    _bench_json(out / "bench.json")
    summary = build_report(db, history, truth, out)
    page = (out / "report.html").read_text()
    sections = _sections(page)
    assert list(sections) == SECTIONS
    for key in (
        "learning",
        "regret",
        "posteriors",
        "experiments",
        "alerts",
        "calibration",
        "gallery",
        "cost",
    ):
        assert "none yet" not in sections[key].split("<table")[0] or key == "cost", key
    for key in ("learning", "regret", "posteriors", "gallery"):
        assert 'src="data:image/png;base64,' in sections[key], key
    assert sections["winners"].count("none yet") == 1
    assert "hook test" in sections["experiments"] and "authority" in sections["experiments"]
    assert "Approval rate below 40%" in sections["alerts"]
    assert "calibrated-1" in sections["calibration"]
    assert "rejected" in sections["gallery"] and "approved" in sections["gallery"]
    # one image file per brand plus the two curves, all embedded and on disk
    assert sorted(summary["images"]) == sorted(
        ["learning_curve.png", "regret.png", "posteriors_brand1.png", "posteriors_brand2.png"]
    )
    for name in summary["images"]:
        assert (out / name).stat().st_size > 1000
    assert "src=" not in page.replace('src="data:', "")  # self-contained
    # 2 brands x 5 dimensions judged, one planted miss
    assert summary["top_value_evaluated"] == 10
    assert summary["top_value_accuracy"] == pytest.approx(0.9)
    assert summary["strongest_dimension_accuracy"] == 1.0
    assert (summary["experiments"], summary["alerts"], summary["calibrations"]) == (1, 1, 1)
    n_ads = db.execute("SELECT count(*) FROM generated_ads").fetchone()[0]
    assert summary["total_cost_usd"] == pytest.approx(0.03)
    assert summary["cost_per_ad_usd"] == pytest.approx(0.03 / n_ads)
    assert summary["ads_launched"] == 20 and summary["ads_planned"] == 30
    assert 0 < summary["v2_pct_of_oracle_last30"] <= 100
    # V2, the shadow MABWiser policy, random and the oracle side by side, each computed from
    # the history (same number of ads a day).
    n_mab = sum(len(r.mabwiser_rewards) for r in history)
    assert n_mab == summary["ads_launched"]
    mab = sum(x for r in history for x in r.mabwiser_rewards)
    mab_orc = sum(r.oracle_reward * len(r.mabwiser_rewards) for r in history)
    assert summary["mabwiser_pct_of_oracle_last30"] == pytest.approx(100 * mab / mab_orc)
    assert summary["regret_mabwiser"] == pytest.approx(mab_orc - mab)
    assert summary["regret_ratio_vs_mabwiser"] == pytest.approx(
        summary["regret_v2"] / summary["regret_mabwiser"]
    )
    learning = sections["learning"]
    for policy in (
        "Creative Genome (V2)",
        "MABWiser TS per dimension (shadow)",
        "random",
        "oracle",
    ):
        assert f"<td>{policy}" in learning, policy
    assert f"{summary['mabwiser_pct_of_oracle_last30']:.1f}%" in learning
    assert f"{summary['random_pct_of_oracle_last30']:.1f}%" in learning
    assert f"<td>{summary['regret_ratio_vs_mabwiser']:.2f}</td>" in learning
    # The same ads on the brands' objective metric (CTR; ROAS for the sales brand), each a
    # share of its brand's best combination under the truth.
    shares = [m / truth.oracle_metric(r.brand_index) for r in history for m in r.mabwiser_metrics]
    assert len(shares) == n_mab and all(0 < x <= 1 for x in shares)
    assert summary["mabwiser_pct_of_oracle_metric_last30"] == pytest.approx(100 * np.mean(shares))
    v2_tags = dict(db.execute("SELECT id::text, element_tags FROM generated_ads").fetchall())
    assert [m for r in history for m in r.v2_metrics] == pytest.approx(
        [truth.true_metric(r.brand_index, v2_tags[a]) for r in history for a, _ in r.v2_ads]
    )
    assert f"{summary['random_pct_of_oracle_metric_last30']:.1f}%" in learning
    # The learning benchmark's table, read from out/bench.json with where it comes from.
    bench = sections["benchmark"]
    assert summary["bench_families"] == 2
    assert "python -m bench --only learning" in bench and "2026-12-01" in bench
    # per family: project, MABWiser, random, oracle %; the project's regret over random's
    # and over MABWiser's; its top-value accuracy
    rows = re.findall(r"<tr><td>(additive|sparse)</td>(.*?)</tr>", bench)
    cells = {fam: re.findall(r"<td>(.*?)</td>", rest) for fam, rest in rows}
    assert cells == {
        "additive": ["91", "65", "25", "100", "0.1", "0.25", "50"],
        "sparse": ["80", "70", "30", "100", "0.5", "1", "50"],
    }
    assert summary["regret_random"] > 0
    text = format_summary(summary)
    assert "V2 reward, % of oracle (last 30 days)" in text
    assert "regret ratio" in text and "top-value accuracy" in text
    assert "90%" in text


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # (value, reversal, finding) of the planted hook in each brand's attribution
        ([("curiosity_gap", True, "finding"), ("curiosity_gap", False, "noise")], True),
        ([("curiosity_gap", False, "noise"), ("curiosity_gap", False, "insufficient")], False),
        # Too few ads of the hook in every brand (the learner stopped choosing it): not
        # judged, which the headline says, rather than "not flagged".
        ([("curiosity_gap", False, "insufficient"), ("story", True, "finding")], None),
    ],
)
def test_the_planted_reversal_is_judged_only_where_attribution_has_a_finding(
    monkeypatch: pytest.MonkeyPatch, rows, expected
) -> None:
    import sim.report as report

    truth = build_truth(3, len(rows))
    tables = iter(report.Table(["value", "reversal", "finding"], [row]) for row in rows)
    monkeypatch.setattr(report, "_query", lambda conn, sql, params=None: next(tables))
    _, flagged = report._attribution(None, truth, {i: f"brand-{i}" for i in range(len(rows))}, D0)
    assert flagged is expected
    label = dict(report._kpis({"simpson_flagged": flagged}))["planted Simpson reversal flagged"]
    assert label.startswith({True: "yes", False: "no", None: "n/a"}[expected])
