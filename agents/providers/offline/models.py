"""The offline provider: deterministic, keyless, and honest about what it is.

- generate: renders the ad with Pillow (offline/render.py), with the per-ad seeded
  imperfection plan drawn into the pixels;
- defect_scan / review: re-render the flawless ideal of the same brief and *measure* the
  given image against it and on its own (offline/measure.py) — a scan flag or a low
  score appears only when the pixels show it;
- describe: the visual descriptor from measurements of the pixels alone;
- embed: see offline/hashembed.py.

Every CallRecord says provider='offline', model='offline-…-v1', cost 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from agents.providers.base import (
    AdBrief,
    CallRecord,
    DefectScan,
    DefectScanResult,
    DescriptorResult,
    Exemplar,
    GeneratedImage,
    MalformedOutput,
    Review,
    ReviewResult,
    RubricCheck,
    VisualDescriptor,
    canvas_dimensions,
)
from agents.providers.offline.measure import (
    AdMeasurements,
    ImageStats,
    as_array,
    color_name,
    image_stats,
    measure_ad,
)
from agents.providers.offline.render import (
    OfflineRenderer,
    from_png,
    layout_for_brief,
    palette_for,
    plan_flaws,
    stable_rng,
    to_png,
)
from agents.providers.prompts import image_prompt

PROVIDER = "offline"
RENDER_MODEL = "offline-render-v1"
SCAN_MODEL = "offline-scan-v1"
REVIEW_MODEL = "offline-review-v1"
ALT_REVIEW_MODEL = "offline-review-alt-v1"
DESCRIBE_MODEL = "offline-describe-v1"

# Scan thresholds on region mismatch against the ideal render (see measure.py).
SCAN_THRESHOLDS = {"headline": 0.5, "label": 0.2, "product": 0.25, "figure": 0.03,
                   "shadow": 0.35, "offer": 0.2}  # fmt: skip


def _record(model: str, operation: str, started: float) -> CallRecord:
    return CallRecord(
        provider=PROVIDER,
        model=model,
        operation=operation,  # type: ignore[arg-type]
        latency_ms=max(0, round((time.perf_counter() - started) * 1000)),
    )


def _decode_image(png: bytes) -> Image.Image:
    try:
        return from_png(png)
    except ValueError as exc:
        raise MalformedOutput("offline provider got an undecodable image", repr(png[:64])) from exc


def _decode(png: bytes) -> np.ndarray:
    return as_array(_decode_image(png))


# The directory agents on one host share measurements in (the demo sets it, see
# OfflineAdWorld and docs/operations.md#providers); unset, each process keeps its own.
SHARED_DIR_ENV = "GENOME_OFFLINE_CACHE_DIR"


def _code_version() -> str:
    """What a shared entry was computed by: another version of the renderer or of the
    measurements never reads it (nor does anything, when the sources are not there)."""
    try:
        sources = b"".join(
            (Path(__file__).parent / name).read_bytes()
            for name in ("render.py", "measure.py", "models.py")
        )
    except OSError:
        return os.urandom(8).hex()
    return hashlib.sha256(sources).hexdigest()[:16]


_CODE_VERSION = _code_version()


class OfflineAdWorld:
    """The renderer plus the ideal-render measurement shared by scanner and reviewer.

    Keeps the last few ideal renders and measurements (per instance), so the scan and the
    reviews of one ad in one process render its ideal and measure its image once.

    With `shared_dir`, agent processes on one host share that work too: the demo's two
    agents each took about half of an ad's stages, so the review often ran where the scan
    had not, and measured the image again after rendering its ideal again. There the scan
    leaves the measurement (a pure function of the image and the brief, stored as JSON,
    whose floats read back bit for bit), and generate leaves, for an ad drawn without
    flaws, the content hash of its image, which is then the ideal's lossless encoding: the
    other process decodes it instead of rendering it. Entries are keyed by content hash,
    brief and code version, and written whole (a rename), so a reader finds a complete
    entry or none."""

    def __init__(
        self,
        renderer: OfflineRenderer | None = None,
        cache_size: int = 128,
        shared_dir: Path | None = None,
    ) -> None:
        self.renderer = renderer or OfflineRenderer()
        self._ideals: OrderedDict[str, Image.Image] = OrderedDict()
        self._measured: OrderedDict[tuple[bytes, str], AdMeasurements] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.shared_dir = shared_dir
        if shared_dir is not None:
            shared_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_env(cls) -> OfflineAdWorld:
        """A world sharing through $GENOME_OFFLINE_CACHE_DIR when it is set."""
        shared = os.environ.get(SHARED_DIR_ENV)
        return cls(shared_dir=Path(shared) if shared else None)

    def _shared_path(self, kind: str, *parts: bytes | str) -> Path | None:
        if self.shared_dir is None:
            return None
        h = hashlib.sha256(_CODE_VERSION.encode())
        for part in parts:
            h.update(part if isinstance(part, bytes) else part.encode())
            h.update(b"\0")
        return self.shared_dir / f"{kind}-{h.hexdigest()}"

    @staticmethod
    def _read(path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return path.read_text()
        except OSError:
            return None

    @staticmethod
    def _write(path: Path | None, text: str) -> None:
        if path is None:
            return
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError:  # a cache: the work is done again elsewhere, never wrong
            tmp.unlink(missing_ok=True)

    def remember_generated(self, brief: AdBrief, image: Image.Image, png: bytes) -> None:
        """An image generate drew without flaws: the brief's ideal, here and (by its PNG's
        content hash) for the other agents sharing the directory."""
        self.remember_ideal(brief, image)
        self._write(self._shared_path("ideal", self._key(brief)), hashlib.sha256(png).hexdigest())

    @staticmethod
    def _key(brief: AdBrief) -> str:
        return brief.model_dump_json(exclude={"prompt_text", "performance_context"})

    def remember_ideal(self, brief: AdBrief, image: Image.Image) -> None:
        with self._lock:
            self._ideals[self._key(brief)] = image
            self._ideals.move_to_end(self._key(brief))
            while len(self._ideals) > self._cache_size:
                self._ideals.popitem(last=False)

    def ideal(self, brief: AdBrief, png: bytes | None = None) -> Image.Image:
        """The brief's flawless render; `png`, the image being measured, is taken as the
        ideal when generate recorded it as the brief's flawless image (same hash)."""
        with self._lock:
            cached = self._ideals.get(self._key(brief))
        if cached is None and png is not None:
            drawn = self._read(self._shared_path("ideal", self._key(brief)))
            if drawn is not None and drawn == hashlib.sha256(png).hexdigest():
                cached = _decode_image(png)
                self.remember_ideal(brief, cached)
        if cached is None:
            cached = self.renderer.render(brief).image
            self.remember_ideal(brief, cached)
        return cached

    def measure(self, png: bytes, brief: AdBrief) -> AdMeasurements:
        """The image's measurements against its brief's ideal; a pure function of both, so
        the scan's are the review's and the second opinion's (kept like the ideals)."""
        key = (hashlib.sha256(png).digest(), self._key(brief))
        with self._lock:
            cached = self._measured.get(key)
        if cached is not None:
            return cached
        shared = self._shared_path("measure", *key)
        measured = _measurements_from_json(self._read(shared))
        if measured is None:
            img = _decode_image(png)
            ideal_img = self.ideal(brief, png)
            if img.size != ideal_img.size:  # e.g. a full-size image: measure at render size
                img = img.resize(ideal_img.size, Image.Resampling.LANCZOS)
            arr, ideal = as_array(img), as_array(ideal_img)
            measured = measure_ad(arr, ideal, layout_for_brief(brief), palette_for(brief))
            self._write(shared, json.dumps(dataclasses.asdict(measured)))
        with self._lock:
            self._measured[key] = measured
            while len(self._measured) > self._cache_size:
                self._measured.popitem(last=False)
        return measured


