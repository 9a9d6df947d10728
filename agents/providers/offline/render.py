"""The offline renderer: a real ad image drawn with Pillow from a brief's element tags.

Headline copy comes from hook_type, the palette from color_mode, the layout from
template_category, background treatment from visual_style, the aspect ratio from
canvas_size; the product (a package with its name on the label), the offer badge and a
call to action are drawn. Images are rendered at 1/4 of the canvas size for speed.

Like a real generator, every ad is its own take on its tags: a seeded per-ad `Variant`
(from the brief's seed and ad id) picks the wording of the hook and the call to action,
mirrors the layout or not, moves and scales the product, picks the background treatment
of the style (gradient direction, panels, discs, bokeh, shapes …), scatters accents, and
nudges the palette within its colour mode. Two ads with the same tags therefore look
related but not alike; the same brief and seed always render the same bytes.

A seeded, per-ad imperfection plan (`plan_flaws`) decides whether this render carries a
flaw — garbled headline, wrong label text, distorted product, a misdrawn figure, a
detached shadow, a wrong offer, an artifact smear, or a milder low contrast, cramped
margins, off-palette accents, a soft product. The flaws are drawn into the pixels; the
offline scanner and reviewer find them only by measuring the image.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
import threading
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from agents.pngcache import decode_png
from agents.providers.base import AdBrief, canvas_dimensions

SCALE = 4  # render at 1/SCALE of the canvas
MARGIN = 0.06  # outer strip kept free of content in a clean render
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

Box = tuple[float, float, float, float]  # fractions of width / height
RGB = tuple[int, int, int]


class Flaw(StrEnum):
    # critical (the defect scan's checks)
    GARBLED_TEXT = "garbled_text"
    PACKAGING_TEXT = "packaging_text"
    PRODUCT_DISTORTION = "product_distortion"
    ANATOMY = "anatomy"
    PHYSICS = "physics"
    OFFER_WRONG = "offer_wrong"
    # hard reject in review (AI artifacts)
    ARTIFACT_SMEAR = "artifact_smear"
    # milder, borderline on some check
    LOW_CONTRAST = "low_contrast"
    CRAMPED = "cramped"
    OFF_PALETTE = "off_palette"
    SOFT_PRODUCT = "soft_product"


MILD_FLAWS = (Flaw.LOW_CONTRAST, Flaw.CRAMPED, Flaw.OFF_PALETTE, Flaw.SOFT_PRODUCT)


@dataclass(frozen=True)
class FlawPlan:
    flaws: tuple[Flaw, ...] = ()
    severity: float = 0.0  # 0..1, how strong the mild flaws are

    def has(self, flaw: Flaw) -> bool:
        return flaw in self.flaws


NO_FLAWS = FlawPlan()


def stable_unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (no dependence on PYTHONHASHSEED)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def stable_rng(*parts: object) -> random.Random:
    return random.Random(int(stable_unit(*parts) * 2**53))


ACCENTS = ("none", "dots", "rings", "bars", "sparkles", "corner")


@dataclass(frozen=True)
class Variant:
    """The creative choices a generator makes freely for one ad, seeded per ad."""

    copy: int  # which wording of the hook and of the call to action
    mirror: bool  # the layout mirrored left-right
    product_scale: float  # the product box scaled about its centre
    product_shift: tuple[float, float]  # and moved (fractions of width / height)
    headline_center: bool
    headline_width: float  # share of the template's headline box width used
    background: int  # which treatment within the visual style
    angle: float  # gradient / light direction, radians
    accents: str
    accent_count: int
    hue_shift: float  # palette nudges within the colour mode
    tint: float  # 0 = nearly white ground, 1 = clearly tinted
    deep_ground: bool  # a dark ground with light text
    accent_jitter: tuple[float, float]  # saturation / value of the accents


def variant_for(brief: AdBrief) -> Variant:
    rng = stable_rng("variant", brief.seed, brief.generated_ad_id)
    return Variant(
        copy=rng.randrange(1 << 30),
        mirror=rng.random() < 0.5,
        product_scale=rng.uniform(0.68, 1.18),
        product_shift=(rng.uniform(-0.08, 0.08), rng.uniform(-0.06, 0.06)),
        headline_center=rng.random() < 0.45,
        headline_width=rng.choice((1.0, rng.uniform(0.62, 0.95))),
        background=rng.randrange(1 << 30),
        angle=rng.uniform(0.0, 2 * math.pi),
        accents=rng.choice(ACCENTS),
        accent_count=rng.randint(3, 9),
        hue_shift=rng.uniform(-0.025, 0.025),
        tint=rng.random(),
        deep_ground=rng.random() < 0.22,
        accent_jitter=(rng.uniform(-0.1, 0.08), rng.uniform(-0.08, 0.08)),
    )


def plan_flaws(brief: AdBrief) -> FlawPlan:
    """The per-ad imperfection process: ~7% critical, ~3% hard-reject artifacts,
    ~15% one mild flaw (borderline), ~3% several strong mild flaws (poor ad)."""
    rng = stable_rng("flaws", brief.seed, brief.generated_ad_id)
    u = rng.random()
    layout = layout_for(brief.element_tags.get("template_category", ""))
    if u < 0.07:
        kinds = [
            Flaw.GARBLED_TEXT,
            Flaw.PACKAGING_TEXT,
            Flaw.PRODUCT_DISTORTION,
            Flaw.ANATOMY if layout.figure else Flaw.PHYSICS,
            Flaw.PHYSICS,
            Flaw.OFFER_WRONG,
        ]
        return FlawPlan((rng.choice(kinds),), 1.0)
    if u < 0.10:
        return FlawPlan((Flaw.ARTIFACT_SMEAR,), 1.0)
    if u < 0.25:
        return FlawPlan((rng.choice(MILD_FLAWS),), rng.uniform(0.35, 0.8))
    if u < 0.28:
        return FlawPlan(tuple(rng.sample(MILD_FLAWS, 3)), rng.uniform(0.9, 1.0))
    return NO_FLAWS


# --- canvas ---------------------------------------------------------------------------


def render_dimensions(canvas_size: str) -> tuple[int, int]:
    w, h = canvas_dimensions(canvas_size)
    return max(32, round(w / SCALE)), max(32, round(h / SCALE))


# --- palette --------------------------------------------------------------------------


def _rgb(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1))
    return round(r * 255), round(g * 255), round(b * 255)


def luminance(c: RGB) -> float:
    def lin(x: int) -> float:
        v = x / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = c
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast_ratio(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(bg: RGB) -> RGB:
    dark, light = (28, 28, 32), (250, 250, 250)
    return dark if contrast_ratio(dark, bg) >= contrast_ratio(light, bg) else light


def blend(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@dataclass(frozen=True)
class Palette:
    bg: RGB
    bg2: RGB
    accent: RGB
    accent2: RGB
    product: RGB
    text: RGB
    cta_text: RGB
    label: RGB
    hues: tuple[float, ...]  # the hues of the saturated colours a clean render uses
    brand_hue: float


STYLES = ("flat", "gradient", "textured", "geometric", "bold", "photographic", "luxury")
_STYLE_WORDS = {  # checked in order ("photographic" before "graphic")
    "photographic": ("photo", "realistic", "lifestyle", "natural", "ugc", "candid"),
    "flat": ("flat", "minimal", "clean", "simple"),
    "gradient": ("gradient", "modern", "soft"),
    "textured": ("textur", "grain", "vintage", "retro", "organic", "handmade"),
    "geometric": ("geometr", "illustrat", "playful", "graphic", "abstract"),
    "bold": ("bold", "vibrant", "pop", "loud", "energetic"),
    "luxury": ("luxur", "elegant", "premium", "dark", "moody", "sophisticated"),
}


def style_for(visual_style: str) -> str:
    s = (visual_style or "").lower()
    for style, words in _STYLE_WORDS.items():
        if any(w in s for w in words):
            return style
    return STYLES[int(stable_unit("style", s) * len(STYLES))]


def palette_for(brief: AdBrief, flaws: FlawPlan = NO_FLAWS) -> Palette:
    """The colour mode's palette, nudged per ad (hue, ground tint, a dark ground now and
    then, accent saturation) — always within the mode: its hues stay its hues."""
    mode = brief.element_tags.get("color_mode", "original")
    style = style_for(brief.element_tags.get("visual_style", ""))
    var = variant_for(brief)
    brand_hue = stable_unit("brand", brief.brand_name)
    product_hue = stable_unit("product", brief.brand_name, brief.product_name)
    t, (ds, dv) = var.tint, var.accent_jitter
    deep = var.deep_ground and style != "luxury"
    if mode == "brand":
        h = brand_hue + var.hue_shift
        accent, accent2 = _rgb(h, 0.78 + ds, 0.62 + dv), _rgb(h + 0.04, 0.55 + ds, 0.82 + dv)
        product = _rgb(brand_hue, 0.6, 0.5)
        hues = (h, h + 0.04)
        ground_hue, ground_sat = h, 0.03 + 0.2 * t
    elif mode == "complementary":
        h = product_hue + var.hue_shift
        accent, accent2 = _rgb(h + 0.5, 0.8 + ds, 0.72 + dv), _rgb(h + 0.5, 0.5 + ds, 0.88 + dv)
        product = _rgb(product_hue, 0.62, 0.58)
        hues = (h, h + 0.5)
        ground_hue, ground_sat = h, 0.05 + 0.22 * t
    else:  # original (and anything unregistered): warm or cool neutral ground, product hue
        h = product_hue + var.hue_shift
        accent, accent2 = _rgb(h, 0.55 + ds, 0.5 + dv), _rgb(h, 0.4 + ds, 0.78 + dv)
        product = _rgb(product_hue, 0.58, 0.62)
        hues = (h,)
        ground_hue, ground_sat = (0.09 if product_hue < 0.5 else 0.58), 0.02 + 0.1 * t
    bg = _rgb(ground_hue, ground_sat, 0.985 - 0.05 * t)
    bg2 = _rgb(ground_hue, ground_sat + 0.1, 0.93 - 0.06 * t)
    if deep:  # a dark ground of the same hue family, darker than the product
        bg = _rgb(ground_hue, min(0.55, 2.5 * ground_sat), 0.2 + 0.08 * t)
        bg2 = _rgb(ground_hue, min(0.6, 2.5 * ground_sat + 0.05), 0.3 + 0.08 * t)
    if style == "luxury":
        bg, bg2 = _rgb(h, 0.3 + 0.1 * t, 0.16 + 0.06 * t), _rgb(h, 0.4, 0.26 + 0.05 * t)
    if flaws.has(Flaw.OFF_PALETTE):
        clash = 0.22 + 0.16 * flaws.severity
        accent = _rgb(h + clash + 0.5 * (mode == "complementary"), 0.95, 0.8)
        accent2 = _rgb(h - clash, 0.9, 0.9)
    text = readable_on(bg)
    return Palette(
        bg=bg,
        bg2=bg2,
        accent=accent,
        accent2=accent2,
        product=product,
        text=text,
        cta_text=readable_on(accent),
        label=(246, 244, 238),
        hues=tuple(x % 1.0 for x in hues),
        brand_hue=brand_hue,
    )


# --- layout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    name: str
    headline: Box
    product: Box
    offer: Box
    cta: Box
    figure: Box | None = None
    benefits: Box | None = None
    decor: str = ""
    mirror: bool = False  # drawn mirrored left-right (decor follows)

    def box(self, b: Box) -> Box:
        """A fixed decor box, mirrored with the layout."""
        return _mirror_box(b) if self.mirror else b

    def mirrored(self) -> Layout:
        return replace(
            self,
            headline=_mirror_box(self.headline),
            product=_mirror_box(self.product),
            offer=_mirror_box(self.offer),
            cta=_mirror_box(self.cta),
            figure=_mirror_box(self.figure) if self.figure else None,
            benefits=_mirror_box(self.benefits) if self.benefits else None,
            mirror=not self.mirror,
        )

    def label(self) -> Box:
        x0, y0, x1, y1 = self.product
        w, h = x1 - x0, y1 - y0
        return (x0 + 0.18 * w, y0 + 0.42 * h, x1 - 0.18 * w, y0 + 0.66 * h)

    def shadow(self) -> Box:
        x0, _, x1, y1 = self.product
        w = x1 - x0
        return (x0 + 0.02 * w, y1 - 0.01, x1 - 0.02 * w, min(y1 + 0.05, 1 - MARGIN - 0.005))

    def regions(self) -> dict[str, Box]:
        out = {
            "headline": self.headline,
            "product": self.product,
            "label": self.label(),
            "offer": self.offer,
            "cta": self.cta,
            "shadow": self.shadow(),
        }
        if self.figure:
            out["figure"] = self.figure
        if self.benefits:
            out["benefits"] = self.benefits
        return out


_LAYOUTS: dict[str, Layout] = {
    "Product-Focus": Layout(
        "Product-Focus", (0.08, 0.08, 0.92, 0.26), (0.30, 0.30, 0.70, 0.72),
        (0.72, 0.30, 0.92, 0.40), (0.32, 0.82, 0.68, 0.91),
    ),
    "Minimal-Text": Layout(
        "Minimal-Text", (0.08, 0.08, 0.62, 0.18), (0.36, 0.34, 0.64, 0.70),
        (0.08, 0.82, 0.32, 0.90), (0.68, 0.83, 0.92, 0.90),
    ),
    "Lifestyle": Layout(
        "Lifestyle", (0.08, 0.72, 0.92, 0.83), (0.54, 0.16, 0.88, 0.62),
        (0.08, 0.86, 0.38, 0.93), (0.56, 0.86, 0.92, 0.93), figure=(0.10, 0.10, 0.46, 0.66),
    ),
    "Testimonial": Layout(
        "Testimonial", (0.12, 0.08, 0.88, 0.36), (0.52, 0.42, 0.88, 0.76),
        (0.08, 0.82, 0.40, 0.91), (0.56, 0.83, 0.90, 0.92), figure=(0.10, 0.44, 0.36, 0.76),
        decor="quote",
    ),
    "UGC-Style": Layout(
        "UGC-Style", (0.08, 0.08, 0.92, 0.20), (0.62, 0.46, 0.90, 0.78),
        (0.66, 0.24, 0.92, 0.34), (0.62, 0.85, 0.92, 0.93), figure=(0.12, 0.24, 0.58, 0.92),
    ),
    "Problem-Solution": Layout(
        "Problem-Solution", (0.08, 0.08, 0.92, 0.22), (0.58, 0.30, 0.88, 0.70),
        (0.10, 0.78, 0.42, 0.88), (0.58, 0.80, 0.90, 0.89), benefits=(0.10, 0.30, 0.46, 0.72),
        decor="split",
    ),
    "Before-After": Layout(
        "Before-After", (0.08, 0.08, 0.92, 0.22), (0.58, 0.30, 0.88, 0.70),
        (0.10, 0.78, 0.42, 0.88), (0.58, 0.80, 0.90, 0.89), figure=(0.12, 0.30, 0.44, 0.72),
        decor="split",
    ),
    "Comparison": Layout(
        "Comparison", (0.08, 0.08, 0.92, 0.22), (0.56, 0.28, 0.90, 0.72),
        (0.56, 0.80, 0.90, 0.88), (0.20, 0.82, 0.50, 0.91), benefits=(0.10, 0.28, 0.48, 0.74),
        decor="split",
    ),
    "Educational": Layout(
        "Educational", (0.08, 0.08, 0.92, 0.24), (0.58, 0.30, 0.90, 0.74),
        (0.10, 0.80, 0.40, 0.89), (0.58, 0.80, 0.90, 0.89), benefits=(0.10, 0.30, 0.52, 0.74),
    ),
    "Infographic": Layout(
        "Infographic", (0.08, 0.08, 0.92, 0.20), (0.62, 0.24, 0.90, 0.56),
        (0.62, 0.66, 0.90, 0.74), (0.30, 0.82, 0.70, 0.91), benefits=(0.10, 0.26, 0.56, 0.76),
        decor="bars",
    ),
    "Professional": Layout(
        "Professional", (0.08, 0.12, 0.50, 0.50), (0.56, 0.16, 0.90, 0.70),
        (0.08, 0.56, 0.44, 0.64), (0.08, 0.80, 0.44, 0.89), decor="rules",
    ),
    "Collage": Layout(
        "Collage", (0.08, 0.76, 0.92, 0.86), (0.52, 0.10, 0.88, 0.50),
        (0.08, 0.88, 0.36, 0.935), (0.56, 0.88, 0.92, 0.935), figure=(0.12, 0.10, 0.46, 0.50),
        decor="tiles",
    ),
}  # fmt: skip


def layout_for(template_category: str) -> Layout:
    if template_category in _LAYOUTS:
        return _LAYOUTS[template_category]
    names = sorted(_LAYOUTS)
    return _LAYOUTS[names[int(stable_unit("layout", template_category) * len(names))]]


def _mirror_box(b: Box) -> Box:
    return (1 - b[2], b[1], 1 - b[0], b[3])


def _overlaps(a: Box, b: Box, pad: float = 0.012) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _place_product(layout: Layout, var: Variant) -> Layout:
    """Move and scale the product as the variant asks, shrinking the move and the scale
    until the product and its shadow stay clear of every other element and the margins."""
    x0, y0, x1, y1 = layout.product
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    others = [b for k, b in layout.regions().items() if k not in ("product", "label", "shadow")]
    lo, hi = MARGIN + 0.015, 1 - MARGIN - 0.015
    scale, (dx, dy) = var.product_scale, var.product_shift
    tries = [(dx * (1 - i / 10), dy * (1 - i / 10), 1 + (scale - 1) * (1 - i / 10) if scale > 1
              else scale) for i in range(11)]  # fmt: skip
    tries += [(0.0, 0.0, s) for s in (0.95, 0.9, 0.85, 0.8, 0.75) if s < scale]
    for mx, my, s in tries:
        box = (cx + mx - w * s / 2, cy + my - h * s / 2, cx + mx + w * s / 2, cy + my + h * s / 2)
        moved = replace(layout, product=box)
        shadow = moved.shadow()
        inside = min(box[0], box[1]) >= lo and max(box[2], box[3] + 0.05) <= hi
        if inside and not any(_overlaps(box, o) or _overlaps(shadow, o) for o in others):
            return moved
    return layout


def layout_for_brief(brief: AdBrief) -> Layout:
    """The template's layout as this ad draws it: mirrored or not, product placed."""
    var = variant_for(brief)
    layout = layout_for(brief.element_tags.get("template_category", ""))
    if var.headline_width < 1.0:  # a narrower headline: left-anchored, or centred
        x0, y0, x1, y1 = layout.headline
        width = (x1 - x0) * var.headline_width
        if var.headline_center:
            x0 += ((x1 - x0) - width) / 2
        layout = replace(layout, headline=(x0, y0, x0 + width, y1))
    if var.mirror:
        layout = layout.mirrored()
    return _place_product(layout, var)


