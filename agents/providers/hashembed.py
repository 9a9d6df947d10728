"""Offline embeddings: signed feature hashing of the descriptor text into 1536 dimensions.

Features are the words, word pairs and character trigrams of the text, and for numbers
(text density, negative space …) a bucket token plus its neighbouring buckets at half
weight, so nearby values share features. Each feature adds ±weight at a hashed index; the
vector is L2-normalised. Texts that share features are close in cosine.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time

import numpy as np

from agents.providers.base import EMBEDDING_DIMENSIONS, CallRecord, EmbeddingResult, MalformedOutput

EMBED_MODEL = "offline-embed-v1"
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def _features(text: str) -> dict[str, float]:
    feats: dict[str, float] = {}

    def add(key: str, weight: float) -> None:
        feats[key] = feats.get(key, 0.0) + weight

    for field in text.lower().split(";"):
        label, sep, value = field.partition(":")
        if not sep:  # free text without a "label:" prefix
            label, value = "text", field
        label = label.strip() or "text"
        tokens = _WORD.findall(value)
        for tok in tokens:
            if tok[0].isdigit():
                bucket = math.floor(float(tok) * 10)
                add(f"{label}#b{bucket}", 1.0)
                add(f"{label}#b{bucket - 1}", 0.5)
                add(f"{label}#b{bucket + 1}", 0.5)
            else:
                add(f"w:{tok}", 1.0)
                add(f"{label}={tok}", 1.0)
                padded = f" {tok} "
                for i in range(len(padded) - 2):
                    add(f"c:{padded[i : i + 3]}", 0.3)
        for a, b in itertools.pairwise(tokens):
            add(f"{label}:{a}_{b}", 0.7)
    return feats


def hashed_vector(text: str, dims: int = EMBEDDING_DIMENSIONS) -> list[float]:
    vec = np.zeros(dims, np.float64)
    for feat, weight in _features(text).items():
        digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
        n = int.from_bytes(digest, "big")
        vec[n % dims] += weight if (n >> 63) & 1 else -weight
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        raise MalformedOutput("nothing to embed in the text", text)
    return (vec / norm).tolist()


class OfflineEmbedder:
    name = "offline"

    def embed(self, text: str) -> EmbeddingResult:
        started = time.perf_counter()
        vector = hashed_vector(text)
        call = CallRecord(
            provider="offline",
            model=EMBED_MODEL,
            operation="embed",
            latency_ms=max(0, round((time.perf_counter() - started) * 1000)),
        )
        return EmbeddingResult(vector=vector, model=EMBED_MODEL, call=call)