def _measurements_from_json(text: str | None) -> AdMeasurements | None:
    """A shared entry read back (None when absent or not a whole entry)."""
    if text is None:
        return None
    try:
        return AdMeasurements(**json.loads(text))
    except (ValueError, TypeError):
        return None


class OfflineImageModel:
    """Image generation, the defect scan and the visual descriptor, offline."""

    name = PROVIDER

    def __init__(self, world: OfflineAdWorld | None = None) -> None:
        self.world = world or OfflineAdWorld()

    def generate(self, brief: AdBrief) -> GeneratedImage:
        started = time.perf_counter()
        plan = plan_flaws(brief)
        rendered = self.world.renderer.render(brief, plan)
        png = to_png(rendered.image)
        if not plan.flaws:
            self.world.remember_generated(brief, rendered.image, png)
        width, height = canvas_dimensions(brief.canvas_size)
        # The prompt the live model would get, from the run's prompt template
        # (docs/experiments.md#generation-ab-tests). The renderer draws from the brief, not
        # from prompt wording, so offline two prompt templates differ only in this text.
        prompt = image_prompt(brief)
        return GeneratedImage(
            png=png,
            width=width,
            height=height,
            prompt_text=prompt,
            call=_record(RENDER_MODEL, "generate", started),
        )

    def defect_scan(self, png: bytes, brief: AdBrief) -> DefectScanResult:
        started = time.perf_counter()
        m = self.world.measure(png, brief)
        mm = m.region_mismatch

        def over(key: str) -> bool:
            return mm.get(key, 0.0) > SCAN_THRESHOLDS[key]

        distorted = over("product")
        scan = DefectScan(
            text_garbled=over("headline"),
            anatomy_error=over("figure"),
            physics_violation=over("shadow") and not distorted,
            packaging_text_error=over("label"),
            product_distortion=distorted,
            offer_hallucination=over("offer"),
            notes="; ".join(f"{k} mismatch {v:.2f}" for k, v in sorted(mm.items()) if v > 0)
            or "matches the brief's layout",
        )
        return DefectScanResult(
            scan=scan, raw=scan.model_dump_json(), call=_record(SCAN_MODEL, "defect_scan", started)
        )

    def describe(self, png: bytes) -> DescriptorResult:
        started = time.perf_counter()
        descriptor = describe_stats(image_stats(_decode(png)))
        return DescriptorResult(
            descriptor=descriptor,
            raw=descriptor.model_dump_json(),
            call=_record(DESCRIBE_MODEL, "describe", started),
        )


