"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium): every page renders, an override click and an acknowledge click change the
database, screenshots go to out/. A missing browser is a failure, not a skip."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

from agents.dashboard.app import create_app
from agents.settings import DASHBOARD_ROLE, project_root
from sim import factories as f
from tests.support.security import login_dsn

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OUT = project_root() / "out" / "dashboard"


def _demo_data(db: psycopg.Connection) -> dict[str, uuid.UUID]:
    """A small genome: scored elements, a fatigued ad, a finished experiment with daily
    P(best), an interaction-bearing reward history, a flagged ad and an open alert."""
    # Glow's category prior comes from its one peer: the privacy minimum
    # (docs/learning.md#private-priors) lowered to one peer for this display test.
    db.execute(
        "UPDATE genome.settings SET value = '1' WHERE key IN "
        "('prior_min_peer_brands', 'prior_min_peer_organizations')"
    )
    b = f.brand(db, category="skincare", sharing=True, name="Glow")
    peer = f.brand(db, category="skincare", sharing=True, name="Peer")
    prun = f.ad_run(db, f.product(db, peer))
    f.bulk_rewards(db, prun, [({"hook_type": "authority"}, 0.8)] * 10, T0)
    run = f.ad_run(db, f.product(db, b), max_attempts=100)
    items = []
    for i in range(40):
        hook = ["authority", "urgency", "question"][i % 3]
        belief = ["scientific_proof", "convenience"][i % 2]
        score = 0.8 if hook == "authority" else (0.6 if belief == "convenience" else 0.3)
        items.append(({"hook_type": hook, "belief_angle": belief, "color_mode": "brand"}, score))
    ads = f.bulk_rewards(db, run, items, T0)
    db.execute("UPDATE genome.creative_element_rewards SET raw_ctr = 0.012, total_clicks = 12")
    db.execute("SELECT genome.update_scores(%s)", (T0 + dt.timedelta(days=1),))

    # Fatigue: one launched ad, delivery falling off with frequency.
    meta = f.link(db, ads[0])
    for d in range(14):
        day = T0.date() - dt.timedelta(days=14 - d)
        f.perf(db, meta, day, impressions=3000, clicks=60 if d < 7 else 36, brand_id=b)
        db.execute(
            "UPDATE meta_ads_performance SET reach = 2000, frequency = 1.5 WHERE meta_ad_id = %s "
            "AND date = %s",
            (meta, day),
        )
    db.execute("SELECT genome.detect_fatigue(%s)", (T0,))

    # A completed experiment with its daily analyses and causal effect.
    org = db.execute("SELECT organization_id FROM brands WHERE id = %s", (b,)).fetchone()[0]
    exp = db.execute(
        "INSERT INTO genome.experiments (organization_id, brand_id, name, hypothesis, "
        "test_variable, status, verdict, started_at, completed_at) VALUES (%s, %s, "
        "'Authority vs urgency', 'Authority hooks lift CTR', 'hook_type', 'completed', 'winner', "
        "%s, %s) RETURNING id",
        (org, b, T0 - dt.timedelta(days=6), T0),
    ).fetchone()[0]
    for day in range(6):
        p = 0.5 + 0.08 * day
        db.execute(
            "INSERT INTO genome.experiment_analyses (experiment_id, analysis_date, analyzed_at, "
            "arms, decision) VALUES (%s, %s, %s, %s, %s)",
            (
                exp,
                T0.date() - dt.timedelta(days=5 - day),
                T0,
                Jsonb(
                    [
                        {
                            "arm_index": 0,
                            "arm_name": "control",
                            "value": "urgency",
                            "prob_best": 1 - p,
                        },
                        {
                            "arm_index": 1,
                            "arm_name": "treatment",
                            "value": "authority",
                            "prob_best": p,
                        },
                    ]
                ),
                "winner" if day == 5 else "continue",
            ),
        )
    db.execute(
        "INSERT INTO genome.causal_effects (organization_id, brand_id, experiment_id, "
        "test_variable, control_value, treatment_value, primary_metric, effect_size, "
        "relative_effect, ci_lower, ci_upper, posterior_prob_positive, control_n, treatment_n) "
        "VALUES (%s, %s, %s, 'hook_type', 'urgency', 'authority', 'link_ctr', 0.004, 0.33, "
        "0.001, 0.007, 0.99, 20000, 20000)",
        (org, b, exp),
    )

    flagged = f.ad(db, run, {"hook_type": "question"}, status="flagged")
    # As if planned: every ad of the run was a counted generation attempt (runs cap attempts, docs/rewards.md).
    db.execute("UPDATE ad_runs SET attempts_count = max_attempts WHERE id = %s", (run,))
    alert = db.execute(
        "INSERT INTO genome.system_alerts (organization_id, brand_id, alert_type, severity, title, "
        "metric_value) VALUES (%s, %s, 'approval_rate', 'warning', 'Approval rate below 60%%', 0.5) "
        "RETURNING id",
        (org, b),
    ).fetchone()[0]
    return {"brand": b, "flagged": flagged, "alert": alert}


