"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium), logged in as people of two organizations: login and logout, CSRF refusal, an
organization's reviewer neither sees nor acts on another organization's ads (also by typing
its URLs), overrides recorded under the logged-in user, an admin's calibration approval, a
viewer who cannot act, and every page with its screenshot under out/dashboard. One database,
one server and one browser for the module (the tests run in order and share them). A missing
browser is a failure, not a skip."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from PIL import Image
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

from agents import cli
from agents.dashboard.app import create_app
from agents.dashboard.users import add_user, disable_user, list_users
from agents.settings import DASHBOARD_ROLE, project_root
from sim import factories as f
from tests.support import TEST_DB
from tests.support.security import login_dsn

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OUT = project_root() / "out" / "dashboard"
PASSWORD = "correct horse battery"


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


def _png(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (1080, 1080), colour).save(path, "PNG")


def _org_of(db: psycopg.Connection, ad: uuid.UUID) -> uuid.UUID:
    return db.execute(
        "SELECT b.organization_id FROM generated_ads g JOIN ad_runs r ON r.id = g.ad_run_id "
        "JOIN products p ON p.id = r.product_id JOIN brands b ON b.id = p.brand_id "
        "WHERE g.id = %s",
        (ad,),
    ).fetchone()[0]


def _with_image(db: psycopg.Connection, storage: Path, ad: uuid.UUID, colour: tuple) -> None:
    org = _org_of(db, ad)
    key = f"{org}/{ad}.png"
    _png(storage / key, colour)
    db.execute("UPDATE generated_ads SET storage_path = %s WHERE id = %s", (key, ad))


def _reviews(db: psycopg.Connection, ad: uuid.UUID) -> None:
    """A borderline review and a second opinion with notes, as the review agents write them."""
    org = _org_of(db, ad)
    config = db.execute(
        "SELECT id FROM genome.quality_scoring_config WHERE organization_id = %s AND is_active",
        (org,),
    ).fetchone()[0]
    codes = [r[0] for r in db.execute("SELECT code FROM genome.review_checks").fetchall()]
    for stage, reviewer, low, notes in (
        ("review", "claude", 4.0, "Text slightly blurred at the bottom"),
        ("second_opinion", "gemini", 6.0, "Acceptable; the product is clear"),
    ):
        scores = {c: (low if c == "V9" else 7.5) for c in codes}
        db.execute(
            "INSERT INTO genome.ad_reviews (generated_ad_id, stage, reviewer, model_used, "
            "config_id, check_scores, weighted_score, verdict, raw_output) VALUES "
            "(%s, %s, %s, %s, %s, %s, 6.1, 'borderline', %s)",
            (
                ad,
                stage,
                reviewer,
                f"{reviewer}-model",
                config,
                Jsonb(scores),
                Jsonb({"notes": notes}),
            ),
        )
    db.execute(
        'UPDATE generated_ads SET visual_descriptor = \'{"scene": "bottle on a table"}\', '
        "visual_embedding = array_fill(0.01, ARRAY[1536])::vector, "
        "visual_embedding_model = 'text-embedding-3-small' WHERE id = %s",
        (ad,),
    )


