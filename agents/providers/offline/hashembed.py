"""Offline embeddings: signed feature hashing of the descriptor text into 1536 dimensions.

The text is read as "label: value; label: value …" (free text without a label is one
field). Each field becomes its own block of features, normalised and weighted, so the
cosine of two texts is close to the weighted mean of their per-field similarities:

- words and word pairs of the field (a shared word counts, an exact phrase counts more;
  "lower-left" also counts as "lower" and "left");
- numbers as graded features: Gaussian bumps on a grid (radial basis features), keyed by
  the word before the number ("x 0.31", "size 0.28") or the field's label, so that 0.31
  and 0.33 are nearly the same and 0.31 and 0.60 are not alike at all;
- colour names (the colours field) as points in a lightness / chroma-hue space, also with
  radial basis features, so "pale sky blue" is close to "pale blue" and far from "dark
  red", weighted by rank (most dominant first); unknown colour words count as words.

Each feature adds ±weight at a hashed index; the vector is L2-normalised. An exact copy
of a text embeds identically; a descriptor whose measurements moved a little stays close.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
import time

import numpy as np

from agents.providers.base import EMBEDDING_DIMENSIONS, CallRecord, EmbeddingResult, MalformedOutput

EMBED_MODEL = "offline-embed-v1"
_TOKEN = re.compile(r"[a-z][a-z\-]*|\d+(?:\.\d+)?%?")

# Squared share of each field in the vector (unknown labels get DEFAULT_FIELD_WEIGHT).
FIELD_WEIGHTS = {
    "colors": 0.2,
    "temperature": 0.03,
    "composition": 0.15,
    "text density": 0.1,
    "style": 0.14,
    "subject": 0.2,
    "negative space": 0.1,
    "mood": 0.04,
}
DEFAULT_FIELD_WEIGHT = 0.1
NUMBER_SIGMA = 0.03  # width of a number's bump, on the 0..1 scale
NUMBER_STEP = 0.015  # grid spacing of the bumps
# Within a field, the relative share of its words, its numbers and its colour points:
# measured numbers carry most of a field that has them (a word on a threshold may flip).
PART_SHARES = {"words": 1.0, "numbers": 3.0, "colour": 1.0}

# Colour words: hue in degrees, and modifiers as (lightness, chroma).
_HUES = {
    "red": 0, "crimson": 350, "pink": 340, "coral": 12, "orange": 25, "peach": 28,
    "brown": 25, "tan": 32, "beige": 36, "amber": 42, "gold": 45, "cream": 48,
    "yellow": 58, "ivory": 58, "olive": 62, "lime": 85, "green": 130, "mint": 150,
    "teal": 175, "turquoise": 178, "cyan": 188, "sky": 203, "blue": 232, "navy": 235,
    "indigo": 266, "violet": 280, "lavender": 285, "purple": 295, "magenta": 322,
    "maroon": 355, "burgundy": 345,
}  # fmt: skip
_NAMED_TONE = {  # colour words that also say how light and how saturated
    "pink": (0.8, 0.45), "coral": (0.72, 0.6), "peach": (0.85, 0.35), "brown": (0.35, 0.4),
    "tan": (0.65, 0.3), "beige": (0.86, 0.18), "gold": (0.62, 0.65), "cream": (0.93, 0.15),
    "ivory": (0.96, 0.1), "olive": (0.42, 0.4), "mint": (0.86, 0.3), "navy": (0.25, 0.5),
    "lavender": (0.82, 0.3), "maroon": (0.28, 0.5), "burgundy": (0.3, 0.5),
    "crimson": (0.45, 0.75),
}  # fmt: skip
_MODIFIERS = {  # (lightness, chroma ~ saturation x value) typical of the word
    "pale": (0.9, 0.22), "light": (0.85, 0.41), "muted": (0.6, 0.16), "dusty": (0.6, 0.16),
    "deep": (0.5, 0.31), "dark": (0.3, 0.19), "bright": (0.75, 0.7), "vivid": (0.7, 0.7),
}  # fmt: skip
_NEUTRALS = {
    "white": 1.0, "off-white": 0.92, "silver": 0.78, "light gray": 0.78, "gray": 0.55,
    "grey": 0.55, "light grey": 0.78, "charcoal": 0.28, "black": 0.06,
}  # fmt: skip


def _number_value(token: str) -> float:
    if token.endswith("%"):
        return float(token[:-1]) / 100
    value = float(token)
    return value if value <= 1.0 else 1.0 + math.log10(value)  # larger numbers: log scale


def _bumps(
    value: float, sigma: float = NUMBER_SIGMA, step: float = NUMBER_STEP
) -> list[tuple[float, float]]:
    """Gaussian bumps (grid centre, weight) around a value: cos(a, b) ~ exp(-d^2/4sigma^2)."""
    lo = math.floor((value - 3 * sigma) / step)
    hi = math.ceil((value + 3 * sigma) / step)
    out = []
    for k in range(lo, hi + 1):
        centre = k * step
        out.append((round(centre, 4), math.exp(-((value - centre) ** 2) / (2 * sigma**2))))
    return out


def _color_point(words: list[str]) -> tuple[float, float, float] | None:
    """(lightness, a, b) of a colour name, or None when it is not a known colour."""
    phrase = " ".join(words)
    for neutral, lightness in _NEUTRALS.items():
        if phrase.endswith(neutral):
            tinted = "warm" in words or "cool" in words
            hue = math.radians(40 if "warm" in words else 220)
            chroma = 0.05 if tinted else 0.0
            return (
                lightness - (0.03 if tinted else 0.0),
                chroma * math.cos(hue),
                chroma * math.sin(hue),
            )
    hues = [_HUES[w] for w in words if w in _HUES]
    if not hues:
        return None
    hue = _HUES["sky"] if "sky" in words else hues[-1]  # "sky blue" is not blue
    base = next((w for w in reversed(words) if w in _HUES), "")
    lightness, chroma = _NAMED_TONE.get(base, (0.7, 0.56))
    mods = [_MODIFIERS[w] for w in words if w in _MODIFIERS]
    if mods:
        lightness = sum(m[0] for m in mods) / len(mods)
        chroma = min(m[1] for m in mods)
    if "very" in words and "pale" in words:
        lightness, chroma = 0.94, 0.13
    elif "dark" in words and "muted" in words:
        lightness, chroma = 0.33, 0.09
    rad = math.radians(hue)
    return lightness, chroma * math.cos(rad), chroma * math.sin(rad)


class _Block:
    """One field's features, in parts (words, numbers, colours) normalised separately."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, float]] = {}

    def add(self, part: str, key: str, weight: float) -> None:
        feats = self.parts.setdefault(part, {})
        feats[key] = feats.get(key, 0.0) + weight