@pytest.fixture
def server(db_dsn: str) -> Iterator[str]:
    # As `genome dashboard` runs: logged in as its own role, not the superuser.
    srv = make_server("127.0.0.1", 0, create_app(login_dsn(db_dsn, DASHBOARD_ROLE)), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _after_post(driver: webdriver.Chrome) -> WebElement:
    """The message of the page a form post leads to: the click returns before the browser
    has loaded it, so wait for it (up to 30 s on a loaded machine)."""
    return WebDriverWait(driver, 30).until(
        expected_conditions.presence_of_element_located((By.ID, "msg"))
    )


def _shot(driver: webdriver.Chrome, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    return path


def test_dashboard_in_headless_chromium(
    db: psycopg.Connection, server: str, browser: webdriver.Chrome
) -> None:
    ids = _demo_data(db)
    b = ids["brand"]

    browser.get(server + "/")
    assert "Brands" in browser.title
    assert "Glow" in browser.find_element(By.ID, "brands").text
    _shot(browser, "index")

    browser.get(f"{server}/brand/{b}/scores")
    assert browser.find_element(By.ID, "dim-hook_type")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) >= 3  # one interval plot per scored dimension
    hooks = browser.find_element(
        By.XPATH, "//h2[@id='dim-hook_type']/following-sibling::table[1]"
    ).text
    # Most likely best first, with its interval.
    assert hooks.splitlines()[1].startswith("authority")
    _shot(browser, "scores")

    browser.get(f"{server}/brand/{b}/causal")
    graph = browser.find_element(By.CSS_SELECTOR, "svg.causal-graph")
    assert "hook_type=authority" in graph.text and "link_ctr" in graph.text
    assert browser.find_elements(By.CSS_SELECTOR, "path.edge.effect")
    assert "authority" in browser.find_element(By.ID, "effects").text
    _shot(browser, "causal")

    browser.get(f"{server}/brand/{b}/experiments")
    assert "Authority vs urgency" in browser.page_source
    assert browser.find_element(By.CSS_SELECTOR, ".verdict").text == "winner"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".experiment polyline")) == 2
    _shot(browser, "experiments")

    browser.get(f"{server}/brand/{b}/v1v2")
    assert browser.find_element(By.ID, "v1v2")
    _shot(browser, "v1v2")

    browser.get(f"{server}/brand/{b}/fatigue")
    assert "fatigued" in browser.find_element(By.ID, "fatigue").text
    _shot(browser, "fatigue")

    browser.get(f"{server}/brand/{b}/whitespace")
    assert browser.find_element(By.ID, "whitespace").find_elements(By.TAG_NAME, "tr")
    _shot(browser, "whitespace")
    assert not browser.find_elements(By.CSS_SELECTOR, "p.err"), browser.page_source[:2000]

    # The review queue: a click on Approve is a human override in the database.
    browser.get(server + "/review")
    row = browser.find_element(By.ID, f"ad-{ids['flagged']}")
    row.find_element(By.NAME, "reason").send_keys("on brand after all")
    _shot(browser, "review")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    assert "Recorded" in _after_post(browser).text
    status, human = db.execute(
        "SELECT final_status, human_override_status FROM generated_ads WHERE id = %s",
        (ids["flagged"],),
    ).fetchone()
    assert (status, human) == ("approved", "approved")
    override = db.execute(
        "SELECT human_status, human_reason, overridden_by, override_type "
        "FROM genome.ad_review_overrides WHERE generated_ad_id = %s",
        (ids["flagged"],),
    ).fetchall()
    assert override == [("approved", "on brand after all", "dashboard", "override_approve")]
    assert not browser.find_elements(By.ID, f"ad-{ids['flagged']}")
    _shot(browser, "review_after")

    # Alerts: acknowledge.
    browser.get(server + "/alerts")
    alert_row = browser.find_element(By.ID, f"alert-{ids['alert']}")
    assert "Approval rate" in alert_row.text
    alert_row.find_element(By.CSS_SELECTOR, "button.acknowledge").click()
    assert "Acknowledged" in _after_post(browser).text
    assert db.execute(
        "SELECT status, acknowledged_by FROM genome.system_alerts WHERE id = %s", (ids["alert"],)
    ).fetchone() == ("acknowledged", "dashboard")
    assert "acknowledged" in browser.find_element(By.ID, f"alert-{ids['alert']}").text
    _shot(browser, "alerts")


def test_dashboard_refuses_bad_input_without_writing(db: psycopg.Connection, db_dsn: str) -> None:
    client = create_app(login_dsn(db_dsn, DASHBOARD_ROLE)).test_client()
    assert client.get(f"/brand/{uuid.uuid4()}/scores").status_code == 404
    assert client.get("/brand/not-a-uuid/scores").status_code == 404
    b = f.brand(db)
    ad = f.ad(db, f.ad_run(db, f.product(db, b)), {"hook_type": "question"}, status="flagged")
    resp = client.post(f"/review/{ad}", data={"status": "maybe"}, follow_redirects=True)
    assert resp.status_code == 200 and b"GN410" in resp.data
    assert db.execute("SELECT count(*) FROM genome.ad_review_overrides").fetchone()[0] == 0
    resp = client.post(f"/alerts/{uuid.uuid4()}/acknowledge", follow_redirects=True)
    assert b"GN801" in resp.data