# --- review -----------------------------------------------------------------------------


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    return float(np.interp(x, xs, ys))


def measured_scores(m: AdMeasurements, brief: AdBrief) -> dict[str, float]:
    """The 16 checks of the rubric in use, from measurements (before reviewer noise)."""
    mm = m.region_mismatch
    shape = max(mm.get("product", 0.0), mm.get("figure", 0.0) * 4, mm.get("shadow", 0.0) * 0.5)
    v2 = _interp(m.headline_contrast, [1, 1.5, 2, 3, 4.5, 7, 21], [1, 2.8, 4.6, 6.4, 8.0, 9.0, 9.6])
    v2 -= 8 * mm.get("headline", 0.0)
    sharp = min(1.0, m.product_sharpness)
    offer = mm.get("offer", 0.0)
    hook_known = brief.element_tags.get("hook_type") is not None
    has_offer = bool(brief.current_offer)
    brand_mode = brief.element_tags.get("color_mode") == "brand"
    scores = {
        "V1": 9.3 - 12 * mm.get("product", 0.0) - 3 * (1 - sharp) - 6 * mm.get("label", 0.0),
        "V2": v2,
        "V3": 9.0 - 25 * m.margin_clutter - 3 * max(mm.values(), default=0.0),
        "V4": 9.2 - 9 * m.off_palette,
        "V5": 9.3 - 60 * m.margin_clutter,
        "V6": _interp(sharp, [0.0, 0.05, 0.1, 0.2, 0.5, 1.0], [3.0, 4.5, 5.5, 6.8, 8.0, 9.2]),
        "V7": 9.2 - 10 * m.artifact_energy - 20 * m.margin_clutter,
        "V8": 8.9 - 3 * mm.get("headline", 0.0) - 6 * max(0.0, m.headline_ink - 0.35),
        "V9": 9.4 - 15 * m.artifact_energy - 6 * shape,
        "C1": (8.9 if hook_known else 8.3) - 0.5 * max(0.0, 8.4 - v2),
        "C2": 9.0 - (8 if brand_mode else 5) * m.off_palette - 5 * mm.get("label", 0.0),
        "C3": _interp(m.cta_contrast, [1, 2, 3, 4.5, 7, 21], [1.5, 4.8, 6.5, 8.2, 9.0, 9.5]),
        "C4": 8.8 - 4 * m.off_palette - 10 * m.margin_clutter - 2 * shape,
        "C5": 9.4 - 14 * offer,
        "G1": (8.8 - 10 * offer) if has_offer else 8.5 - 6 * offer,
        "G2": 8.7 - 3 * m.off_palette - 4 * shape - 2 * mm.get("headline", 0.0),
    }
    return {k: min(10.0, max(0.0, v)) for k, v in scores.items()}


