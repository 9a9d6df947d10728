"""The offline renderer: a real ad image drawn with Pillow from a brief's element tags.

Headline copy comes from hook_type, the palette from color_mode, the layout from
template_category, background treatment from visual_style, the aspect ratio from
canvas_size; the product (a package with its name on the label), the offer badge and a
call to action are drawn. Images are rendered at 1/4 of the canvas size for speed.

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
import random
import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from agents.providers.base import AdBrief

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


CRITICAL_FLAWS = frozenset(
    {
        Flaw.GARBLED_TEXT,
        Flaw.PACKAGING_TEXT,
        Flaw.PRODUCT_DISTORTION,
        Flaw.ANATOMY,
        Flaw.PHYSICS,
        Flaw.OFFER_WRONG,
    }
)
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

_CANVAS = re.compile(r"^\s*(\d{2,5})\s*[xX\u00d7]\s*(\d{2,5})\s*(px)?\s*$")


def canvas_dimensions(canvas_size: str) -> tuple[int, int]:
    """'1080x1350px' -> (1080, 1350)."""
    m = _CANVAS.match(canvas_size or "")
    if not m:
        raise ValueError(f"canvas_size {canvas_size!r} is not WIDTHxHEIGHT[px]")
    return int(m.group(1)), int(m.group(2))


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
    mode = brief.element_tags.get("color_mode", "original")
    style = style_for(brief.element_tags.get("visual_style", ""))
    brand_hue = stable_unit("brand", brief.brand_name)
    product_hue = stable_unit("product", brief.brand_name, brief.product_name)
    if mode == "brand":
        h = brand_hue
        bg, bg2 = _rgb(h, 0.10, 0.97), _rgb(h, 0.22, 0.90)
        accent, accent2, product = (
            _rgb(h, 0.78, 0.62),
            _rgb(h + 0.04, 0.55, 0.82),
            _rgb(h, 0.6, 0.5),
        )
        hues = (h, h + 0.04)
    elif mode == "complementary":
        h = product_hue
        bg, bg2 = _rgb(h, 0.14, 0.96), _rgb(h, 0.26, 0.88)
        accent, accent2, product = (
            _rgb(h + 0.5, 0.8, 0.72),
            _rgb(h + 0.5, 0.5, 0.88),
            _rgb(h, 0.62, 0.58),
        )
        hues = (h, h + 0.5)
    else:  # original (and anything unregistered): warm or cool neutral ground, product hue
        h = product_hue
        ground = 0.09 if h < 0.5 else 0.58
        bg, bg2 = _rgb(ground, 0.07, 0.95), _rgb(ground, 0.12, 0.88)
        accent, accent2, product = _rgb(h, 0.55, 0.5), _rgb(h, 0.4, 0.78), _rgb(h, 0.58, 0.62)
        hues = (h,)
    if style == "luxury":
        bg, bg2 = _rgb(h, 0.35, 0.2), _rgb(h, 0.4, 0.28)
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
        "UGC-Style", (0.08, 0.08, 0.92, 0.20), (0.62, 0.48, 0.90, 0.80),
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


# --- copy -----------------------------------------------------------------------------

_HEADLINES = {
    "curiosity_gap": "The one thing {p} users never go back from",
    "social_proof": "Join 50,000+ people who switched to {p}",
    "authority": "Recommended by experts: {p}",
    "urgency": "Today only: {o}",
    "scarcity": "Almost gone: the last batch of {p}",
    "fear_of_missing_out": "Everyone is talking about {p}. Are you in?",
    "transformation": "From tired to thriving with {p}",
    "before_after": "Before {p}. After {p}.",
    "problem_solution": "Still struggling? {p} fixes it",
    "testimonial": "\u201c{p} changed my mornings\u201d",
    "statistic": "9 in 10 notice {b} with {p}",
    "question": "What if {b} took 5 minutes?",
    "bold_claim": "The best {p} you will ever try",
    "story": "How a small idea became {p}",
    "direct_benefit": "{B} with {p}",
}


def headline_for(brief: AdBrief) -> str:
    hook = brief.element_tags.get("hook_type", "direct_benefit")
    template = _HEADLINES.get(hook, "{p}: {b}")
    benefit = brief.benefits[0] if brief.benefits else "better results"
    offer = brief.current_offer or f"discover {brief.product_name}"
    return template.format(p=brief.product_name, b=benefit.lower(), B=benefit.capitalize(), o=offer)


def cta_for(brief: AdBrief) -> str:
    stage = brief.element_tags.get("awareness_stage", "")
    return {"unaware": "Learn more", "problem_aware": "See how"}.get(stage, "Shop now")


# --- drawing --------------------------------------------------------------------------


@dataclass
class Fonts:
    """Fonts loaded once per renderer (DejaVu when installed, else Pillow's default)."""

    bold_path: Path | None = None
    regular_path: Path | None = None
    _cache: dict[tuple[bool, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = field(
        default_factory=dict
    )

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
        layout = layout_for(brief.element_tags.get("template_category", ""))
        style = style_for(brief.element_tags.get("visual_style", ""))
        rng = stable_rng("render", brief.seed, brief.generated_ad_id)
        flaw_rng = stable_rng("flaw-detail", brief.seed, brief.generated_ad_id)

        img = self._background(w, h, pal, style, rng)
        draw = ImageDraw.Draw(img)
        self._decor(draw, layout, pal, w, h)
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
        _fit_text(draw, self.fonts, drawn_headline, hb, text_color, bold=True)

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

    # backgrounds and decor
    def _background(
        self, w: int, h: int, pal: Palette, style: str, rng: random.Random
    ) -> Image.Image:
        if style in ("gradient", "photographic", "luxury"):
            t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
            a = np.array(pal.bg, np.float32)[None, None, :]
            b = np.array(pal.bg2, np.float32)[None, None, :]
            arr = np.broadcast_to(a + (b - a) * t, (h, w, 3)).copy()
        else:
            arr = np.empty((h, w, 3), np.float32)
            arr[:] = pal.bg
        if style in ("textured", "photographic"):
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 3.5, (h, w, 1))
            arr += noise.astype(np.float32)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        if style == "geometric":
            d = ImageDraw.Draw(img)
            for _ in range(4):
                cx, cy = rng.uniform(0.12, 0.88) * w, rng.uniform(0.12, 0.88) * h
                r = rng.uniform(0.05, 0.12) * min(w, h)
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.bg2)
        return img

    def _decor(
        self, draw: ImageDraw.ImageDraw, layout: Layout, pal: Palette, w: int, h: int
    ) -> None:
        m = MARGIN + 0.01
        if layout.decor == "split":
            draw.rectangle(_px((m, 0.26, 0.5, 1 - m), w, h), fill=pal.bg2)
        elif layout.decor == "tiles":
            draw.rectangle(_px((m, m, 0.49, 0.55), w, h), fill=pal.bg2)
            draw.rectangle(_px((0.51, 0.56, 1 - m, 0.72), w, h), fill=pal.bg2)
        elif layout.decor == "rules":
            draw.line(_px((0.08, 0.53, 0.44, 0.53), w, h), fill=pal.accent, width=max(1, w // 150))
        elif layout.decor == "bars" and layout.benefits:
            x0, y0, x1, y1 = _px(layout.benefits, w, h)
            bar_w = (x1 - x0) // 7
            for i, frac in enumerate((0.45, 0.7, 0.95)):
                bx = x0 + (2 * i + 1) * bar_w
                draw.rectangle((bx, y1 - (y1 - y0) * frac * 0.5, bx + bar_w, y1), fill=pal.accent2)
        elif layout.decor == "quote":
            x0, y0, _, _ = _px(layout.headline, w, h)
            draw.ellipse((x0 - w // 30, y0 - h // 40, x0, y0 + h // 60), fill=pal.accent2)

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
    try:
        img = Image.open(io.BytesIO(png))
        img.load()
    except Exception as exc:
        raise ValueError(f"not a decodable image: {exc}") from exc
    return img.convert("RGB")