def _colour_block(label: str, value: str) -> _Block:
    block = _Block()
    for rank, item in enumerate(x for x in value.split(",") if x.strip()):
        words = _TOKEN.findall(item)
        weight = 1.0 / (1.0 + 0.4 * rank)
        point = _color_point(words)
        for w in words:
            block.add("words", f"{label}={w}", weight * (0.4 if point else 1.0))
        if point is None:
            continue
        lightness, a, b = point
        for centre, bump in _bumps(lightness, 0.07, 0.05):
            block.add("colour", f"{label}#L{centre}", weight * bump)
        for (ca, wa), (cb, wb) in itertools.product(_bumps(a, 0.1, 0.08), _bumps(b, 0.1, 0.08)):
            if wa * wb > 0.01:
                block.add("colour", f"{label}#ab{ca},{cb}", weight * wa * wb)
    return block


def _text_block(label: str, value: str) -> _Block:
    block = _Block()
    tokens = _TOKEN.findall(value)
    words: list[str] = []
    slot = label
    for tok, after in itertools.zip_longest(tokens, tokens[1:], fillvalue=""):
        if tok[0].isdigit():
            for centre, bump in _bumps(_number_value(tok)):
                block.add("numbers", f"{label}/{slot}#{centre}", bump)
        elif after[:1].isdigit():  # names the number after it ("x 0.31"): a slot, not a word
            slot = tok
        else:
            block.add("words", f"{label}={tok}", 1.0)
            for piece in tok.split("-") if "-" in tok else ():  # "lower-left": lower, left
                if piece:
                    block.add("words", f"{label}={piece}", 0.7)
            words.append(tok)
    for a, b in itertools.pairwise(words):
        block.add("words", f"{label}:{a}_{b}", 0.5)
    return block


def _fields(text: str) -> list[tuple[str, str]]:
    out = []
    for field in text.lower().split(";"):
        label, sep, value = field.partition(":")
        if not sep:  # free text without a "label:" prefix
            label, value = "text", field
        out.append((" ".join(label.replace("_", " ").split()) or "text", value))
    return out


def _field_weight(label: str) -> float:
    if label in FIELD_WEIGHTS:
        return FIELD_WEIGHTS[label]
    if "colo" in label and "temp" not in label:
        return FIELD_WEIGHTS["colors"]
    return DEFAULT_FIELD_WEIGHT


@functools.lru_cache(maxsize=65536)
def _slot(feature: str, dims: int) -> tuple[int, float]:
    n = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return n % dims, 1.0 if (n >> 63) & 1 else -1.0


def hashed_vector(text: str, dims: int = EMBEDDING_DIMENSIONS) -> list[float]:
    vec = np.zeros(dims, np.float64)
    for label, value in _fields(text):
        is_colour = "colo" in label and "temp" not in label
        block = _colour_block(label, value) if is_colour else _text_block(label, value)
        parts = {name: feats for name, feats in block.parts.items() if feats}
        if not parts:
            continue
        shares = {name: PART_SHARES.get(name, 1.0) for name in parts}
        total = sum(shares.values())
        for name, feats in parts.items():
            scale = math.sqrt(_field_weight(label) * shares[name] / total)
            norm = math.sqrt(sum(w * w for w in feats.values()))
            for feat, weight in feats.items():
                index, sign = _slot(feat, dims)
                vec[index] += sign * weight / norm * scale
    # The norm summed exactly (math.fsum), not by np.linalg.norm: BLAS's nrm2 rounds by the
    # kernel the CPU selects (an AVX-512 machine's vectors differed in the last bit from an
    # AVX2 one's), and the same text must embed to the same bytes on every machine.
    norm = math.sqrt(math.fsum(float(x) * float(x) for x in vec))
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
