"""The few-shot exemplar library (docs/quality.md#exemplar-library): add_exemplar limits and contents,
similar_exemplars against brute-force nearest neighbours, and its HNSW plan."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from sim import factories as f
from tests.support.plans import capture_plans

DIM = 1536
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DESCRIPTOR = {"dominant_colors": ["red", "blue"], "mood": "calm", "text_density": 0.25}


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def near(rng: np.random.Generator, q: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at (about) cosine `cos` to unit vector q."""
    r = rng.normal(size=DIM)
    r = unit(r - (r @ q) * q)
    return unit(cos * q + np.sqrt(1 - cos**2) * r)


class Brand:
    def __init__(self, db: psycopg.Connection, org: uuid.UUID | None = None) -> None:
        self.db = db
        self.id = f.brand(db, org)
        self.product = f.product(db, self.id)
        self.run = db.execute(
            "INSERT INTO ad_runs (product_id, max_attempts, attempts_count) VALUES (%s, 100, 100) "
            "RETURNING id",
            (self.product,),
        ).fetchone()[0]

    def ad(
        self,
        vec: np.ndarray | None,
        *,
        model: str = "emb-1",
        status: str = "approved",
        descriptor: dict | None = None,
        scores: dict | None = None,
    ) -> uuid.UUID:
        return self.db.execute(
            "INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, final_status, "
            "visual_descriptor, visual_embedding, visual_embedding_model, review_check_scores) "
            "VALUES (%s, 1, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                self.run,
                f"test-{uuid.uuid4().hex}",
                status,
                Jsonb(descriptor or DESCRIPTOR) if vec is not None else None,
                vec.astype(np.float32) if vec is not None else None,
                model if vec is not None else None,
                Jsonb(scores) if scores else None,
            ),
        ).fetchone()[0]


@pytest.fixture
def vdb(db: psycopg.Connection) -> psycopg.Connection:
    register_vector(db)
    return db


def add(db: psycopg.Connection, ad: uuid.UUID, kind: str, at: dt.datetime = NOW) -> uuid.UUID:
    return db.execute("SELECT genome.add_exemplar(%s, %s, 'notes', %s)", (ad, kind, at)).fetchone()[
        0
    ]


def _exemplar_count(db: psycopg.Connection) -> int:
    return db.execute("SELECT count(*) FROM genome.ad_quality_exemplars").fetchone()[0]


def test_add_exemplar_takes_description_embedding_and_scores_from_the_ad(
    vdb: psycopg.Connection,
) -> None:
    rng = np.random.default_rng(1)
    b = Brand(vdb)
    vec = unit(rng.normal(size=DIM))
    ad = b.ad(vec, scores={"V1": 8.0, "V2": 6.0})
    vdb.execute(
        "SELECT genome.record_override(%s, 'approved', 'text fine', %s, 'ann', %s)",
        (ad, Jsonb({"V2": 9.0}), NOW),
    )
    ex = vdb.execute(
        "SELECT genome.add_exemplar(%s, 'gold_approve', '  clean hierarchy  ', %s)", (ad, NOW)
    ).fetchone()[0]
    row = vdb.execute(
        "SELECT e.organization_id = b.organization_id, brand_id, exemplar_type, "
        "visual_description, quality_notes, check_scores, exemplar_embedding, embedding_model, "
        "is_active, e.created_at FROM genome.ad_quality_exemplars AS e "
        "JOIN brands AS b ON b.id = e.brand_id WHERE e.id = %s",
        (ex,),
    ).fetchone()
    same_org, brand, kind, desc, notes, scores, emb, model, active, created = row
    assert same_org and brand == b.id and kind == "gold_approve" and active
    assert desc == "dominant_colors: red, blue; mood: calm; text_density: 0.25"
    assert notes == "clean hierarchy"
    assert scores == {"V1": 8.0, "V2": 9.0}  # the human's correction on top
    assert np.array_equal(emb, vec.astype(np.float32))
    assert model == "emb-1" and created == NOW


