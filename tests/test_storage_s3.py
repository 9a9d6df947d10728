"""Images any host can read (docs/operations.md#image-storage): one agent generates into an
S3 bucket, another agent with no local directory scans, reviews and embeds from it, both
through the real queue and pipeline, against a real S3 API served locally (moto's server
mode); and an agent refuses every storage_path outside its store or the ad's organization
(docs/attacks.md#agents-and-the-queue)."""

from __future__ import annotations

import io
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from agents.storage import ImageUnavailable, StorageConfigError, Store, open_store
from tests.support.pipeline import make_ads, make_product
from tests.support.security import run_agents_until_idle

BUCKET = "genome-images"
STORE = f"s3://{BUCKET}/ads"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on a free local port (moto's server mode), with the bucket BUCKET."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client of the local S3 API with fresh buckets BUCKET and 'other-bucket'; the
    environment an agent of the store STORE reads (no local directory)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "GENOME_S3_ENDPOINT_URL": s3_endpoint,
        "GENOME_STORAGE_URL": STORE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GENOME_STORAGE_DIR", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for bucket in (BUCKET, "other-bucket"):
        client.create_bucket(Bucket=bucket)
    yield client
    for bucket in (BUCKET, "other-bucket"):
        for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


def _agents(dsn: str, kinds: list[str], timeout: float = 60) -> None:
    """The real agent runtime for `kinds`, as genome_agent, until none of its jobs is left;
    its store is the one the environment names now."""
    run_agents_until_idle(dsn, None, kinds=kinds, timeout=timeout)


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, "PNG")
    return buf.getvalue()