# --- copy -----------------------------------------------------------------------------

_HEADLINES: dict[str, tuple[str, ...]] = {
    "curiosity_gap": ("The one thing {p} users never go back from",
                      "Why everyone quietly switched to {p}",
                      "What nobody tells you about {b}"),
    "social_proof": ("Join 50,000+ people who switched to {p}",
                     "Rated 4.8 by 12,000 happy customers",
                     "Thousands already love {p}"),
    "authority": ("Recommended by experts: {p}",
                  "Dermatologist approved {p}",
                  "The pros' choice for {b}"),
    "urgency": ("Today only: {o}", "Ends tonight: {o}", "Last chance: {o}"),
    "scarcity": ("Almost gone: the last batch of {p}",
                 "Only a few left",
                 "Limited run: {p} won't last"),
    "fear_of_missing_out": ("Everyone is talking about {p}. Are you in?",
                            "Don't be the last to try {p}",
                            "The {p} everyone wants"),
    "transformation": ("From tired to thriving with {p}",
                       "Your new routine starts here",
                       "See the difference in 7 days"),
    "before_after": ("Before {p}. After {p}.",
                     "Day 1 vs day 30",
                     "The difference {p} makes"),
    "problem_solution": ("Still struggling? {p} fixes it",
                         "Tired of waiting for {b}?",
                         "The simple fix: {p}"),
    "testimonial": ("\u201c{p} changed my mornings\u201d",
                    "\u201cI can't go back\u201d \u2014 Sarah, 34",
                    "\u201cFinally, {b} that lasts\u201d"),
    "statistic": ("9 in 10 notice {b} with {p}",
                  "93% saw results in 2 weeks",
                  "3x more {b}, proven"),
    "question": ("What if {b} took 5 minutes?",
                 "Ready for {b}?",
                 "Why settle for less?"),
    "bold_claim": ("The best {p} you will ever try",
                   "Nothing works like {p}",
                   "{B}. Guaranteed."),
    "story": ("How a small idea became {p}",
              "Made in a kitchen, loved worldwide",
              "It started with one question"),
    "direct_benefit": ("{B} with {p}", "{B}, every day", "Get {b} the easy way"),
}  # fmt: skip