def test_exemplar_limits_per_type_and_in_total(vdb: psycopg.Connection) -> None:
    rng = np.random.default_rng(2)
    b = Brand(vdb)
    other = Brand(vdb)
    ads = [b.ad(unit(rng.normal(size=DIM))) for _ in range(32)]
    for kind, chunk in zip(
        ("gold_approve", "gold_reject", "edge_case"),
        (ads[0:10], ads[10:20], ads[20:30]),
        strict=True,
    ):
        for ad in chunk:
            add(vdb, ad, kind)
    for kind in ("gold_approve", "gold_reject", "edge_case"):
        with pytest.raises(psycopg.Error) as err:
            add(vdb, ads[30], kind)
        assert err.value.sqlstate == "GN713"
        assert f"already has 10 active {kind} exemplars (limit 10)" in str(err.value)
    assert _exemplar_count(vdb) == 30
    # Another brand's library is its own.
    add(vdb, other.ad(unit(rng.normal(size=DIM))), "gold_approve")
    # Retiring one frees its place.
    first = vdb.execute(
        "SELECT id FROM genome.ad_quality_exemplars WHERE generated_ad_id = %s", (ads[0],)
    ).fetchone()[0]
    vdb.execute("SELECT genome.retire_exemplar(%s)", (first,))
    add(vdb, ads[30], "gold_approve")
    # The total limit binds on its own when it is below the sum of the type limits.
    vdb.execute("UPDATE genome.settings SET value = '28' WHERE key = 'exemplar_limit_total'")
    vdb.execute("SELECT genome.retire_exemplar(%s)", (first,))  # already inactive: no change
    second = vdb.execute(
        "SELECT id FROM genome.ad_quality_exemplars WHERE generated_ad_id = %s", (ads[1],)
    ).fetchone()[0]
    vdb.execute("SELECT genome.retire_exemplar(%s)", (second,))
    with pytest.raises(psycopg.Error) as err:
        add(vdb, ads[31], "gold_approve")
    assert err.value.sqlstate == "GN713"
    assert "29 active exemplars in all (limit 28)" in str(err.value)
    assert (
        vdb.execute(
            "SELECT count(*) FROM genome.ad_quality_exemplars WHERE brand_id = %s AND is_active",
            (b.id,),
        ).fetchone()[0]
        == 29
    )


@pytest.mark.parametrize(
    ("ad", "kind", "notes", "state"),
    [
        ("missing", "gold_approve", "n", "GN006"),
        (None, "gold_approve", "n", "GN005"),
        ("embedded", "gold", "n", "GN710"),
        ("embedded", None, "n", "GN710"),
        ("embedded", "edge_case", " ", "GN711"),
        ("embedded", "edge_case", None, "GN711"),
        ("bare", "edge_case", "n", "GN712"),
        ("exemplar", "edge_case", "n", "GN714"),
    ],
)
def test_add_exemplar_bad_input(
    vdb: psycopg.Connection, ad: str | None, kind: str | None, notes: str | None, state: str
) -> None:
    rng = np.random.default_rng(3)
    b = Brand(vdb)
    ads = {
        "missing": uuid.uuid4(),
        None: None,
        "embedded": b.ad(unit(rng.normal(size=DIM))),
        "bare": b.ad(None),
        "exemplar": b.ad(unit(rng.normal(size=DIM))),
    }
    add(vdb, ads["exemplar"], "gold_approve")
    before = _exemplar_count(vdb)
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT genome.add_exemplar(%s, %s, %s)", (ads[ad], kind, notes))
    assert err.value.sqlstate == state
    assert _exemplar_count(vdb) == before


