"""Measurements of an ad image, for the offline scanner, reviewer and descriptor.

Two kinds:
- absolute (need only the pixels): text contrast (WCAG ratio), colour temperature,
  dominant colours, negative space, edge density, saliency position;
- against the ideal render of the same brief (the offline world's ground truth): how far
  each layout region's structure departs from it (ink-mask IoU), new high-frequency
  energy in the background (artifacts), product sharpness, margin clutter, off-palette
  colour.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image

from agents.providers.offline.render import MARGIN, Box, Layout, Palette, contrast_ratio

Arr = np.ndarray
RGBt = tuple[int, int, int]


def as_array(img: Image.Image) -> Arr:
    return np.asarray(img.convert("RGB"), dtype=np.float32)


def luma(arr: Arr) -> Arr:
    return arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114


def gradient(lum: Arr) -> Arr:
    g = np.zeros_like(lum)
    g[:, :-1] += np.abs(np.diff(lum, axis=1))
    g[:-1, :] += np.abs(np.diff(lum, axis=0))
    return g


def _px(box: Box, w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0 = max(0, round(box[0] * w)), max(0, round(box[1] * h))
    return x0, y0, min(w, max(x0 + 1, round(box[2] * w))), min(h, max(y0 + 1, round(box[3] * h)))


def _median(x: Arr) -> Arr:
    """np.median(x) of pixel values (no NaN): the middle element of a partition, or the
    two middle ones added and halved in x's dtype, the very value numpy's mean of the two
    gives; without np.median's generic axis and NaN handling, which was two thirds of its
    time on a text box (a scan takes about fifteen medians)."""
    flat = x.reshape(-1)
    n = flat.size
    if n == 0:
        return np.median(flat)
    k = n // 2
    if n % 2:
        return np.partition(flat, k)[k]
    part = np.partition(flat, (k - 1, k))
    return (part[k - 1] + part[k]) / 2


def _channel_median(a: Arr) -> Arr:
    """The per-channel median of an ...x3 array: np.median(a.reshape(-1, 3), axis=0), the
    same values (a median is a selection, whatever the order), without partitioning along
    the strided axis (about ten times as fast on a 270x270 image)."""
    return np.array([_median(a[..., c]) for c in range(3)], dtype=a.dtype)


def ink_mask(region: Arr) -> Arr:
    """Pixels that stand out from the region's dominant (median) colour, adaptively."""
    if region.size == 0:
        return np.zeros(region.shape[:2], bool)
    med = _channel_median(region)
    dist = _channel_max_abs(region, np.broadcast_to(med, region.shape))
    top = float(np.percentile(dist, 99.5))
    if top < 20:
        return np.zeros(dist.shape, bool)
    return dist > max(16.0, 0.45 * top)


def text_mismatch(a: Arr, b: Arr) -> float:
    """1 - IoU of two text regions' ink masks (0 = same glyphs, whatever their colour)."""
    return mask_mismatch(ink_mask(a), ink_mask(b))


def mask_mismatch(ma: Arr, mb: Arr) -> float:
    """1 - IoU of two ink masks (text_mismatch, for masks already made)."""
    union = int((ma | mb).sum())
    if union == 0:
        return 0.0
    return 1.0 - int((ma & mb).sum()) / union


def shape_change(a: Arr, b: Arr, exclude: Arr | None = None) -> float:
    """Share of a shape region whose colour differs clearly from the ideal's."""
    if a.size == 0:
        return 0.0
    changed = _channel_max_abs(a, b) > 32
    if exclude is not None:
        changed &= ~exclude
    return float(changed.mean())


def text_contrast(region: Arr) -> float:
    """WCAG contrast ratio between the text (ink) and the ground of a text region."""
    flat = region.reshape(-1, 3)
    if flat.shape[0] == 0:
        return 1.0
    ground = _channel_median(flat)
    dist = _channel_max_abs(flat, np.broadcast_to(ground, flat.shape))
    if float(dist.max()) < 6:
        return 1.0
    strongest = flat[dist >= np.percentile(dist, 97)]
    ink = _channel_median(strongest)
    return contrast_ratio(_rgb(ground), _rgb(ink))