class OfflineReviewer:
    """A reviewer that scores every rubric check from measurements of the image.

    Two calibrations exist so that a second opinion is a different reviewer: the default
    one, and an 'alt' one that is less sensitive to flaws (a deficit below 9 counts 60%)
    with its own noise. Noise is seeded per (reviewer, ad, check), so the same ad gets
    the same review.
    """

    def __init__(
        self,
        model: str = REVIEW_MODEL,
        sensitivity: float = 1.0,
        noise_sd: float = 0.3,
        world: OfflineAdWorld | None = None,
        name: str = PROVIDER,
    ) -> None:
        self.model = model
        self.sensitivity = sensitivity
        self.noise_sd = noise_sd
        self.world = world or OfflineAdWorld()
        self.name = name

    def review(
        self, png: bytes, brief: AdBrief, rubric: list[RubricCheck], exemplars: list[Exemplar]
    ) -> ReviewResult:
        started = time.perf_counter()
        if not rubric:
            raise ValueError("review needs at least one rubric check")
        m = self.world.measure(png, brief)
        base = measured_scores(m, brief)
        fallback = float(np.mean(list(base.values())))
        rng = stable_rng("review", self.model, brief.seed, brief.generated_ad_id)
        scores: dict[str, float] = {}
        for check in rubric:
            measured = base.get(check.code.upper(), fallback)
            value = 9.0 - (9.0 - measured) * self.sensitivity
            value += rng.gauss(0.0, self.noise_sd)
            scores[check.code] = round(min(10.0, max(0.0, value)), 1)
        low = sorted(scores.items(), key=lambda kv: kv[1])[:3]
        notes = (
            f"measured: headline contrast {m.headline_contrast:.1f}:1, CTA contrast "
            f"{m.cta_contrast:.1f}:1, off-palette {m.off_palette:.2f}, margin clutter "
            f"{m.margin_clutter:.2f}, artifacts {m.artifact_energy:.2f}, product sharpness "
            f"{m.product_sharpness:.2f}; lowest: {', '.join(f'{c} {s}' for c, s in low)}; "
            f"{len(exemplars)} exemplars given (not used offline)"
        )
        review = Review(check_scores=scores, notes=notes)
        return ReviewResult(
            review=review, raw=review.model_dump_json(), call=_record(self.model, "review", started)
        )


# --- descriptor -------------------------------------------------------------------------


def _position(s: ImageStats) -> str:
    """Where the salient content sits (thirds), how much of the frame it takes, and the
    measured centre and share, so that placement differences are graded, not binary."""
    cx, cy = s.centroid
    col = "left" if cx < 0.45 else "right" if cx > 0.55 else ""
    row = "upper" if cy < 0.45 else "lower" if cy > 0.55 else ""
    place = f"{row}-{col}" if row and col else row or col or "center"
    ew, eh = s.extent
    return (
        f"{place} (x {cx:.2f}, y {cy:.2f}, size {s.salient_share:.2f}, "
        f"width {ew:.2f}, height {eh:.2f})"
    )