def _library(vdb: psycopg.Connection, rng: np.random.Generator) -> dict:
    """Brand A: 30 exemplars at graded similarity to a query ad, decoys that must never be
    returned (another brand, another model, retired, the query ad itself), and bulk rows of
    other brands so the HNSW index has a real graph to walk."""
    a = Brand(vdb)
    q = unit(rng.normal(size=DIM))
    query_ad = a.ad(q)
    cosines = np.linspace(0.05, 0.93, 30)
    rng.shuffle(cosines)
    kinds = ["gold_approve"] * 10 + ["gold_reject"] * 10 + ["edge_case"] * 10
    ids, vecs = [], []
    for i, (c, kind) in enumerate(zip(cosines, kinds, strict=True)):
        v = near(rng, q, c)
        ad = a.ad(v)
        if i == 0:  # a retired exemplar first, re-added later: only the active row counts
            old = add(vdb, ad, kind, NOW - dt.timedelta(days=1))
            vdb.execute("SELECT genome.retire_exemplar(%s)", (old,))
        ids.append(add(vdb, ad, kind, NOW + dt.timedelta(minutes=i)))
        vecs.append(v)
    # Decoys closer than anything of brand A (the limits raised to make room for them).
    vdb.execute("UPDATE genome.settings SET value = '40' WHERE key = 'exemplar_limit_total'")
    for kind in ("gold_approve", "edge_case"):
        vdb.execute(
            "UPDATE genome.settings SET value = '20' WHERE key = %s", (f"exemplar_limit_{kind}",)
        )
    other = Brand(vdb)
    add(vdb, other.ad(near(rng, q, 0.99)), "gold_approve")
    retired = add(vdb, a.ad(near(rng, q, 0.99)), "gold_approve")
    vdb.execute("SELECT genome.retire_exemplar(%s)", (retired,))
    add(vdb, a.ad(near(rng, q, 0.99), model="emb-2"), "edge_case")
    add(vdb, query_ad, "edge_case")
    # Bulk: 1000 random exemplars of another brand (direct rows: test data, not the library;
    # their ads need no embedding of their own).
    bulk = Brand(vdb)
    vdb.execute(
        """
        WITH ads AS (
            INSERT INTO generated_ads (ad_run_id, prompt_index, canvas_size, final_status)
            SELECT %(run)s, 1, 'bulk-' || i, 'approved'
            FROM generate_series(1, 1000) AS i
            RETURNING id
        )
        INSERT INTO genome.ad_quality_exemplars (organization_id, brand_id, generated_ad_id,
            exemplar_type, visual_description, quality_notes, exemplar_embedding, embedding_model)
        SELECT b.organization_id, b.id, ads.id, 'edge_case', 'bulk', 'bulk',
               (SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, 1536) AS d
                WHERE ads.id IS NOT NULL),
               'emb-1'
        FROM ads CROSS JOIN brands AS b WHERE b.id = %(brand)s
        """,
        {"run": bulk.run, "brand": bulk.id},
    )
    return {"brand": a, "query": query_ad, "q": q, "ids": ids, "vecs": np.array(vecs)}


def test_similar_exemplars_are_the_true_nearest_through_the_hnsw_index(
    vdb: psycopg.Connection,
) -> None:
    lib = _library(vdb, np.random.default_rng(4))
    # Brute force: cosine similarity of the query to every active same-model exemplar of A.
    sims = lib["vecs"] @ lib["q"] / np.linalg.norm(lib["vecs"], axis=1)
    order = np.argsort(-sims)
    plans = capture_plans(vdb)
    vdb.execute("SET enable_seqscan = off")
    vdb.execute("SET enable_sort = off")
    for k in (5, 30, 50):
        rows = vdb.execute(
            "SELECT exemplar_id, similarity, ranked_by, exemplar_type, visual_description, "
            "quality_notes, check_scores FROM genome.similar_exemplars(%s, %s)",
            (lib["query"], k),
        ).fetchall()
        expected = order[: min(k, 30)]
        assert [r[0] for r in rows] == [lib["ids"][i] for i in expected]
        assert np.allclose([r[1] for r in rows], sims[expected], atol=1e-5)
        assert {r[2] for r in rows} == {"cosine"}
    knn = [p for p in plans if "<=>" in p and "Limit" in p]
    assert len(knn) == 3, plans
    assert all("Index Scan using ad_quality_exemplars_embedding_idx" in p for p in knn), knn
    # The search settings end with the function.
    assert vdb.execute("SELECT current_setting('hnsw.ef_search')").fetchone()[0] == "40"