def _rgb(v: Arr) -> tuple[int, int, int]:
    return round(float(v[0])), round(float(v[1])), round(float(v[2]))


def hsv_arrays(arr: Arr) -> tuple[Arr, Arr, Arr]:
    """Hue, saturation, value in [0, 1] (Pillow's HSV conversion)."""
    hsv = np.asarray(Image.fromarray(arr.astype(np.uint8)).convert("HSV"), np.float32)
    return hsv[..., 0] / 255.0, hsv[..., 1] / 255.0, hsv[..., 2] / 255.0


def _channel_max_abs(a: Arr, ref: Arr) -> Arr:
    """max over the colour channels of |a - ref| (faster than .max(axis=2) on HxWx3)."""
    d = [np.abs(a[..., c] - ref[..., c]) for c in range(3)]
    return np.maximum(np.maximum(d[0], d[1]), d[2])


def _block_mean(a: Arr, block: int) -> Arr:
    """Mean over non-overlapping block x block tiles (the ragged edge dropped).

    Below 8 a tile's rows, then its columns, are added one strided slice at a time: the
    order in which numpy's sum adds fewer than 8 terms, so the same float32 values as the
    reshape-and-sum below, at a fifth of its time on a 270x270x3 image (the descriptor and
    the scan call it a dozen times an ad)."""
    hb, wb = a.shape[0] // block, a.shape[1] // block
    if block < 8:
        tiles = a[: hb * block, : wb * block]
        rows = tiles[0::block]
        for i in range(1, block):
            rows = rows + tiles[i::block]
        sums = rows[:, 0::block]
        for j in range(1, block):
            sums = sums + rows[:, j::block]
        return sums / (block * block)
    rows = a[: hb * block, : wb * block].reshape(hb, block, wb * block, *a.shape[2:]).sum(axis=1)
    return rows.reshape(hb, wb, block, *a.shape[2:]).sum(axis=2) / (block * block)


def _pool2(lum: Arr) -> Arr:
    """2x2 mean pooling: fine grain and sensor-like noise average out, structure stays."""
    h, w = lum.shape[0] // 2 * 2, lum.shape[1] // 2 * 2
    return _block_mean(lum[:h, :w], 2)


