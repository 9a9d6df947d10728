"""The visual space (docs/quality.md#visual-space): more_like_this against brute-force nearest neighbours, and
style_clusters (DBSCAN in PL/Python) recovering planted style groups, checked against a
brute-force DBSCAN written here and scipy's t interval."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from scipy import stats

from sim import factories as f
from tests.support.plans import capture_plans
from tests.test_exemplars import DIM, Brand, near, unit

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
AT = NOW + dt.timedelta(days=1)


@pytest.fixture
def vdb(db: psycopg.Connection) -> psycopg.Connection:
    register_vector(db)
    return db


def _clusters(db: psycopg.Connection, brand: uuid.UUID, at: dt.datetime = AT) -> list[tuple]:
    return db.execute(
        "SELECT cluster_label, size, member_ad_ids, rewarded_n, mean_reward, reward_ci_low, "
        "reward_ci_high, embedding_model FROM genome.style_clusters(%s, %s)",
        (brand, at),
    ).fetchall()


def test_more_like_this_is_the_true_nearest_approved_ads_of_the_brand(
    vdb: psycopg.Connection,
) -> None:
    rng = np.random.default_rng(21)
    a = Brand(vdb)
    q = unit(rng.normal(size=DIM))
    query = a.ad(q)
    cosines = rng.uniform(0.1, 0.95, 15)
    ids = [a.ad(near(rng, q, c)) for c in cosines]
    vecs = np.array(
        [
            vdb.execute(
                "SELECT visual_embedding FROM generated_ads WHERE id = %s", (i,)
            ).fetchone()[0]
            for i in ids
        ]
    )
    # Decoys nearer than any: not approved, another brand, another model.
    for status in ("rejected", "flagged", "pending"):
        a.ad(near(rng, q, 0.99), status=status)
    Brand(vdb).ad(near(rng, q, 0.99))
    a.ad(near(rng, q, 0.99), model="emb-2")
    sims = vecs @ q.astype(np.float32) / np.linalg.norm(vecs, axis=1)
    order = np.argsort(-sims)

    plans = capture_plans(vdb)
    vdb.execute("SET enable_seqscan = off")
    vdb.execute("SET enable_sort = off")
    for k in (1, 5, 15, 40):
        rows = vdb.execute(
            "SELECT generated_ad_id, similarity, ad_run_id FROM genome.more_like_this(%s, %s)",
            (query, k),
        ).fetchall()
        expected = order[: min(k, 15)]
        assert [r[0] for r in rows] == [ids[i] for i in expected]
        assert np.allclose([r[1] for r in rows], sims[expected], atol=1e-5)
        assert {r[2] for r in rows} == {a.run}
    knn = [p for p in plans if "<=>" in p and "Limit" in p]
    assert len(knn) == 4, plans
    assert all("Index Scan using generated_ads_embedding_idx" in p for p in knn), knn


@pytest.mark.parametrize(
    ("ad", "k", "state"),
    [
        ("missing", 5, "GN006"),
        (None, 5, "GN005"),
        ("ad", 0, "GN730"),
        ("ad", None, "GN730"),
        ("ad", 101, "GN730"),
        ("bare", 5, "GN731"),
    ],
)
def test_more_like_this_bad_input(
    vdb: psycopg.Connection, ad: str | None, k: int | None, state: str
) -> None:
    b = Brand(vdb)
    ids = {"missing": uuid.uuid4(), None: None, "ad": b.ad(unit(np.ones(DIM))), "bare": b.ad(None)}
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT * FROM genome.more_like_this(%s, %s)", (ids[ad], k))
    assert err.value.sqlstate == state


def _dbscan_reference(x: np.ndarray, eps: float, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force DBSCAN on cosine distance: labels (by discovery) and the core mask."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    neighbours = (1 - xn @ xn.T) <= eps
    core = neighbours.sum(axis=1) >= min_samples
    labels = np.full(len(x), -1)
    cluster = 0
    for i in range(len(x)):
        if labels[i] != -1 or not core[i]:
            continue
        labels[i] = cluster
        stack = [i]
        while stack:
            p = stack.pop()
            for q in np.flatnonzero(neighbours[p]):
                if labels[q] == -1:
                    labels[q] = cluster
                    if core[q]:
                        stack.append(q)
        cluster += 1
    return labels, core


def _partition(ids: list, labels: np.ndarray, mask: np.ndarray) -> set[frozenset]:
    return {
        frozenset(i for i, lab, m in zip(ids, labels, mask, strict=True) if lab == c and m)
        for c in set(labels[mask]) - {-1}
    }


def test_style_clusters_recover_planted_groups(vdb: psycopg.Connection) -> None:
    rng = np.random.default_rng(31)
    b = Brand(vdb)
    centers = [unit(rng.normal(size=DIM)) for _ in range(4)]
    groups = [
        [b.ad(near(rng, c, 0.97)) for _ in range(n)]
        for c, n in zip(centers, (12, 8, 5, 2), strict=True)
    ]
    isolated = [b.ad(unit(rng.normal(size=DIM))) for _ in range(4)]
    # Not clustered: not approved, another model (the brand's minority), decided after p_now,
    # another brand.
    b.ad(near(rng, centers[1], 0.97), status="rejected")
    b.ad(near(rng, centers[1], 0.97), model="emb-2")
    late = b.ad(near(rng, centers[1], 0.97))
    vdb.execute(
        "UPDATE generated_ads SET decided_at = %s WHERE id = %s", (AT + dt.timedelta(days=1), late)
    )
    Brand(vdb).ad(near(rng, centers[0], 0.97))
    # Matured rewards: 10 of the 12 (one more matures after p_now), 1 of the 8, none of the 5,
    # 2 of the noise.
    scores = rng.uniform(0.2, 0.9, 20)
    for ad, s in zip(groups[0][:10], scores[:10], strict=True):
        f.reward(vdb, ad, float(s), NOW)
    f.reward(vdb, groups[0][10], 0.99, AT + dt.timedelta(hours=1))
    f.reward(vdb, groups[1][0], float(scores[10]), NOW)
    noise = sorted(groups[3] + isolated)
    f.reward(vdb, noise[0], float(scores[11]), NOW)
    f.reward(vdb, noise[1], float(scores[12]), NOW)

    rows = _clusters(vdb, b.id)
    assert [r[0] for r in rows] == [-1, 0, 1, 2]
    by_label = {r[0]: r for r in rows}
    assert set(by_label[0][2]) == set(groups[0]) and by_label[0][1] == 12
    assert set(by_label[1][2]) == set(groups[1]) and by_label[1][1] == 8
    assert set(by_label[2][2]) == set(groups[2]) and by_label[2][1] == 5
    # The pair has fewer than min_samples (3) members within eps: noise, like the isolated.
    assert set(by_label[-1][2]) == set(noise) and by_label[-1][1] == 6
    assert {r[7] for r in rows} == {"emb-1"}

    r0 = scores[:10]
    half = stats.t.ppf(0.975, 9) * r0.std(ddof=1) / np.sqrt(10)
    assert by_label[0][3] == 10
    assert by_label[0][4] == pytest.approx(r0.mean())
    assert (by_label[0][5], by_label[0][6]) == pytest.approx((r0.mean() - half, r0.mean() + half))
    assert by_label[1][3:7] == (1, pytest.approx(scores[10]), None, None)
    assert by_label[2][3:7] == (0, None, None, None)
    assert by_label[-1][3] == 2 and by_label[-1][4] == pytest.approx(scores[11:13].mean())

    # Stored for the report; a rerun for the same p_now replaces, a later one adds.
    stored = vdb.execute(
        "SELECT cluster_label, size, member_ad_ids, rewarded_n, mean_reward, reward_ci_low, "
        "reward_ci_high, embedding_model FROM genome.style_clusters WHERE brand_id = %s "
        "AND computed_at = %s ORDER BY cluster_label",
        (b.id, AT),
    ).fetchall()
    assert stored == rows
    assert _clusters(vdb, b.id) == rows
    _clusters(vdb, b.id, AT + dt.timedelta(days=7))
    assert vdb.execute(
        "SELECT count(*), count(DISTINCT computed_at) FROM genome.style_clusters WHERE brand_id = %s",
        (b.id,),
    ).fetchone() == (8, 2)


def test_style_clusters_match_a_brute_force_dbscan(vdb: psycopg.Connection) -> None:
    """Chains (density-connected, ends far apart), blobs of mixed spread, stars (one core ad,
    border satellites) and scattered points, with eps and min_samples from settings: the same
    core partition and the same noise as a brute-force DBSCAN, and every border ad in the
    cluster of a core ad within eps."""
    rng = np.random.default_rng(41)
    vdb.execute("UPDATE genome.settings SET value = '0.08' WHERE key = 'style_cluster_eps'")
    vdb.execute("UPDATE genome.settings SET value = '4' WHERE key = 'style_cluster_min_samples'")
    b = Brand(vdb)
    vecs = []
    for _ in range(2):  # chains: slerp from a to an orthogonal b in small steps
        a_ = unit(rng.normal(size=DIM))
        b_ = near(rng, a_, 0.0)
        for t in np.linspace(0, 1, 30):
            vecs.append(
                near(rng, unit(np.cos(t * np.pi / 2) * a_ + np.sin(t * np.pi / 2) * b_), 0.985)
            )
    for spread in (0.99, 0.96, 0.93):
        c = unit(rng.normal(size=DIM))
        vecs.extend(near(rng, c, spread) for _ in range(10))
    for _ in range(2):  # stars: one core ad with exactly min_samples - 1 border satellites
        c = unit(rng.normal(size=DIM))
        vecs.append(c)
        vecs.extend(near(rng, c, 0.95) for _ in range(3))
    vecs.extend(unit(rng.normal(size=DIM)) for _ in range(10))
    ids = [b.ad(v) for v in vecs]
    stored = np.array(
        [
            vdb.execute(
                "SELECT visual_embedding FROM generated_ads WHERE id = %s", (i,)
            ).fetchone()[0]
            for i in ids
        ]
    )
    ref_labels, core = _dbscan_reference(stored.astype(np.float64), 0.08, 4)

    rows = _clusters(vdb, b.id)
    got = {ad: r[0] for r in rows for ad in r[2]}
    assert set(got) == set(ids)
    labels = np.array([got[i] for i in ids])
    assert _partition(ids, labels, core) == _partition(ids, ref_labels, core)
    assert {i for i, lab in zip(ids, labels, strict=True) if lab == -1} == {
        i for i, lab in zip(ids, ref_labels, strict=True) if lab == -1
    }
    xn = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    near_core = ((1 - xn @ xn.T) <= 0.08) & core[None, :]
    borders = np.flatnonzero(~core & (labels >= 0))
    assert len(borders) >= 6  # the satellites at least
    for j in borders:
        assert any(labels[c] == labels[j] for c in np.flatnonzero(near_core[j]))
    # The chains are single clusters although their ends are orthogonal.
    assert (
        labels[0] == labels[29] >= 0 and labels[30] == labels[59] >= 0 and labels[0] != labels[30]
    )
    sizes = [r[1] for r in rows if r[0] >= 0]
    assert sizes == sorted(sizes, reverse=True)


def test_style_clusters_of_a_brand_without_approved_embeddings(vdb: psycopg.Connection) -> None:
    b = Brand(vdb)
    b.ad(None)
    b.ad(unit(np.ones(DIM)), status="rejected")
    assert _clusters(vdb, b.id) == []
    assert vdb.execute("SELECT count(*) FROM genome.style_clusters").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("brand", "at", "setting", "state"),
    [
        ("missing", AT, None, "GN001"),
        (None, AT, None, "GN005"),
        ("brand", None, None, "GN004"),
        ("brand", AT, ("style_cluster_eps", "0"), "GN090"),
        ("brand", AT, ("style_cluster_min_samples", "0"), "GN090"),
        ("brand", AT, ("style_cluster_ci_level", "1.5"), "GN090"),
    ],
)
def test_style_clusters_bad_input_writes_nothing(
    vdb: psycopg.Connection,
    brand: str | None,
    at: dt.datetime | None,
    setting: tuple | None,
    state: str,
) -> None:
    rng = np.random.default_rng(51)
    b = Brand(vdb)
    c = unit(rng.normal(size=DIM))
    for _ in range(4):
        b.ad(near(rng, c, 0.97))
    if setting:
        vdb.execute(
            "UPDATE genome.settings SET value = %s WHERE key = %s", (setting[1], setting[0])
        )
    ids = {"missing": uuid.uuid4(), None: None, "brand": b.id}
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT * FROM genome.style_clusters(%s, %s)", (ids[brand], at))
    assert err.value.sqlstate == state
    assert vdb.execute("SELECT count(*) FROM genome.style_clusters").fetchone()[0] == 0