def _world(db: psycopg.Connection, storage: Path) -> dict[str, uuid.UUID]:
    """Organization A (brand Glow: the demo genome, a flagged ad with image and reviews, a
    proposed calibrated config, model costs) and organization B (brand Rival: its own flagged
    ad and alert), and the users of both."""
    ids = _demo_data(db)
    org_a = db.execute(
        "SELECT organization_id FROM brands WHERE id = %s", (ids["brand"],)
    ).fetchone()[0]
    _with_image(db, storage, ids["flagged"], (200, 60, 60))
    _reviews(db, ids["flagged"])
    active = db.execute(
        "SELECT * FROM genome.quality_scoring_config WHERE organization_id = %s AND is_active",
        (org_a,),
    ).fetchone()
    metrics = {
        "before": {"fp_rate": 0.30, "fn_rate": 0.10, "weighted_error": 0.25},
        "after": {"fp_rate": 0.12, "fn_rate": 0.08, "weighted_error": 0.14},
    }
    ids["config"] = db.execute(
        "INSERT INTO genome.quality_scoring_config (organization_id, version, check_weights, "
        "check_thresholds, calibrated_from_overrides, calibration_metrics, parent_config_id) "
        "SELECT organization_id, 'v2-calibrated', check_weights, check_thresholds, 40, %s, id "
        "FROM genome.quality_scoring_config WHERE id = %s RETURNING id",
        (Jsonb(metrics), active[0]),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO genome.provider_calls (generated_ad_id, operation, provider, model, ok, "
        "latency_ms, cost_usd) VALUES (%s, 'generate', 'gemini', 'gemini-image', true, 900, "
        "0.039), (%s, 'review', 'anthropic', 'claude-review', true, 700, 0.012)",
        (ids["flagged"], ids["flagged"]),
    )
    org_b = f.org(db, "Rival Org")
    rival = f.brand(db, org_b, name="Rival")
    ids["b_ad"] = f.ad(
        db, f.ad_run(db, f.product(db, rival)), {"hook_type": "question"}, status="flagged"
    )
    _with_image(db, storage, ids["b_ad"], (60, 60, 200))
    ids["b_brand"] = rival
    ids["b_alert"] = db.execute(
        "INSERT INTO genome.system_alerts (organization_id, brand_id, alert_type, severity, "
        "title, metric_value) VALUES (%s, %s, 'approval_rate', 'critical', 'Rival secret', 0.2) "
        "RETURNING id",
        (org_b, rival),
    ).fetchone()[0]
    ids["org_a"], ids["org_b"] = org_a, org_b
    return ids


@pytest.fixture(scope="module")
def module_dsn(postgresql_noproc) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One clone of the migrated template for the whole module (dropped afterwards)."""
    name = f"{TEST_DB}_dashboard"
    params = {
        "host": postgresql_noproc.host,
        "port": postgresql_noproc.port,
        "user": postgresql_noproc.user,
    }
    admin = make_conninfo(**params, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgresql_noproc.template_dbname}"')
    yield make_conninfo(**params, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def mdb(module_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(module_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def world(
    mdb: psycopg.Connection, module_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    storage = tmp_path_factory.mktemp("storage")
    ids: dict = _world(mdb, storage)
    for name, org, role in (
        ("alice", ids["org_a"], "reviewer"),
        ("vera", ids["org_a"], "viewer"),
        ("adam", ids["org_a"], "admin"),
        ("bob", ids["org_b"], "reviewer"),
        ("gone", ids["org_a"], "admin"),
    ):
        add_user(module_dsn, name, str(org), role, PASSWORD)
    assert disable_user(module_dsn, "gone")
    ids["storage"] = storage
    return ids


@pytest.fixture(scope="module")
def server(module_dsn: str, world: dict) -> Iterator[str]:
    # As `genome dashboard` runs: logged in as its own role, not the superuser.
    app = create_app(
        login_dsn(module_dsn, DASHBOARD_ROLE),
        secure_cookies=False,
        storage_dir=str(world["storage"]),
    )
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
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
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _after_post(driver: webdriver.Chrome, expected: str) -> str:
    """The message of the page a form post leads to, once it says `expected`: the click
    returns before the browser has loaded that page, and the page it was clicked on may
    still show its own #msg (a post after a post) or go stale while it is read, so wait for
    the text itself (up to 30 s on a loaded machine)."""

    def message(d: webdriver.Chrome) -> str | None:
        try:
            text = d.find_element(By.ID, "msg").text
        except (NoSuchElementException, StaleElementReferenceException):
            return None
        except WebDriverException as exc:
            # Chrome reports an element of the page being replaced this way too (a CI run
            # failed on it), not as a stale reference: the same wait, anything else raised.
            if "does not belong to the document" in str(exc):
                return None
            raise
        return text if expected in text else None

    try:
        return WebDriverWait(driver, 30).until(message)
    except TimeoutException:
        shown = driver.find_elements(By.ID, "msg")
        raise AssertionError(
            f"no message with {expected!r}; the page shows {[m.text for m in shown]}"
        ) from None


def _wait_text(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, 30).until(lambda d: text in d.page_source)


def _shot(driver: webdriver.Chrome, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    return path


def _login(driver: webdriver.Chrome, server: str, name: str, password: str = PASSWORD) -> None:
    driver.delete_all_cookies()
    driver.get(server + "/login")
    driver.find_element(By.NAME, "username").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.ID, "who") or d.find_elements(By.ID, "login-error")
    )


def _forge_post(driver: webdriver.Chrome, action: str, fields: dict[str, str]) -> None:
    """Post a form the page does not offer (as a user typing another URL would), with the
    session's own valid CSRF token taken from the page's logout form."""
    driver.execute_script(
        """
        const f = document.createElement('form');
        f.method = 'post'; f.action = arguments[0];
        const fields = Object.assign({csrf_token:
            document.querySelector('input[name=csrf_token]').value}, arguments[1]);
        for (const [k, v] of Object.entries(fields)) {
            const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
        """,
        action,
        fields,
    )


def _override_rows(db: psycopg.Connection, ad: uuid.UUID) -> list[tuple]:
    return db.execute(
        "SELECT human_status, human_reason, overridden_by, override_type "
        "FROM genome.ad_review_overrides WHERE generated_ad_id = %s ORDER BY created_at",
        (ad,),
    ).fetchall()


def test_login_and_logout(
    module_dsn: str, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    browser.delete_all_cookies()
    browser.get(server + "/review")
    assert "/login" in browser.current_url  # every page needs a login
    _shot(browser, "login")
    _login(browser, server, "alice", "wrong password!")
    assert browser.find_element(By.ID, "login-error")
    _login(browser, server, "gone")  # a disabled user cannot log in
    assert browser.find_element(By.ID, "login-error")
    _login(browser, server, "alice")
    assert "alice · reviewer" in browser.find_element(By.ID, "who").text
    cookie = browser.get_cookie("session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    browser.find_element(By.ID, "logout").click()
    WebDriverWait(browser, 30).until(lambda d: "/login" in d.current_url)
    browser.get(server + "/review")
    assert "/login" in browser.current_url
    users = {r[0]: r[1:] for r in list_users(module_dsn)}
    assert users["alice"][0] == "reviewer" and users["gone"][2] is False


def test_a_form_without_its_csrf_token_is_refused(
    mdb: psycopg.Connection, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    _login(browser, server, "alice")
    browser.get(server + "/review")
    row = browser.find_element(By.ID, f"ad-{world['flagged']}")
    browser.execute_script("arguments[0].querySelector('input[name=csrf_token]').remove()", row)
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    _wait_text(browser, "CSRF")
    assert "The CSRF token is missing" in browser.page_source
    assert _override_rows(mdb, world["flagged"]) == []


def test_reviewer_sees_the_ad_and_the_override_records_the_user(
    mdb: psycopg.Connection, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    _login(browser, server, "alice")
    browser.get(server + "/review")
    row = browser.find_element(By.ID, f"ad-{world['flagged']}")
    thumb = row.find_element(By.CSS_SELECTOR, "img.thumb")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return arguments[0].complete", thumb)
    )
    assert browser.execute_script("return arguments[0].naturalWidth", thumb) == 240
    link = row.find_element(By.CSS_SELECTOR, "a[target=_blank]").get_attribute("href")
    assert link.endswith(f"/ad/{world['flagged']}/image")
    text = row.text
    # Each check by its name with its score, the reviewers' notes, the second opinion.
    assert "ai_artifacts" in text and "offer_accuracy" in text and "4.0" in text
    assert "Text slightly blurred" in text and "Second opinion by gemini" in text
    row.find_element(By.NAME, "reason").send_keys("on brand after all")
    _shot(browser, "review")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    _after_post(browser, "by alice")
    assert _override_rows(mdb, world["flagged"]) == [
        ("approved", "on brand after all", "alice", "override_approve")
    ]
    assert not browser.find_elements(By.ID, f"ad-{world['flagged']}")


def test_a_reviewer_of_another_organization_neither_sees_nor_acts(
    mdb: psycopg.Connection, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    _login(browser, server, "bob")
    browser.get(server + "/")
    brands = browser.find_element(By.ID, "brands").text
    assert "Rival" in brands and "Glow" not in brands
    browser.get(server + "/review")
    assert browser.find_elements(By.ID, f"ad-{world['b_ad']}")
    assert "Glow" not in browser.page_source
    browser.get(server + "/alerts")
    assert (
        "Rival secret" in browser.page_source and "Approval rate below" not in browser.page_source
    )
    # Organization A's URLs typed in: not found, and no image.
    for path in (
        f"/brand/{world['brand']}/scores",
        f"/brand/{world['brand']}/experiments",
        f"/ad/{world['flagged']}/image",
    ):
        browser.get(server + path)
        assert "Not Found" in browser.page_source, path
    # Acting on A's ad, A's alert and A's config with a valid token of bob's session.
    before = _override_rows(mdb, world["flagged"])
    browser.get(server + "/review")
    _forge_post(browser, f"/review/{world['flagged']}", {"status": "rejected", "reason": "x"})
    _after_post(browser, "GN006")
    assert _override_rows(mdb, world["flagged"]) == before
    browser.get(server + "/alerts")
    _forge_post(browser, f"/alerts/{world['alert']}/acknowledge", {})
    _after_post(browser, "GN801")
    assert mdb.execute(
        "SELECT status FROM genome.system_alerts WHERE id = %s", (world["alert"],)
    ).fetchone() == ("active",)
    # Bob is a reviewer: calibration approval is an admin's (403 before any database work).
    _forge_post(browser, f"/calibration/{world['config']}/approve", {})
    _wait_text(browser, "Forbidden")


def test_a_viewer_cannot_act(
    mdb: psycopg.Connection, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    _login(browser, server, "vera")
    browser.get(server + "/alerts")
    row = browser.find_element(By.ID, f"alert-{world['alert']}")
    assert not row.find_elements(By.CSS_SELECTOR, "button.acknowledge")
    _forge_post(browser, f"/alerts/{world['alert']}/acknowledge", {})
    _wait_text(browser, "Forbidden")
    browser.get(server + "/review")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.approve")
    _forge_post(browser, f"/review/{world['b_ad']}", {"status": "approved"})
    _wait_text(browser, "Forbidden")
    assert mdb.execute(
        "SELECT status FROM genome.system_alerts WHERE id = %s", (world["alert"],)
    ).fetchone() == ("active",)


def test_an_admin_approves_a_calibrated_config(
    mdb: psycopg.Connection, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    _login(browser, server, "adam")
    browser.get(server + "/calibration")
    row = browser.find_element(By.ID, f"config-{world['config']}")
    assert "0.300" in row.text and "0.120" in row.text  # FP rate before -> after
    assert "proposed" in row.text
    _shot(browser, "calibration")
    row.find_element(By.CSS_SELECTOR, "button.approve-config").click()
    _after_post(browser, "approved by adam")
    assert mdb.execute(
        "SELECT is_active, approved_by FROM genome.quality_scoring_config WHERE id = %s",
        (world["config"],),
    ).fetchone() == (True, "adam")
    assert "active" in browser.find_element(By.ID, f"config-{world['config']}").text


def test_exemplars_experiments_and_the_other_pages(
    mdb: psycopg.Connection, server: str, browser: webdriver.Chrome, world: dict
) -> None:
    b = world["brand"]
    _login(browser, server, "alice")

    # Exemplar library: add the reviewed ad, then retire it.
    browser.get(server + "/exemplars")
    cand = browser.find_element(By.ID, f"candidate-{world['flagged']}")
    cand.find_element(By.NAME, "notes").send_keys("clear product, good hook")
    cand.find_element(By.CSS_SELECTOR, "button.add-exemplar").click()
    _after_post(browser, "Added exemplar")
    ex_id, kind, active = mdb.execute(
        "SELECT id, exemplar_type, is_active FROM genome.ad_quality_exemplars "
        "WHERE generated_ad_id = %s",
        (world["flagged"],),
    ).fetchone()
    assert (kind, active) == ("gold_approve", True)
    _shot(browser, "exemplars")
    browser.find_element(By.ID, f"exemplar-{ex_id}").find_element(
        By.CSS_SELECTOR, "button.retire"
    ).click()
    _after_post(browser, "Retired")
    assert mdb.execute(
        "SELECT is_active FROM genome.ad_quality_exemplars WHERE id = %s", (ex_id,)
    ).fetchone() == (False,)

    # Experiments: the ended one with its verdict and plot; a proposal the budget gate
    # refuses shows the gate's message as it is.
    browser.get(f"{server}/brand/{b}/experiments")
    assert browser.find_element(By.CSS_SELECTOR, ".verdict").text == "winner"
    assert "0.0010 - 0.0070" in browser.find_element(By.CSS_SELECTOR, ".experiment .effects").text
    # matplotlib's P(best) lines, one per arm, with the arms in the legend as text.
    plot = browser.find_element(By.CSS_SELECTOR, ".experiment svg.line-chart")
    assert "treatment: authority" in plot.text and "control: urgency" in plot.text
    assert len(plot.find_elements(By.CSS_SELECTOR, "g[id^=series]")) == 2
    browser.find_element(By.CSS_SELECTOR, "#propose summary").click()
    form = browser.find_element(By.CSS_SELECTOR, "#propose form")
    Select(form.find_element(By.NAME, "variable")).select_by_visible_text("hook_type")
    form.find_element(By.NAME, "control").send_keys("urgency")
    form.find_element(By.NAME, "treatments").send_keys("authority")
    form.find_element(By.NAME, "hypothesis").send_keys("Authority lifts CTR")
    budget = form.find_element(By.NAME, "budget")
    budget.clear()
    budget.send_keys("1")
    days = form.find_element(By.NAME, "max_days")
    days.clear()
    days.send_keys("2")
    form.find_element(By.CSS_SELECTOR, "button.propose").click()
    _wait_text(browser, "GN608")
    assert "under-funded" in browser.find_element(By.CSS_SELECTOR, "p.err").text
    _shot(browser, "experiments")

    # Attribution, labelled correlational.
    browser.get(f"{server}/brand/{b}/attribution?dimension=hook_type")
    assert browser.find_element(By.ID, "correlational").text == "Correlational"
    table = browser.find_element(By.ID, "attribution").text
    assert "authority" in table and "correlational" in table
    assert "authority" in browser.find_element(By.CSS_SELECTOR, "svg.interval-plot").text
    assert "authority" in browser.find_element(By.ID, "element-scores").text
    _shot(browser, "attribution")

    # Costs per brand and model.
    browser.get(server + "/costs")
    costs = browser.find_element(By.ID, "costs").text
    assert "gemini-image" in costs and "0.0390" in costs and "claude-review" in costs
    _shot(browser, "costs")

    # The remaining read-only pages.
    browser.get(server + "/")
    _shot(browser, "index")
    browser.get(f"{server}/brand/{b}/scores")
    hooks = browser.find_element(
        By.XPATH, "//h2[@id='dim-hook_type']/following-sibling::table[1]"
    ).text
    assert hooks.splitlines()[1].startswith("authority")  # most likely best first
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) >= 3  # one per dimension
    _shot(browser, "scores")
    browser.get(f"{server}/brand/{b}/causal")
    assert "authority" in browser.find_element(By.ID, "effects").text
    graph = browser.find_element(By.CSS_SELECTOR, "svg.causal-graph")
    assert "hook_type=authority" in graph.text and "link_ctr" in graph.text
    assert graph.find_elements(By.CSS_SELECTOR, "g[id^=edge-effect]")
    _shot(browser, "causal")
    for page, element in (("v1v2", "v1v2"), ("fatigue", "fatigue"), ("whitespace", "whitespace")):
        browser.get(f"{server}/brand/{b}/{page}")
        assert browser.find_element(By.ID, element)
        _shot(browser, page)
    assert not browser.find_elements(By.CSS_SELECTOR, "p.err"), browser.page_source[:2000]

    # Alerts: acknowledge, recorded under the user.
    browser.get(server + "/alerts")
    browser.find_element(By.ID, f"alert-{world['alert']}").find_element(
        By.CSS_SELECTOR, "button.acknowledge"
    ).click()
    _after_post(browser, "Acknowledged")
    assert mdb.execute(
        "SELECT status, acknowledged_by FROM genome.system_alerts WHERE id = %s",
        (world["alert"],),
    ).fetchone() == ("acknowledged", "alice")
    _shot(browser, "alerts")


def test_dashboard_refuses_bad_input_without_writing(
    mdb: psycopg.Connection, module_dsn: str, world: dict
) -> None:
    app = create_app(login_dsn(module_dsn, DASHBOARD_ROLE), secure_cookies=False)
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about the inputs, not the token
    client = app.test_client()
    assert client.post("/login", data={"username": "bob", "password": PASSWORD}).status_code == 302
    assert client.get(f"/brand/{uuid.uuid4()}/scores").status_code == 404
    assert client.get("/brand/not-a-uuid/scores").status_code == 404
    assert client.get("/review?now=yesterday").status_code == 400
    resp = client.post(f"/review/{world['b_ad']}", data={"status": "maybe"}, follow_redirects=True)
    assert resp.status_code == 200 and b"GN410" in resp.data
    assert _override_rows(mdb, world["b_ad"]) == []
    resp = client.post(f"/alerts/{uuid.uuid4()}/acknowledge", follow_redirects=True)
    assert b"GN801" in resp.data
    # Only a path of this site after login: no open redirect.
    client.post("/logout")
    resp = client.post(
        "/login?next=//evil.example/x", data={"username": "bob", "password": PASSWORD}
    )
    assert resp.headers["Location"] == "/"


def test_users_command_and_single_sign_on(
    module_dsn: str, world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = str(world["org_a"])
    add = ["users", "add", "sam", "--organization", org, "--url", module_dsn]
    assert cli.main([*add, "--role", "viewer", "--sso-only"]) == 0
    assert cli.main([*add, "--sso-only"]) == 1  # the name is taken
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main([*add[:2], "pat", *add[3:], "--password-stdin"]) == 1  # too short
    app = create_app(
        login_dsn(module_dsn, DASHBOARD_ROLE),
        secure_cookies=False,
        trusted_header="X-Forwarded-User",
    )
    client = app.test_client()
    page = client.get("/alerts", headers={"X-Forwarded-User": "sam"})
    assert page.status_code == 200 and b"sam \xc2\xb7 viewer" in page.data
    assert b"Rival secret" not in page.data  # still only the user's organization
    assert client.get("/alerts").status_code == 302  # no header, no user
    assert client.get("/alerts", headers={"X-Forwarded-User": "gone"}).status_code == 302
    # An SSO-only user has no password to log in with, not even an empty one.
    app.config["WTF_CSRF_ENABLED"] = False  # about the password, not the token
    refused = app.test_client().post("/login", data={"username": "sam", "password": ""})
    assert refused.status_code == 200 and b"login-error" in refused.data
    assert cli.main(["users", "disable", "sam", "--url", module_dsn]) == 0
    assert client.get("/alerts", headers={"X-Forwarded-User": "sam"}).status_code == 302