def test_generate_on_one_agent_review_on_another_with_no_local_root(
    db: psycopg.Connection,
    db_dsn: str,
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = make_product(db)
    org = p["organization"]
    ads = make_ads(db, p["product"], 10)

    # Host A: a local directory configured too, but the store is the bucket.
    host_a = tmp_path / "host-a"
    host_a.mkdir()
    monkeypatch.setenv("GENOME_STORAGE_DIR", str(host_a))
    _agents(db_dsn, ["generate"])
    rows = dict(db.execute("SELECT id, storage_path FROM generated_ads").fetchall())
    assert rows == {ad: f"{STORE}/{org}/{ad}.png" for ad in ads}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f"ads/{org}/{ad}.png" for ad in ads}
    assert list(host_a.iterdir()) == []  # nothing on host A's disk
    body = s3.get_object(Bucket=BUCKET, Key=f"ads/{org}/{ads[0]}.png")["Body"].read()
    assert body.startswith(b"\x89PNG")

    # Host B: no local directory at all; it reads every image from the bucket.
    monkeypatch.delenv("GENOME_STORAGE_DIR")
    _agents(db_dsn, ["defect_scan", "review", "second_opinion", "embed"])
    jobs = db.execute(
        "SELECT kind, status, count(*) FROM genome.agent_jobs GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert {status for _, status, _ in jobs} == {"succeeded"}, jobs
    assert {kind for kind, _, _ in jobs} >= {"generate", "defect_scan", "review", "embed"}
    statuses = dict(
        db.execute("SELECT final_status, count(*) FROM generated_ads GROUP BY 1").fetchall()
    )
    assert "pending" not in statuses and statuses.get("approved", 0) >= 5, statuses
    # the embed stage read the image from the bucket too
    assert db.execute(
        "SELECT bool_and(visual_embedding IS NOT NULL) FROM generated_ads "
        "WHERE final_status = 'approved'"
    ).fetchone()[0]


def test_s3_agent_refuses_paths_outside_its_store_and_organization(
    db: psycopg.Connection, db_dsn: str, s3: Any, tmp_path: Path
) -> None:
    """Rows the owner forced past the SQL check: each names a real PNG, but outside the
    agent's store or the ad's organization; one readable control passes."""
    p, other = make_product(db, "Mine"), make_product(db, "Theirs")
    org, theirs = p["organization"], other["organization"]
    png = _png((200, 30, 30))
    for bucket, key in [
        (BUCKET, f"ads/{org}/ok.png"),
        ("other-bucket", f"ads/{org}/x.png"),
        (BUCKET, f"elsewhere/{org}/x.png"),
        (BUCKET, f"ads/{theirs}/x.png"),
        (BUCKET, f"{org}/x.png"),
    ]:
        s3.put_object(Bucket=bucket, Key=key, Body=png)
    local = tmp_path / str(org)
    local.mkdir()
    (local / "x.png").write_bytes(png)
    refused = [
        f"s3://other-bucket/ads/{org}/x.png",  # another bucket
        f"s3://{BUCKET}/elsewhere/{org}/x.png",  # another prefix of the same bucket
        f"s3://{BUCKET}/{org}/x.png",  # the bucket's root, not the store's prefix
        f"s3://{BUCKET}/ads/{theirs}/x.png",  # another organization's image
        f"{theirs}/x.png",  # another organization's key
        f"s3://{BUCKET}/ads/{theirs}/../{org}/ok.png",
        f"s3://{BUCKET}/ads/{org}/missing.png",  # existence probe
        (local / "x.png").as_uri(),  # a file on this host
        "file:///etc/passwd",
        "/etc/passwd",
    ]
    ads = make_ads(db, p["product"], len(refused) + 2, enqueue=False)
    for ad, path in zip(ads, [*refused, f"{STORE}/{org}/ok.png", f"{org}/ok.png"], strict=True):
        db.execute("UPDATE generated_ads SET storage_path = %s WHERE id = %s", (path, ad))
        db.execute("SELECT genome.enqueue_job('defect_scan', %s)", (ad,))
    db.execute("UPDATE genome.agent_jobs SET max_attempts = 1")
    _agents(db_dsn, ["defect_scan"])
    jobs = dict(
        db.execute(
            "SELECT generated_ad_id, (status, last_error) FROM genome.agent_jobs "
            "WHERE kind = 'defect_scan'"
        ).fetchall()
    )
    # one message for every refusal and the missing object: nothing learnt about the rest
    assert {jobs[ad] for ad in ads[: len(refused)]} == {("dead", jobs[ads[0]][1])}, jobs
    assert "the ad's image is not available in storage" in jobs[ads[0]][1]
    # the URI of the store and the bare key, both in the ad's organization, are read
    assert [jobs[ad][0] for ad in ads[len(refused) :]] == ["succeeded", "succeeded"]


def test_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What GENOME_STORAGE_URL accepts, and a directory store's keys and URIs."""
    for bad in [
        "http://host/images",
        "s3://Bad_Bucket/x",
        "s3://bucket/a/../b",
        "s3://bucket/a%2Fb",
        "s3://bucket/x?versionId=1",
        "file://otherhost/dir",
        "images",
    ]:
        with pytest.raises(StorageConfigError):
            Store.from_url(bad)
    assert Store.from_url("s3://bucket/a/b/").url == "s3://bucket/a/b"
    monkeypatch.delenv("GENOME_STORAGE_URL", raising=False)
    monkeypatch.setenv("GENOME_STORAGE_DIR", str(tmp_path))
    store = open_store()
    assert store == Store.from_url(tmp_path.resolve().as_uri())
    org, ad = uuid.uuid4(), uuid.uuid4()
    uri = store.put(f"{org}/{ad}.png", b"png")
    assert uri == f"{tmp_path.resolve().as_uri()}/{org}/{ad}.png"
    assert store.read(uri, org) == store.read(f"{org}/{ad}.png") == b"png"
    with pytest.raises(ImageUnavailable):
        store.read(uri, uuid.uuid4())  # another organization
    with pytest.raises(ImageUnavailable):
        Store.directory(tmp_path / "elsewhere").read(uri)  # another store