def _composition(s: ImageStats) -> str:
    cx, cy = s.centroid
    if s.left_right_split > 0.12:
        parts = ["split-screen"]
    elif s.negative_space > 0.7 and s.salient_share < 0.12:
        parts = ["minimal with open space"]
    elif abs(cx - 0.5) < 0.05:
        parts = ["centered", "symmetric" if s.symmetry > 0.93 else "asymmetric"]
    else:
        parts = ["rule-of-thirds"]
    if abs(cx - 0.5) >= 0.05:
        parts.append("left-weighted" if cx < 0.5 else "right-weighted")
    if abs(cy - 0.5) >= 0.05:
        parts.append("top-heavy" if cy < 0.5 else "bottom-heavy")
    parts.append("spread out" if s.spread > 0.3 else "compact")
    tx, ty = s.text_center
    parts.append(f"detail centre x {tx:.2f} y {ty:.2f}")
    return ", ".join(parts)


def _dark_ground(s: ImageStats) -> bool:
    if not s.dominant:
        return s.brightness < 0.35
    return max(s.dominant[0][0]) < 115  # the ground colour's HSV value below ~0.45


def _style(s: ImageStats) -> str:
    if _dark_ground(s):
        style = "dark premium"
    elif s.grain > 2.8:
        style = "textured photographic"
    elif s.negative_space > 0.55 and s.saturation < 0.25:
        style = "flat minimal"
    elif s.saturation > 0.3:
        style = "bold graphic"
    else:
        style = "clean graphic"
    contrast = "high contrast" if s.tonal_range > 0.6 else "soft contrast"
    return f"{style}, {contrast}, {_ground(s)}"


_DIRECTIONS = ("right", "lower right", "bottom", "lower left", "left", "upper left", "top",
               "upper right")  # fmt: skip


def _ground(s: ImageStats) -> str:
    """The ground as measured: plain, with tint panels, or graded (and lighter toward
    which side), with its lightness and tinted share."""
    gx, gy = s.ground_slope
    slope = math.hypot(gx, gy)
    if slope > 0.04:
        octant = round(math.atan2(gy, gx) / (math.pi / 4)) % 8
        kind = f"graded ground lighter to the {_DIRECTIONS[octant]}"
    elif s.ground_tint > 0.15:
        kind = "two-tone ground"
    else:
        kind = "plain ground"
    return f"{kind} (ground {s.ground_lightness:.2f}, tint {s.ground_tint:.2f})"


def describe_stats(s: ImageStats) -> VisualDescriptor:
    names: list[str] = []
    for rgb, _share in s.dominant:
        name = color_name(rgb)
        if name not in names:
            names.append(name)
    names = names[:6] or ["gray"]
    temperature = "warm" if s.warmth > 10 else "cool" if s.warmth < -10 else "neutral"
    return VisualDescriptor(
        dominant_colors=names,
        color_temperature=temperature,  # type: ignore[arg-type]
        composition_type=_composition(s),
        text_density=round(min(1.0, s.edge_density * 4), 2),
        visual_style=_style(s),
        subject_position=_position(s),
        negative_space_ratio=round(s.negative_space, 2),
        mood=_mood(s, temperature),
    )


def _mood(s: ImageStats, temperature: str) -> str:
    if _dark_ground(s):
        return "luxurious"
    if s.saturation > 0.35:
        return "energetic" if temperature == "warm" else "playful"
    if temperature == "warm":
        return "warm and inviting"
    if temperature == "cool":
        return "calm and fresh"
    return "clean and trustworthy"


def offline_reviewers(
    world: OfflineAdWorld | None = None,
) -> tuple[OfflineReviewer, OfflineReviewer]:
    """The first reviewer and the other one (for second opinions)."""
    shared = world or OfflineAdWorld()
    return (
        OfflineReviewer(REVIEW_MODEL, 1.0, 0.3, shared, PROVIDER),
        OfflineReviewer(ALT_REVIEW_MODEL, 0.6, 0.35, shared, f"{PROVIDER}-alt"),
    )