def test_similar_exemplars_before_the_ad_is_embedded(vdb: psycopg.Connection) -> None:
    """Reviews run before the embed stage: the prompt still gets the brand's exemplars,
    the newest of each type in turn, with no similarity claimed."""
    rng = np.random.default_rng(5)
    b = Brand(vdb)
    made = {}
    for i, kind in enumerate(["gold_approve", "gold_reject", "edge_case"] * 3):
        made[(kind, i // 3)] = add(
            vdb, b.ad(unit(rng.normal(size=DIM))), kind, NOW + dt.timedelta(hours=i)
        )
    add(vdb, Brand(vdb).ad(unit(rng.normal(size=DIM))), "gold_approve")  # another brand
    fresh = b.ad(None, status="pending")
    rows = vdb.execute(
        "SELECT exemplar_id, similarity, ranked_by FROM genome.similar_exemplars(%s)", (fresh,)
    ).fetchall()
    expected = [made[k, 2] for k in ("gold_approve", "gold_reject", "edge_case")]
    expected += [made[k, 1] for k in ("gold_approve", "gold_reject")]
    assert [r[0] for r in rows] == expected
    assert all(r[1] is None and r[2] == "newest_per_type" for r in rows)


@pytest.mark.parametrize(
    ("ad", "k", "state"),
    [
        ("missing", 5, "GN006"),
        (None, 5, "GN005"),
        ("ad", 0, "GN730"),
        ("ad", 101, "GN730"),
        ("ad", None, "GN730"),
    ],
)
def test_similar_exemplars_bad_input(
    vdb: psycopg.Connection, ad: str | None, k: int | None, state: str
) -> None:
    b = Brand(vdb)
    ids = {"missing": uuid.uuid4(), None: None, "ad": b.ad(unit(np.ones(DIM)))}
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT * FROM genome.similar_exemplars(%s, %s)", (ids[ad], k))
    assert err.value.sqlstate == state


def test_retire_unknown_exemplar(vdb: psycopg.Connection) -> None:
    for bad, code in ((uuid.uuid4(), "GN715"), (None, "GN005")):
        with pytest.raises(psycopg.Error) as err:
            vdb.execute("SELECT genome.retire_exemplar(%s)", (bad,))
        assert err.value.sqlstate == code


def _review_job(db: psycopg.Connection, ad: uuid.UUID, kind: str = "review") -> uuid.UUID:
    job = db.execute("SELECT genome.enqueue_job(%s, %s)", (kind, ad)).fetchone()[0]
    claimed = db.execute(
        "SELECT id FROM genome.claim_jobs(%s, 'w1', '5 minutes'::interval, 10)", ([kind],)
    ).fetchall()
    assert (job,) in claimed
    return job


def test_review_exemplars_are_the_true_nearest_of_the_agents_embedding(
    vdb: psycopg.Connection,
) -> None:
    """At review time the ad has no stored embedding: the agent embeds the image and
    review_exemplars returns the brand's nearest exemplars to that vector, as
    similar_exemplars would for an embedded ad, with the agent role's rights only."""
    lib = _library(vdb, np.random.default_rng(6))
    sims = lib["vecs"] @ lib["q"] / np.linalg.norm(lib["vecs"], axis=1)
    order = np.argsort(-sims)
    # The library's query ad is itself an exemplar (identical to q): retired here, so the
    # brute-force ranking over the library's other exemplars is the whole answer.
    vdb.execute(
        "SELECT genome.retire_exemplar(id) FROM genome.ad_quality_exemplars "
        "WHERE generated_ad_id = %s",
        (lib["query"],),
    )
    pending = lib["brand"].ad(None, status="pending")
    job = _review_job(vdb, pending)
    q = lib["q"].astype(np.float32)
    rows = vdb.execute(
        "SELECT exemplar_id, similarity, ranked_by FROM genome.review_exemplars(%s, 'w1', %s, 'emb-1', 5)",
        (job, q),
    ).fetchall()
    assert [r[0] for r in rows] == [lib["ids"][i] for i in order[:5]]
    assert np.allclose([r[1] for r in rows], sims[order[:5]], atol=1e-5)
    assert {r[2] for r in rows} == {"cosine"}
    # The same answer as similar_exemplars once the ad carries that embedding.
    vdb.execute(
        "UPDATE generated_ads SET visual_embedding = %s, visual_embedding_model = 'emb-1' "
        "WHERE id = %s",
        (q, pending),
    )
    same = vdb.execute(
        "SELECT exemplar_id FROM genome.similar_exemplars(%s, 5)", (pending,)
    ).fetchall()
    assert same == [(r[0],) for r in rows]
    # The agent role calls it (definer rights) for the job it holds, and nothing else.
    token = vdb.execute(
        "SELECT lease_token FROM genome.agent_jobs WHERE id = %s", (job,)
    ).fetchone()[0]
    vdb.execute("SET ROLE genome_agent")
    try:
        agent_rows = vdb.execute(
            "SELECT exemplar_id FROM genome.review_exemplars(%s, 'w1', %s, 'emb-1', 3, "
            "p_lease_token => %s)",
            (job, q, token),
        ).fetchall()
        assert agent_rows == [(r[0],) for r in rows[:3]]
        # Another worker's name, or the holder's name without the lease's token.
        for worker, guess in (("w2", token), ("w1", None)):
            with pytest.raises(psycopg.Error) as err:
                vdb.execute(
                    "SELECT * FROM genome.review_exemplars(%s, %s, %s, 'emb-1', 3, "
                    "p_lease_token => %s)",
                    (job, worker, q, guess),
                )
            assert err.value.sqlstate == "GN404"
    finally:
        vdb.execute("RESET ROLE")


@pytest.mark.parametrize(
    ("case", "state"),
    [
        ("unknown job", "GN403"),
        ("other worker", "GN404"),
        ("generate job", "GN405"),
        ("wrong dimensions", "GN409"),
        ("zero vector", "GN409"),
        ("no embedding", "GN409"),
        ("no model", "GN409"),
        ("k zero", "GN730"),
    ],
)
def test_review_exemplars_bad_input(vdb: psycopg.Connection, case: str, state: str) -> None:
    b = Brand(vdb)
    add(vdb, b.ad(unit(np.ones(DIM))), "gold_approve")
    pending = b.ad(None, status="pending")
    job = _review_job(vdb, pending, "generate" if case == "generate job" else "review")
    vec: object = unit(np.arange(1, DIM + 1, dtype=float)).astype(np.float32)
    worker, model, k = "w1", "emb-1", 5
    if case == "unknown job":
        job = uuid.uuid4()
    elif case == "other worker":
        worker = "w2"
    elif case == "wrong dimensions":
        vec = np.ones(3, dtype=np.float32)
    elif case == "zero vector":
        vec = np.zeros(DIM, dtype=np.float32)
    elif case == "no embedding":
        vec = None
    elif case == "no model":
        model = " "
    elif case == "k zero":
        k = 0
    with pytest.raises(psycopg.Error) as err:
        vdb.execute(
            "SELECT * FROM genome.review_exemplars(%s, %s, %s::vector, %s, %s)",
            (job, worker, vec, model, k),
        )
    assert err.value.sqlstate == state


def test_review_lookup_is_kept_and_reused_by_the_second_opinion_and_the_embed_stage(
    vdb: psycopg.Connection,
) -> None:
    rng = np.random.default_rng(9)
    b = Brand(vdb)
    exemplar_vecs = [unit(rng.normal(size=DIM)) for _ in range(3)]
    exemplars = [add(vdb, b.ad(v), "gold_approve") for v in exemplar_vecs]
    pending = b.ad(None, status="pending")
    q = near(rng, exemplar_vecs[1], 0.9).astype(np.float32)

    # Nothing given and nothing kept yet: refused.
    review = _review_job(vdb, pending)
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT * FROM genome.review_exemplars(%s, 'w1', NULL, NULL, 2)", (review,))
    assert err.value.sqlstate == "GN409"
    # An empty descriptor is refused and keeps nothing.
    with pytest.raises(psycopg.Error) as err:
        vdb.execute(
            "SELECT * FROM genome.review_exemplars(%s, 'w1', %s, 'emb-1', 2, '{}')", (review, q)
        )
    assert err.value.sqlstate == "GN409"
    assert vdb.execute("SELECT count(*) FROM genome.ad_visual_lookups").fetchone()[0] == 0

    first = vdb.execute(
        "SELECT exemplar_id FROM genome.review_exemplars(%s, 'w1', %s, 'emb-1', 2, %s)",
        (review, q, Jsonb(DESCRIPTOR)),
    ).fetchall()
    assert first[0][0] == exemplars[1]
    kept = vdb.execute(
        "SELECT visual_descriptor, visual_embedding, embedding_model, agent_job_id "
        "FROM genome.ad_visual_lookups WHERE generated_ad_id = %s",
        (pending,),
    ).fetchone()
    assert kept[0] == DESCRIPTOR and np.allclose(kept[1], q) and kept[2:] == ("emb-1", review)
    vdb.execute("SELECT genome.complete_job(%s, 'w1', '{}')", (review,))

    # The second opinion asks with nothing and gets the same neighbours from the kept lookup.
    second = _review_job(vdb, pending, "second_opinion")
    again = vdb.execute(
        "SELECT exemplar_id FROM genome.review_exemplars(%s, 'w1', NULL, NULL, 2)", (second,)
    ).fetchall()
    assert again == first
    vdb.execute("SELECT genome.complete_job(%s, 'w1', '{}')", (second,))

    # The embed stage of the approved ad stores the kept lookup as the ad's own.
    vdb.execute("UPDATE generated_ads SET final_status = 'approved' WHERE id = %s", (pending,))
    embed = _review_job(vdb, pending, "embed")
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT genome.record_embedding_from_lookup(%s, 'w2')", (embed,))
    assert err.value.sqlstate == "GN404"
    status = vdb.execute(
        "SELECT genome.record_embedding_from_lookup(%s, 'w1')", (embed,)
    ).fetchone()[0]
    assert status == "approved"
    ad = vdb.execute(
        "SELECT visual_descriptor, visual_embedding, visual_embedding_model FROM generated_ads "
        "WHERE id = %s",
        (pending,),
    ).fetchone()
    assert ad[0] == DESCRIPTOR and np.allclose(ad[1], q) and ad[2] == "emb-1"
    job = vdb.execute(
        "SELECT status, result FROM genome.agent_jobs WHERE id = %s", (embed,)
    ).fetchone()
    assert job == ("succeeded", {"embedding_model": "emb-1", "from_lookup_of_job": str(review)})
    assert (
        vdb.execute(
            "SELECT count(*) FROM genome.provider_calls WHERE agent_job_id = %s", (embed,)
        ).fetchone()[0]
        == 0
    )
    # A repeat by the same worker writes nothing more.
    assert (
        vdb.execute("SELECT genome.record_embedding_from_lookup(%s, 'w1')", (embed,)).fetchone()[0]
        == "approved"
    )


def test_embed_from_lookup_without_one_is_refused(vdb: psycopg.Connection) -> None:
    b = Brand(vdb)
    ad = b.ad(None, status="approved")
    embed = _review_job(vdb, ad, "embed")
    with pytest.raises(psycopg.Error) as err:
        vdb.execute("SELECT genome.record_embedding_from_lookup(%s, 'w1')", (embed,))
    assert err.value.sqlstate == "GN409"
    assert (
        vdb.execute("SELECT status FROM genome.agent_jobs WHERE id = %s", (embed,)).fetchone()[0]
        == "running"
    )