_CTAS = {
    "unaware": ("Learn more", "Discover", "See why"),
    "problem_aware": ("See how", "Find out how", "Get the fix"),
}
_DEFAULT_CTAS = ("Shop now", "Buy now", "Get yours", "Try it today")


def headline_for(brief: AdBrief) -> str:
    hook = brief.element_tags.get("hook_type", "direct_benefit")
    variants = _HEADLINES.get(hook, ("{p}: {b}", "{p} \u2014 {b}"))
    template = variants[variant_for(brief).copy % len(variants)]
    benefit = brief.benefits[0] if brief.benefits else "better results"
    offer = brief.current_offer or f"discover {brief.product_name}"
    return template.format(p=brief.product_name, b=benefit.lower(), B=benefit.capitalize(), o=offer)


def cta_for(brief: AdBrief) -> str:
    options = _CTAS.get(brief.element_tags.get("awareness_stage", ""), _DEFAULT_CTAS)
    return options[(variant_for(brief).copy // 7) % len(options)]


# --- drawing --------------------------------------------------------------------------


@dataclass
class Fonts:
    """Fonts loaded once per renderer (DejaVu when installed, else Pillow's default)."""

    bold_path: Path | None = None
    regular_path: Path | None = None
    _cache: dict[tuple[bool, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = field(
        default_factory=dict
    )
    # _fit_text's layouts: (text, bold, box width, box height) -> (font size, lines).
    _layouts: dict[tuple[str, bool, int, int], tuple[int, list[str]]] = field(default_factory=dict)

    @classmethod
    def discover(cls, font_dir: Path = FONT_DIR) -> Fonts:
        bold, regular = font_dir / "DejaVuSans-Bold.ttf", font_dir / "DejaVuSans.ttf"
        return cls(bold if bold.exists() else None, regular if regular.exists() else None)

    def get(self, bold: bool, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        size = max(6, size)
        key = (bold, size)
        if key not in self._cache:
            path = self.bold_path if bold else self.regular_path
            if path is not None:
                self._cache[key] = ImageFont.truetype(str(path), size)
            else:
                self._cache[key] = ImageFont.load_default(size)
        return self._cache[key]


def _px(box: Box, w: int, h: int) -> tuple[int, int, int, int]:
    return round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if not current or font.getlength(trial) <= width:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _text_layout(fonts: Fonts, text: str, bold: bool, bw: int, bh: int) -> tuple[int, list[str]]:
    """The largest font size (down to 7) at which `text` wraps into the box, and its lines.
    A pure function of its arguments, kept per Fonts: the same headlines, offers and CTAs
    come back on every render of an ad and of its ideal, and the search measured every
    word at every size (a tenth of an offline agent's time in the demo)."""
    key = (text, bold, bw, bh)
    cached = fonts._layouts.get(key)
    if cached is not None:
        return cached
    size = max(7, bh // 2)
    while True:
        font = fonts.get(bold, size)
        lines = _wrap(text, font, bw)
        line_h = round(size * 1.18)
        if (
            len(lines) * line_h <= bh and all(font.getlength(ln) <= bw for ln in lines)
        ) or size <= 7:
            break
        size -= 1
    if len(fonts._layouts) >= 4096:  # garbled headlines are one-offs: bounded
        fonts._layouts.clear()
    fonts._layouts[key] = (size, lines)
    return size, lines


def _fit_text(
    draw: ImageDraw.ImageDraw,
    fonts: Fonts,
    text: str,
    box: tuple[int, int, int, int],
    color: RGB,
    bold: bool,
    align: str = "left",
) -> None:
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    size, lines = _text_layout(fonts, text, bold, bw, bh)
    font = fonts.get(bold, size)
    line_h = round(size * 1.18)
    y = y0 + max(0, (bh - len(lines) * line_h) // 2)
    for line in lines:
        lw = font.getlength(line)
        x = x0 + (bw - lw) / 2 if align == "center" else x0
        draw.text((x, y), line, font=font, fill=color)
        y += line_h


_GARBLE = "ÆØß¥§¤#%&@ŁŊŦƩΞΨЖЩЮ"


def garble(text: str, rng: random.Random) -> str:
    return "".join(c if c == " " or rng.random() < 0.25 else rng.choice(_GARBLE) for c in text)


@dataclass(frozen=True)
class Rendered:
    image: Image.Image
    headline: str
    flaws: FlawPlan


class OfflineRenderer:
    """Draws the ad for a brief; deterministic for (brief, flaws)."""

    def __init__(self, fonts: Fonts | None = None) -> None:
        self.fonts = fonts or Fonts.discover()
        # FreeType faces are not safe to share between threads: one render at a time.
        self._lock = threading.Lock()

    def render(self, brief: AdBrief, flaws: FlawPlan = NO_FLAWS) -> Rendered:
        with self._lock:
            return self._render(brief, flaws)

    def _render(self, brief: AdBrief, flaws: FlawPlan) -> Rendered:
        w, h = render_dimensions(brief.canvas_size)
        pal = palette_for(brief, flaws)
        layout = layout_for_brief(brief)
        var = variant_for(brief)
        style = style_for(brief.element_tags.get("visual_style", ""))
        rng = stable_rng("render", brief.seed, brief.generated_ad_id)
        flaw_rng = stable_rng("flaw-detail", brief.seed, brief.generated_ad_id)

        # the ground and its decoration do not depend on the flaws (an off-palette accent
        # is a flaw of the accents, not a repainting of the scene)
        ground_pal = palette_for(brief) if flaws.flaws else pal
        img = self._background(w, h, ground_pal, style, var, layout, rng)
        draw = ImageDraw.Draw(img)
        self._decor(draw, layout, pal, w, h)
        self._accents(draw, layout, pal, var, w, h, rng)
        if layout.figure:
            self._figure(draw, layout.figure, w, h, pal, flaws.has(Flaw.ANATOMY))
        if layout.benefits:
            self._benefits(draw, brief, layout, pal, w, h)
        self._product(img, brief, layout, pal, w, h, flaws, flaw_rng)
        draw = ImageDraw.Draw(img)

        text_color = pal.text
        cta_text = pal.cta_text
        if flaws.has(Flaw.LOW_CONTRAST):
            t = 0.35 + 0.33 * flaws.severity
            text_color = blend(pal.text, pal.bg, t)
            cta_text = blend(pal.cta_text, pal.accent, t)
        headline = headline_for(brief)
        drawn_headline = garble(headline, flaw_rng) if flaws.has(Flaw.GARBLED_TEXT) else headline
        hb = _px(layout.headline, w, h)
        if style == "bold":
            draw.rectangle(hb, fill=pal.bg2)
        align = "center" if var.headline_center else "left"
        _fit_text(draw, self.fonts, drawn_headline, hb, text_color, bold=True, align=align)

        offer = brief.current_offer
        if flaws.has(Flaw.OFFER_WRONG):
            offer = "90% OFF EVERYTHING" if not offer else f"FREE {offer} x3 + 80% OFF"
        if offer:
            ob = _px(layout.offer, w, h)
            draw.rounded_rectangle(ob, radius=max(2, (ob[3] - ob[1]) // 3), fill=pal.accent2)
            pad = max(1, (ob[3] - ob[1]) // 6)
            inner = (ob[0] + pad, ob[1] + pad, ob[2] - pad, ob[3] - pad)
            _fit_text(draw, self.fonts, offer, inner, readable_on(pal.accent2), True, "center")

        cb = _px(layout.cta, w, h)
        draw.rounded_rectangle(cb, radius=max(2, (cb[3] - cb[1]) // 2), fill=pal.accent)
        pad = max(1, (cb[3] - cb[1]) // 5)
        _fit_text(
            draw, self.fonts, cta_for(brief), (cb[0] + pad, cb[1] + pad, cb[2] - pad, cb[3] - pad),
            cta_text, True, "center",
        )  # fmt: skip
        if flaws.has(Flaw.CRAMPED):
            self._cramp(draw, brief, pal, w, h, flaws.severity, flaw_rng)
        if flaws.has(Flaw.ARTIFACT_SMEAR):
            img = self._smear(img, layout, w, h, flaw_rng)
        return Rendered(img, headline, flaws)

    # backgrounds, decor and accents
    def _background(
        self, w: int, h: int, pal: Palette, style: str, var: Variant, layout: Layout,
        rng: random.Random,
    ) -> Image.Image:  # fmt: skip
        a = np.array(pal.bg, np.float32)
        b = np.array(pal.bg2, np.float32)
        px0, py0, px1, py1 = layout.product
        pcx, pcy = (px0 + px1) / 2, (py0 + py1) / 2
        kind = var.background
        if style in ("gradient", "photographic", "luxury"):
            ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
            xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
            if kind % 3 == 0:  # radial light around the product
                t = np.clip(np.hypot(xs - pcx, (ys - pcy) * h / w) / 0.8, 0.0, 1.0)
            else:  # linear, in the variant's direction
                t = (xs - 0.5) * math.cos(var.angle) + (ys - 0.5) * math.sin(var.angle)
                t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
            arr = a + (b - a) * t[..., None]
        else:
            arr = np.empty((h, w, 3), np.float32)
            arr[:] = a
        if style in ("textured", "photographic"):
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 3.5, (h, w, 1))
            arr += noise.astype(np.float32)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        plain = img.copy()
        img = self._decorate(img, w, h, pal, style, var, layout, rng)
        # the headline sits on the plain ground: decoration stops short of it
        x0, y0, x1, y1 = layout.headline
        pad = 0.02
        plate = _px((max(0.0, x0 - pad), max(0.0, y0 - pad), min(1.0, x1 + pad),
                     min(1.0, y1 + pad)), w, h)  # fmt: skip
        img.paste(plain.crop(plate), plate[:2])
        return img

    def _decorate(
        self, img: Image.Image, w: int, h: int, pal: Palette, style: str, var: Variant,
        layout: Layout, rng: random.Random,
    ) -> Image.Image:  # fmt: skip
        """The style's background treatment, chosen by the variant."""
        px0, py0, px1, py1 = layout.product
        pcx, pcy = (px0 + px1) / 2, (py0 + py1) / 2
        kind = var.background
        d = ImageDraw.Draw(img)
        side = min(w, h)
        pr = 0.5 * max((px1 - px0) * w, (py1 - py0) * h)
        if style in ("flat", "bold"):
            choice = kind % 5
            if choice == 1:  # a colour panel on one side or at the top / bottom
                frac = rng.uniform(0.3, 0.5)
                edge = (var.background // 5) % 4
                panel = ((0, 0, frac, 1), (1 - frac, 0, 1, 1), (0, 0, 1, frac * 0.8),
                         (0, 1 - frac * 0.8, 1, 1))[edge]  # fmt: skip
                d.rectangle(_px(panel, w, h), fill=pal.bg2)
            elif choice == 2:  # a disc behind the product
                r = pr * rng.uniform(1.1, 1.5)
                cx, cy = pcx * w, pcy * h
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.bg2)
            elif choice == 3:  # a large arc from a corner
                r = side * rng.uniform(0.45, 0.75)
                cx, cy = (0, w)[rng.random() < 0.5], (0, h)[rng.random() < 0.5]
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.bg2)
            elif choice == 4:  # a diagonal band
                k = rng.uniform(0.25, 0.6)
                d.polygon([(0, h * k), (w, h * (k - 0.35)), (w, h * (k + 0.05)),
                           (0, h * (k + 0.4))], fill=pal.bg2)  # fmt: skip
        elif style == "geometric":
            for _ in range(3 + kind % 5):
                cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
                r = rng.uniform(0.05, 0.16) * side
                fill = pal.bg2 if rng.random() < 0.6 else blend(pal.bg, pal.accent2, 0.3)
                shape = rng.randrange(3)
                if shape == 0:
                    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
                elif shape == 1:
                    d.rectangle((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=fill)
                else:
                    d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)
        elif style == "photographic":
            choice = kind % 4
            if choice == 1:  # a floor under the product
                d.rectangle((0, round(py1 * h), w, h), fill=blend(pal.bg2, (0, 0, 0), 0.06))
            elif choice == 2:  # soft out-of-focus lights
                layer = Image.new("L", (w, h), 0)
                ld = ImageDraw.Draw(layer)
                for _ in range(5 + var.accent_count):
                    cx, cy = rng.uniform(0, 1) * w, rng.uniform(0, 1) * h
                    r = rng.uniform(0.04, 0.1) * side
                    ld.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rng.randrange(60, 130))
                layer = layer.filter(ImageFilter.GaussianBlur(max(1.0, side / 90)))
                light = Image.new("RGB", (w, h), blend(pal.bg, (255, 255, 255), 0.7))
                img = Image.composite(light, img, layer)
            elif choice == 3:  # window light falling across the scene
                layer = Image.new("L", (w, h), 0)
                ld = ImageDraw.Draw(layer)
                x = rng.uniform(0.0, 0.5) * w
                for _ in range(2):
                    band = rng.uniform(0.08, 0.16) * w
                    ld.polygon([(x, 0), (x + band, 0), (x + band + 0.4 * w, h), (x + 0.4 * w, h)],
                               fill=70)  # fmt: skip
                    x += band + rng.uniform(0.05, 0.2) * w
                layer = layer.filter(ImageFilter.GaussianBlur(max(1.0, side / 60)))
                light = Image.new("RGB", (w, h), blend(pal.bg, (255, 255, 255), 0.8))
                img = Image.composite(light, img, layer)
        elif style == "textured" and kind % 2:
            for i in range(2 + kind % 4):
                y = rng.uniform(0.1, 0.9) * h
                d.rectangle((0, y, w, y + h * 0.04 * (1 + i % 2)), fill=pal.bg2)
        elif style == "luxury":  # a fine frame, doubled in some variants
            for k in range(1 + kind % 2):
                inset = MARGIN + 0.015 + 0.015 * k
                d.rectangle(_px((inset, inset, 1 - inset, 1 - inset), w, h),
                            outline=pal.accent2, width=max(1, side // 180))  # fmt: skip
        return img

    def _decor(
        self, draw: ImageDraw.ImageDraw, layout: Layout, pal: Palette, w: int, h: int
    ) -> None:
        m = MARGIN + 0.01
        if layout.decor == "split":
            draw.rectangle(_px(layout.box((m, 0.26, 0.5, 1 - m)), w, h), fill=pal.bg2)
        elif layout.decor == "tiles":
            draw.rectangle(_px(layout.box((m, m, 0.49, 0.55)), w, h), fill=pal.bg2)
            draw.rectangle(_px(layout.box((0.51, 0.56, 1 - m, 0.72)), w, h), fill=pal.bg2)
        elif layout.decor == "rules":
            x0, _, x1, _ = layout.offer
            draw.line(_px((x0, 0.53, x1, 0.53), w, h), fill=pal.accent, width=max(1, w // 150))
        elif layout.decor == "bars" and layout.benefits:
            x0, y0, x1, y1 = _px(layout.benefits, w, h)
            bar_w = (x1 - x0) // 7
            for i, frac in enumerate((0.45, 0.7, 0.95)):
                bx = x0 + (2 * i + 1) * bar_w
                draw.rectangle((bx, y1 - (y1 - y0) * frac * 0.5, bx + bar_w, y1), fill=pal.accent2)
        elif layout.decor == "quote":
            x0, y0, _, _ = _px(layout.headline, w, h)
            draw.ellipse((x0 - w // 30, y0 - h // 40, x0, y0 + h // 60), fill=pal.accent2)

    def _accents(
        self, draw: ImageDraw.ImageDraw, layout: Layout, pal: Palette, var: Variant, w: int,
        h: int, rng: random.Random,
    ) -> None:  # fmt: skip
        """Small accent shapes, only where no element is (clear of the margins too)."""
        if var.accents == "none":
            return
        taken = list(layout.regions().values())
        side = min(w, h)
        lo, hi = MARGIN + 0.02, 1 - MARGIN - 0.02
        color = blend(pal.bg, pal.accent2, 0.55)
        if var.accents == "corner":  # a cluster of dots in a free corner
            for cx0, cy0 in ((lo, lo), (hi - 0.12, lo), (lo, hi - 0.12), (hi - 0.12, hi - 0.12)):
                if not any(_overlaps((cx0, cy0, cx0 + 0.12, cy0 + 0.12), b) for b in taken):
                    r = max(1, side // 110)
                    for i in range(4):
                        for j in range(4):
                            x, y = (cx0 + 0.01 + i * 0.03) * w, (cy0 + 0.01 + j * 0.03) * h
                            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
                    return
            return
        for _ in range(var.accent_count * 3):
            size = rng.uniform(0.015, 0.04)
            x, y = rng.uniform(lo, hi - size), rng.uniform(lo, hi - size)
            box = (x, y, x + size, y + size * w / h)
            if box[3] > hi or any(_overlaps(box, b) for b in taken):
                continue
            taken.append(box)
            x0, y0, x1, y1 = _px(box, w, h)
            if var.accents == "dots":
                draw.ellipse((x0, y0, x1, y1), fill=color)
            elif var.accents == "rings":
                draw.ellipse((x0, y0, x1, y1), outline=color, width=max(1, side // 160))
            elif var.accents == "bars":
                draw.rectangle((x0, y0 + (y1 - y0) // 3, x1, y1 - (y1 - y0) // 3), fill=color)
            else:  # sparkles: small plus signs
                cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
                lw = max(1, side // 200)
                draw.line((x0, cy, x1, cy), fill=color, width=lw)
                draw.line((cx, y0, cx, y1), fill=color, width=lw)
            if len(taken) - len(layout.regions()) >= var.accent_count:
                return

    def _figure(
        self, draw: ImageDraw.ImageDraw, box: Box, w: int, h: int, pal: Palette, bad: bool
    ) -> None:
        x0, y0, x1, y1 = _px(box, w, h)
        bw, bh = x1 - x0, y1 - y0
        skin, cloth = blend((200, 170, 150), pal.bg, 0.15), blend((90, 96, 110), pal.bg, 0.1)
        cx = x0 + bw // 2
        r = max(3, min(bw, bh) // 7)
        head_y = y0 + r + bh // 20
        draw.ellipse((cx - r, head_y - r, cx + r, head_y + r), fill=skin)
        body = (x0 + bw // 5, head_y + r + 2, x1 - bw // 5, y1)
        draw.rounded_rectangle(body, radius=max(2, bw // 8), fill=cloth)
        arm_w = max(2, bw // 12)
        draw.rectangle((body[0] - arm_w, body[1] + 4, body[0], body[1] + bh // 3), fill=skin)
        draw.rectangle((body[2], body[1] + 4, body[2] + arm_w, body[1] + bh // 3), fill=skin)
        if bad:  # a third arm across the body and a second, displaced head
            draw.rectangle(
                (x0 + bw // 6, body[1] + bh // 6, x1 - bw // 6, body[1] + bh // 6 + arm_w),
                fill=skin,
            )
            draw.ellipse((cx + r, head_y - r // 2, cx + 3 * r, head_y + 3 * r // 2), fill=skin)
            draw.rectangle(
                (body[2], body[1] + bh // 3, body[2] + 2 * arm_w, y1 - bh // 8), fill=skin
            )

    def _benefits(
        self,
        draw: ImageDraw.ImageDraw,
        brief: AdBrief,
        layout: Layout,
        pal: Palette,
        w: int,
        h: int,
    ) -> None:
        assert layout.benefits is not None
        x0, y0, x1, y1 = _px(layout.benefits, w, h)
        items = (brief.benefits or ["Made to last", "Loved by customers", "Easy to use"])[:3]
        row = (y1 - y0) // max(1, len(items))
        for i, item in enumerate(items):
            ry = y0 + i * row
            dot = max(2, row // 6)
            draw.ellipse(
                (x0, ry + row // 2 - dot, x0 + 2 * dot, ry + row // 2 + dot), fill=pal.accent
            )
            _fit_text(
                draw,
                self.fonts,
                item,
                (x0 + 3 * dot, ry + row // 6, x1, ry + row - row // 6),
                pal.text,
                False,
            )

    def _product(
        self, img: Image.Image, brief: AdBrief, layout: Layout, pal: Palette, w: int, h: int,
        flaws: FlawPlan, rng: random.Random,
    ) -> None:  # fmt: skip
        draw = ImageDraw.Draw(img)
        x0, y0, x1, y1 = _px(layout.product, w, h)
        bw, bh = x1 - x0, y1 - y0
        sx0, sy0, sx1, sy1 = _px(layout.shadow(), w, h)
        shadow = blend(pal.bg, (0, 0, 0), 0.35 if luminance(pal.bg) > 0.2 else 0.8)
        if flaws.has(Flaw.PHYSICS):  # the shadow detached from the product, off to one side
            dx, dy = round(bw * 0.55), round(h * 0.03)
            draw.ellipse((sx0 + dx, sy0 + dy, sx1 + dx, sy1 + dy), fill=shadow)
        else:
            draw.ellipse((sx0, sy0, sx1, sy1), fill=shadow)
        body = [
            (x0 + bw * 0.12, y0 + bh * 0.12),
            (x1 - bw * 0.12, y0 + bh * 0.12),
            (x1 - bw * 0.08, y1),
            (x0 + bw * 0.08, y1),
        ]
        if flaws.has(Flaw.PRODUCT_DISTORTION):
            k = bw * 0.5
            body = [
                (body[0][0] + k, body[0][1] + bh * 0.2),
                (body[1][0] + k * 0.2, body[1][1]),
                (body[2][0] - k * 0.6, body[2][1] - bh * 0.25),
                (body[3][0], body[3][1] - bh * 0.05),
            ]
        draw.polygon(body, fill=pal.product)
        cap = (x0 + bw * 0.3, y0, x1 - bw * 0.3, y0 + bh * 0.14)
        draw.rectangle(cap, fill=blend(pal.product, (0, 0, 0), 0.35))
        if flaws.has(Flaw.SOFT_PRODUCT):
            region = img.crop((x0, y0, x1, y1)).filter(
                ImageFilter.GaussianBlur(1.0 + 2.0 * flaws.severity)
            )
            img.paste(region, (x0, y0))
            draw = ImageDraw.Draw(img)
        lx0, ly0, lx1, ly1 = _px(layout.label(), w, h)
        draw.rectangle((lx0, ly0, lx1, ly1), fill=pal.label)
        name = brief.product_name
        if flaws.has(Flaw.PACKAGING_TEXT):
            name = garble(name, rng)
        _fit_text(
            draw,
            self.fonts,
            name,
            (lx0 + 1, ly0 + 1, lx1 - 1, ly1 - 1),
            (30, 30, 34),
            True,
            "center",
        )

    def _cramp(
        self, draw: ImageDraw.ImageDraw, brief: AdBrief, pal: Palette, w: int, h: int,
        severity: float, rng: random.Random,
    ) -> None:  # fmt: skip
        """Stickers and small print crammed into the margins."""
        m = round(MARGIN * min(w, h))
        n = 2 + round(4 * severity)
        stickers = ["NEW!", "HOT", "Limited", "Best seller", "Free ship", "Sale", "Top rated"]
        for i in range(n):
            side = i % 4
            size = round(m * 0.95)
            if side in (0, 1):  # top / bottom strip
                x = round(rng.uniform(0.02, 0.7) * w)
                y = 0 if side == 0 else h - size
                box = (x, y, x + round(w * 0.26), y + size)
            else:  # left / right strip
                y = round(rng.uniform(0.05, 0.8) * h)
                x = 0 if side == 2 else w - size
                box = (x, y, x + size, y + round(h * 0.16))
            draw.rectangle(box, fill=pal.accent if i % 2 else pal.accent2)
            if side in (0, 1):
                font = self.fonts.get(True, max(6, size - 3))
                draw.text((box[0] + 1, box[1]), rng.choice(stickers), font=font, fill=pal.text)
            else:  # small print dots
                for y in range(box[1] + 2, box[3] - 2, 4):
                    draw.point((box[0] + size // 2, y), fill=pal.text)

    def _smear(
        self, img: Image.Image, layout: Layout, w: int, h: int, rng: random.Random
    ) -> Image.Image:
        """A blotch of high-frequency noise in the background, like a diffusion artifact."""
        arr = np.asarray(img).astype(np.int16)
        gen = np.random.default_rng(rng.getrandbits(32))
        occupied = np.zeros((h, w), bool)
        for box in layout.regions().values():
            x0, y0, x1, y1 = _px(box, w, h)
            occupied[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = True
        ys, xs = np.nonzero(
            ~occupied[
                round(h * MARGIN) : h - round(h * MARGIN), round(w * MARGIN) : w - round(w * MARGIN)
            ]
        )
        if len(ys) == 0:
            cy, cx = h // 2, w // 2
        else:
            k = gen.integers(len(ys))
            cy, cx = ys[k] + round(h * MARGIN), xs[k] + round(w * MARGIN)
        r = max(6, min(w, h) // 7)
        yy, xx = np.ogrid[:h, :w]
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & ~occupied
        noise = gen.integers(-110, 110, (h, w, 3))
        arr[blob] += noise[blob]
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def to_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def from_png(png: bytes) -> Image.Image:
    """The image as RGB (a copy: the decoded image is shared, agents/pngcache.py)."""
    try:
        img = decode_png(png)
    except Exception as exc:
        raise ValueError(f"not a decodable image: {exc}") from exc
    return img.convert("RGB")