def flat_blocks(lum: Arr, block: int = 6) -> Arr:
    """Which 6x6-pixel blocks have no structure (film grain and slight noise do not count
    as structure: measured on the 2x2-pooled luminance)."""
    pooled = _pool2(lum)
    b = max(1, block // 2)
    h, w = pooled.shape
    hb, wb = h // b, w // b
    if hb == 0 or wb == 0:
        return np.zeros((0, 0), bool)
    mean = _block_mean(pooled, b)
    var = _block_mean(pooled * pooled, b) - mean * mean
    return var < 16.0  # block sd below 4 levels


def negative_space(lum: Arr, block: int = 6) -> float:
    """The share of blocks without structure."""
    flat = flat_blocks(lum, block)
    return float(flat.mean()) if flat.size else 0.0


def _ground_shape(
    arr: Arr, lum: Arr, ground: Arr, block: int = 6
) -> tuple[float, tuple[float, float]]:
    """How the flat ground is shaped: the plane fitted to its colour (its change in
    lightness across the frame, luminance 0..1 along x and along y: a gradient), and the
    (soft) share of it clearly off that plane — panels, discs, bands, shapes."""
    flat = flat_blocks(lum, block)
    if flat.size == 0 or not flat.any():
        return 0.0, (0.0, 0.0)
    hb, wb = flat.shape
    means = _block_mean(arr, block)[:hb, :wb]
    dist = _channel_max_abs(means, np.broadcast_to(ground, means.shape))
    keep = flat & (dist < 40.0)  # flat ground, not the inside of the product or a badge
    if int(keep.sum()) < 3:
        return 0.0, (0.0, 0.0)
    yy, xx = np.mgrid[0:hb, 0:wb]
    x = (xx[keep] + 0.5) / wb - 0.5
    y = (yy[keep] + 0.5) / hb - 0.5
    colours = means[keep].astype(np.float64)
    design = np.stack([np.ones_like(x), x, y], axis=1)
    coef, *_ = np.linalg.lstsq(design, colours, rcond=None)  # 3 x 3: per channel
    residual = np.abs(colours - design @ coef).max(axis=1)
    tint = float(np.clip((residual - 4.0) / 12.0, 0.0, 1.0).mean())
    slope = luma(coef[1:].astype(np.float32)) / 255.0  # d(luminance)/dx, d/dy
    return tint, (float(slope[0]), float(slope[1]))


@dataclass(frozen=True)
class ImageStats:
    """Absolute measurements, needing only the pixels."""

    width: int
    height: int
    brightness: float  # 0..1
    saturation: float  # 0..1 mean
    warmth: float  # mean(R) - mean(B), -255..255
    edge_density: float  # fraction of pixels on strong edges
    negative_space: float  # fraction of flat blocks
    centroid: tuple[float, float]  # saliency centre of mass, fractions of w / h
    left_right_split: float  # colour difference between halves, 0..1
    dominant: tuple[tuple[tuple[int, int, int], float], ...]  # (rgb, share), largest first
    salient_share: float = 0.0  # how much of the frame stands out from the ground, 0..1
    spread: float = 0.0  # spatial spread of the salient content (weighted sd, fractions)
    symmetry: float = 1.0  # 1 - mean left-right mirror difference of luminance
    grain: float = 0.0  # fine-scale texture in flat areas (luminance sd)
    tonal_range: float = 0.0  # p95 - p5 of luminance, 0..1
    extent: tuple[float, float] = (0.0, 0.0)  # width, height of the salient content
    text_center: tuple[float, float] = (0.5, 0.5)  # centre of the fine detail (type, edges)
    ground_lightness: float = 1.0  # luminance of the frame's outer strip, 0..1
    ground_tint: float = 0.0  # share of flat areas clearly off the ground colour (panels)
    ground_slope: tuple[float, float] = (0.0, 0.0)  # lightness change across the flat areas


RGBf = tuple[float, float, float]


def _merge_close(colors: list[tuple[RGBf, float]], distance: float) -> list[tuple[RGBf, float]]:
    """Greedily merge colours closer than `distance` (max channel difference) into the
    larger one's cluster (share-weighted mean), largest first. On Python floats: the same
    float64 arithmetic as on numpy arrays of three, without a numpy call per comparison
    (a tenth of the descriptor's time)."""
    merged: list[tuple[RGBf, float]] = []
    for rgb, share in sorted(colors, key=lambda c: -c[1]):
        c0, c1, c2 = rgb
        # three comparisons, not max() over a generator: the same test (every channel
        # closer than `distance`) at a tenth of the time, ~50 colours against each cluster
        for k, ((m0, m1, m2), mshare) in enumerate(merged):
            if abs(m0 - c0) < distance and abs(m1 - c1) < distance and abs(m2 - c2) < distance:
                total = mshare + share
                merged[k] = (
                    (
                        (m0 * mshare + c0 * share) / total,
                        (m1 * mshare + c1 * share) / total,
                        (m2 * mshare + c2 * share) / total,
                    ),
                    total,
                )
                break
        else:
            merged.append((rgb, share))
    return sorted(merged, key=lambda c: -c[1])


def dominant_colors(arr: Arr, min_share: float = 0.02) -> tuple[tuple[RGBt, float], ...]:
    """The dominant colours with their shares, largest first, at most six: a coarse colour
    histogram of a 2x2-smoothed copy (each bin keeps its pixels' mean colour), with close
    bins merged — so that slight noise gives the same colours in the same order."""
    h, w = arr.shape[0] // 2 * 2, arr.shape[1] // 2 * 2
    if h == 0 or w == 0:
        return ()
    small = _block_mean(arr[:h, :w], 2).reshape(-1, 3)
    q = np.clip(small // 32, 0, 7).astype(np.int32)
    keys = q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]
    counts = np.bincount(keys, minlength=512).astype(np.float64)
    sums = np.stack([np.bincount(keys, small[:, c], minlength=512) for c in range(3)], axis=1)
    used = np.nonzero(counts)[0]
    n_px = float(small.shape[0])
    means = (sums[used] / counts[used][:, None]).tolist()
    raw = list(zip(map(tuple, means), (counts[used] / n_px).tolist(), strict=True))
    merged = _merge_close(raw, 30.0)
    return tuple(
        ((round(rgb[0]), round(rgb[1]), round(rgb[2])), share)
        for rgb, share in merged
        if share >= min_share
    )[:6]


def _border_color(arr: Arr) -> Arr:
    """The median colour of the outer strip: the ground an ad is drawn on."""
    h, w = arr.shape[:2]
    mh, mw = max(1, round(h * MARGIN / 2)), max(1, round(w * MARGIN / 2))
    strip = np.concatenate(
        [arr[:mh].reshape(-1, 3), arr[-mh:].reshape(-1, 3),
         arr[:, :mw].reshape(-1, 3), arr[:, -mw:].reshape(-1, 3)]
    )  # fmt: skip
    return _channel_median(strip)


def image_stats(arr: Arr) -> ImageStats:
    h, w = arr.shape[:2]
    lum = luma(arr)
    grad = gradient(lum)
    _, sat, val = hsv_arrays(arr)
    total = float(h * w)
    dominant = dominant_colors(arr)
    ground = _border_color(arr)
    salient = _channel_max_abs(arr, np.broadcast_to(ground, arr.shape))
    # soft saliency: grows smoothly from 35 to 75 levels away from the ground colour (a
    # gradient or a tint panel of the ground is not content), so a slightly noisy copy of
    # an image has nearly the same centre, extent and share
    weight = np.clip((salient - 35.0) / 40.0, 0.0, 1.0)
    mass = float(weight.sum())
    if mass > 0:
        xs = (np.arange(w, dtype=np.float32) + 0.5) / w
        ys = (np.arange(h, dtype=np.float32) + 0.5) / h
        col, row = weight.sum(axis=0), weight.sum(axis=1)
        cx, cy = float(col @ xs / mass), float(row @ ys / mass)
        var_x, var_y = float(col @ (xs - cx) ** 2 / mass), float(row @ (ys - cy) ** 2 / mass)
        centroid, spread = (cx, cy), (var_x + var_y) ** 0.5
        extent = (min(1.0, 2 * 3**0.5 * var_x**0.5), min(1.0, 2 * 3**0.5 * var_y**0.5))
    else:
        centroid, spread, extent = (0.5, 0.5), 0.0, (0.0, 0.0)
    ground_tint, ground_slope = _ground_shape(arr, lum, ground)
    detail = np.clip((grad - 40.0) / 60.0, 0.0, 1.0)  # type and sharp edges, softly
    detail_mass = float(detail.sum())
    if detail_mass > 0:
        text_center = (
            float(detail.sum(axis=0) @ ((np.arange(w) + 0.5) / w) / detail_mass),
            float(detail.sum(axis=1) @ ((np.arange(h) + 0.5) / h) / detail_mass),
        )
    else:
        text_center = (0.5, 0.5)
    left, right = arr[:, : w // 2].reshape(-1, 3).mean(0), arr[:, w // 2 :].reshape(-1, 3).mean(0)
    block_mean = _block_mean(lum, 6)
    block_sd = np.sqrt(np.maximum(_block_mean(lum * lum, 6) - block_mean * block_mean, 0.0))
    quiet = block_sd[block_sd < 12.0]
    grain = float(_median(quiet)) if quiet.size else 0.0
    lo, hi = np.percentile(lum, [5, 95])
    return ImageStats(
        width=w,
        height=h,
        brightness=float(val.mean()),
        saturation=float(sat.mean()),
        warmth=float(arr[..., 0].mean() - arr[..., 2].mean()),
        edge_density=float((grad > 40).mean()),
        negative_space=negative_space(lum),
        centroid=centroid,
        left_right_split=float(np.abs(left - right).max() / 255.0),
        dominant=dominant,
        salient_share=mass / total,
        spread=spread,
        symmetry=1.0 - float(np.abs(lum - lum[:, ::-1]).mean()) / 255.0,
        grain=grain,
        tonal_range=float(hi - lo) / 255.0,
        extent=extent,
        text_center=text_center,
        ground_lightness=float(luma(ground[None, :])[0]) / 255.0,
        ground_tint=ground_tint,
        ground_slope=ground_slope,
    )


@dataclass(frozen=True)
class AdMeasurements:
    """Measurements of an ad against the ideal render of its brief."""

    region_mismatch: dict[str, float]  # 0 = same structure as the ideal
    headline_contrast: float
    cta_contrast: float
    headline_ink: float  # fraction of the headline box that is text
    margin_clutter: float  # fraction of the margin strip on strong edges, beyond the ideal
    artifact_energy: float  # fraction of background with new high-frequency energy
    product_sharpness: float  # gradient energy in the product box relative to the ideal
    off_palette: float  # fraction of saturated pixels far (>35 deg) from the palette's hues


def _densest_block(hits: Arr, allowed: Arr, block: int = 8) -> float:
    """The largest share of `hits` among the allowed pixels of any block (half allowed)."""
    h, w = hits.shape
    hb, wb = h // block, w // block
    if hb == 0 or wb == 0:
        return 0.0
    shape = (hb, block, wb, block)
    hit = hits[: hb * block, : wb * block].reshape(shape).sum(axis=(1, 3))
    ok = allowed[: hb * block, : wb * block].reshape(shape).sum(axis=(1, 3))
    valid = ok >= block * block // 2
    if not valid.any():
        return 0.0
    return float((hit[valid] / ok[valid]).max())


def _margin_mask(h: int, w: int) -> Arr:
    m = np.zeros((h, w), bool)
    mh, mw = max(1, round(h * MARGIN)), max(1, round(w * MARGIN))
    m[:mh], m[-mh:], m[:, :mw], m[:, -mw:] = True, True, True, True
    return m


def measure_ad(arr: Arr, ideal: Arr, layout: Layout, palette: Palette) -> AdMeasurements:
    if arr.shape != ideal.shape:
        raise ValueError(f"image is {arr.shape[1]}x{arr.shape[0]}, the brief's canvas renders "
                         f"{ideal.shape[1]}x{ideal.shape[0]}")  # fmt: skip
    h, w = arr.shape[:2]
    regions = {k: _px(b, w, h) for k, b in layout.regions().items()}

    def crop(a: Arr, key: str) -> Arr:
        x0, y0, x1, y1 = regions[key]
        return a[y0:y1, x0:x1]

    # badges and buttons: compare their text, inside the rounded shape
    for key, radius_div, pad_div in (("offer", 3, 6), ("cta", 2, 5)):
        x0, y0, x1, y1 = regions[key]
        bh = y1 - y0
        dx, dy = bh // radius_div + 1, max(1, bh // pad_div)
        if x1 - x0 > 2 * dx + 2 and bh > 2 * dy + 2:
            regions[f"{key}_text"] = (x0 + dx, y0 + dy, x1 - dx, y1 - dy)
        else:
            regions[f"{key}_text"] = regions[key]

    mism: dict[str, float] = {}
    # the headline's ink mask is also its ink share below: made once (a fifth of the masks)
    headline_ink = ink_mask(crop(arr, "headline"))
    mism["headline"] = mask_mismatch(headline_ink, ink_mask(crop(ideal, "headline")))
    for key in ("label", "benefits"):
        if key in regions:
            mism[key] = text_mismatch(crop(arr, key), crop(ideal, key))
    for key in ("offer", "cta"):
        mism[key] = text_mismatch(crop(arr, f"{key}_text"), crop(ideal, f"{key}_text"))
    for key in ("shadow", "figure"):
        if key in regions:
            mism[key] = shape_change(crop(arr, key), crop(ideal, key))
    px0, py0, px1, py1 = regions["product"]
    lx0, ly0, lx1, ly1 = regions["label"]
    label_in_product = np.zeros((py1 - py0, px1 - px0), bool)
    label_in_product[
        max(0, ly0 - py0 - 1) : ly1 - py0 + 1, max(0, lx0 - px0 - 1) : lx1 - px0 + 1
    ] = True
    mism["product"] = shape_change(crop(arr, "product"), crop(ideal, "product"), label_in_product)

    lum, ideal_lum = luma(arr), luma(ideal)
    grad, ideal_grad = gradient(lum), gradient(ideal_lum)
    occupied = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in regions.values():
        occupied[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1] = True
    margin = _margin_mask(h, w)
    new_energy = ((grad - ideal_grad) > 60) & ~occupied & ~margin
    artifact = _densest_block(new_energy, ~occupied & ~margin)
    clutter = float(((grad > 50) & ~(ideal_grad > 50))[margin].mean())
    body = ~label_in_product
    # squared: blur spreads an edge but keeps its total (L1) variation
    product_grad = float((crop(grad, "product")[body] ** 2).mean())
    ideal_product_grad = float((crop(ideal_grad, "product")[body] ** 2).mean())
    sharp = product_grad / ideal_product_grad if ideal_product_grad > 0 else 1.0

    hue, sat, val = hsv_arrays(arr)
    vivid = (sat > 0.35) & (val > 0.25)
    if vivid.any() and palette.hues:
        hv = hue[vivid][:, None]
        ref = np.array(palette.hues, np.float32)[None, :]
        d = np.abs(hv - ref)
        d = np.minimum(d, 1 - d).min(axis=1) * 360
        off = float((d > 35).mean())
    else:
        off = 0.0
    return AdMeasurements(
        region_mismatch=mism,
        headline_contrast=text_contrast(crop(arr, "headline")),
        cta_contrast=text_contrast(crop(arr, "cta_text")),
        headline_ink=float(headline_ink.mean()),
        margin_clutter=clutter,
        artifact_energy=artifact,
        product_sharpness=sharp,
        off_palette=off,
    )


_HUE_FAMILIES = (
    (0.04, "red"), (0.09, "orange"), (0.14, "amber"), (0.19, "yellow"), (0.28, "lime"),
    (0.44, "green"), (0.53, "teal"), (0.6, "sky blue"), (0.7, "blue"), (0.78, "indigo"),
    (0.86, "purple"), (0.94, "magenta"), (1.01, "red"),
)  # fmt: skip


def color_name(rgb: tuple[int, int, int]) -> str:
    """A plain colour name for an RGB value: hue family, with lightness and saturation
    modifiers (very pale, pale, light, muted, deep, dark); neutrals warm or cool when
    slightly tinted."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if v < 0.16:
        return "black"
    if s < 0.1 or (s < 0.2 and v < 0.3):
        base = (
            "white" if v > 0.95 else "off-white" if v > 0.86 else "light gray" if v > 0.66
            else "gray" if v > 0.4 else "charcoal"
        )  # fmt: skip
        if s >= 0.04:
            return f"{'warm' if h < 0.2 or h > 0.9 else 'cool'} {base}"
        return base
    name = next(n for limit, n in _HUE_FAMILIES if h < limit)
    if s < 0.32:
        if v > 0.8:
            return f"very pale {name}" if s < 0.18 else f"pale {name}"
        return f"dark muted {name}" if v < 0.45 else f"muted {name}"
    if v < 0.42:
        return f"dark {name}"
    if v < 0.62:
        return f"deep {name}"
    if v > 0.85 and s < 0.6:
        return f"light {name}"
    return name
