# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Anomaly objects: things that are none of the 19 Cityscapes classes, drawn procedurally.

Shapes (:data:`KINDS`): smooth blobs (rocks, lost cargo), boxes and crates, standing barrels,
cones, balls, four-legged animal silhouettes, debris clusters, tyres, planks and plastic bags.
Surfaces: plain, stripes, checks, spots, two-tone noise or gradients, in vivid colours, natural
browns/greys or greys close to asphalt; shading is lighter on top. :func:`paste_anomaly` puts
one into any image (PEBAL's AnomalyMix, tests); :func:`draw_world_anomaly` places one in a
synthetic street with a contact shadow.
"""

import numpy as np
from pixel_anomaly_ros.synthetic import textures as tx
from pixel_anomaly_ros.synthetic.canvas import (
    ANOMALY, Camera, Canvas, ROAD, SIDEWALK, Sprite, TERRAIN)

KINDS = ('blob', 'box', 'cylinder', 'cone', 'sphere', 'animal', 'debris', 'tyre', 'plank',
         'bag')
PATTERNS = ('plain', 'stripes', 'checks', 'spots', 'noise', 'gradient')


def _colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return a main and a second colour: vivid, natural or asphalt-like."""
    mode = rng.choice(['vivid', 'natural', 'asphalt', 'dark'], p=[0.35, 0.3, 0.2, 0.15])
    if mode == 'vivid':
        main = tx.random_color(rng, (0.5, 1.0), (0.5, 1.0))
    elif mode == 'natural':
        main = tx.color(rng, str(rng.choice(['concrete', 'pavement', 'grass'])), 25)
    elif mode == 'asphalt':
        main = tx.color(rng, 'asphalt', 12)
    else:
        main = tx.random_color(rng, (0.0, 0.6), (0.05, 0.3))
    second = tx.random_color(rng, (0.0, 1.0), (0.1, 1.0)) if rng.random() < 0.6 else main * 0.6
    return main, second


def _pattern(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Return an (h, w) mixing weight in [0, 1] between the main and the second colour."""
    h, w = shape
    kind = str(rng.choice(PATTERNS, p=[0.3, 0.15, 0.1, 0.1, 0.2, 0.15]))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = max(3.0, rng.uniform(0.1, 0.4) * max(h, w))
    if kind == 'stripes':
        angle = rng.uniform(0, np.pi)
        return (np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period) > 0) * 1.0
    if kind == 'checks':
        return (np.floor(xx / period) + np.floor(yy / period)) % 2
    if kind == 'spots':
        return (tx.noise(rng, shape, cell=period / 2, octaves=1) > 0.8) * 1.0
    if kind == 'noise':
        return np.clip(0.5 + 0.5 * tx.noise(rng, shape, cell=period / 3, octaves=3), 0, 1)
    if kind == 'gradient':
        return yy / max(h - 1, 1)
    return np.zeros(shape, np.float32)


def _outline(rng, n: int, smooth: int) -> np.ndarray:
    """Return ``n`` points of a random star-shaped closed curve in [-1, 1]^2."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 2 + smooth):
        r += rng.uniform(0, 0.45 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r /= np.abs(r).max()
    return np.stack([np.cos(theta) * r, np.sin(theta) * r], 1)


def _shape(sp: Sprite, rng, kind: str, w: float, h: float, main, second) -> None:
    """Draw the silhouette (and shaded parts) of one object kind into ``w x h`` pixels."""
    cx, cy = w / 2, h / 2
    if kind == 'blob':
        pts = _outline(rng, 48, 4) * (w / 2, h / 2) + (cx, cy)
        pts[:, 1] = np.minimum(pts[:, 1], h)
        sp.poly(pts, main)
    elif kind == 'box':
        depth = rng.uniform(0.15, 0.35)
        dx, dy = depth * w * rng.choice([-1, 1]), depth * h
        fx0, fx1 = (0.0, w - abs(dx)) if dx > 0 else (abs(dx), w)
        sp.poly([(fx0, dy), (fx1, dy), (fx1, h), (fx0, h)], main)
        sp.poly([(fx0, dy), (fx1, dy), (fx1 + dx, 0), (fx0 + dx, 0)], main * 1.2)
        edge = fx1 if dx > 0 else fx0
        sp.poly([(edge, dy), (edge + dx, 0), (edge + dx, h - dy), (edge, h)], main * 0.7)
    elif kind in ('cylinder', 'cone'):
        cap = max(1.0, 0.12 * h)
        top = 0.15 if kind == 'cone' else 1.0
        sp.poly([(cx - w / 2 * top, cap), (cx + w / 2 * top, cap), (w, h - cap), (0, h - cap)],
                main)
        sp.ellipse((cx, h - cap), (w / 2, cap), main * 0.8)
        if kind == 'cylinder':
            sp.ellipse((cx, cap), (w / 2, cap), main * 1.25)
        for band in (0.35, 0.65):
            y = cap + band * (h - 2 * cap)
            sp.line((cx - w / 2 * (top + (1 - top) * band), y),
                    (cx + w / 2 * (top + (1 - top) * band), y), second, max(1.0, 0.06 * h))
    elif kind == 'sphere':
        sp.ellipse((cx, cy), (w / 2, h / 2), main)
        sp.ellipse((cx - w / 6, cy - h / 6), (w / 5, h / 5), np.minimum(main * 1.3 + 20, 255))
    elif kind == 'animal':
        leg = max(1.0, 0.09 * w)
        body_y = 0.45 * h
        for fx in (0.22, 0.32, 0.68, 0.78):
            sp.line((fx * w, body_y), (fx * w + rng.normal(0, 0.03) * w, h - 1), main * 0.85, leg)
        sp.ellipse((0.5 * w, body_y), (0.33 * w, 0.18 * h), main)
        head = np.array([0.85 * w if rng.random() < 0.5 else 0.15 * w, 0.22 * h])
        sp.line((head[0] * 0.9 + 0.05 * w, 0.32 * h), head, main, max(1.0, 0.1 * w))
        sp.ellipse(head, (0.1 * w, 0.12 * h), main)
        sp.poly([head + (-0.05 * w, -0.06 * h), head + (0.0, -0.22 * h),
                 head + (0.05 * w, -0.06 * h)], main * 0.8)
        tail = 0.17 * w if head[0] > w / 2 else 0.83 * w
        sp.line((tail, body_y), (tail + (tail - w / 2) * 0.4, body_y + 0.25 * h), main * 0.8,
                max(1.0, 0.03 * w))
    elif kind == 'debris':
        for _ in range(int(rng.integers(3, 9))):
            size = rng.uniform(0.12, 0.35) * np.array([w, h])
            center = rng.uniform(size / 2, np.array([w, h]) - size / 2)
            tone = main if rng.random() < 0.6 else second
            sp.poly(_outline(rng, 7, 2) * size / 2 + center, tone * rng.uniform(0.7, 1.2))
    elif kind == 'tyre':
        ring = max(1.0, 0.28 * min(w, h))
        sp.ellipse((cx, cy), (w / 2 - ring / 2, h / 2 - ring / 2), (28, 28, 30), thickness=ring)
    elif kind == 'plank':
        tilt = rng.uniform(-0.25, 0.25) * h
        sp.poly([(0, 0.5 * h + tilt), (w, 0.5 * h - tilt), (w, h - 1 - tilt), (0, h - 1 + tilt)],
                main)
        sp.poly([(0, 0.5 * h + tilt), (w, 0.5 * h - tilt), (w, 0.4 * h - tilt),
                 (0, 0.4 * h + tilt)], main * 1.2)
    else:  # bag
        pts = _outline(rng, 40, 5) * (w / 2, 0.38 * h) + (cx, 0.6 * h)
        sp.poly(pts, main)
        sp.ellipse((cx + rng.normal(0, 0.05) * w, 0.18 * h), (0.1 * w, 0.14 * h), main * 0.9)


def render_object(rng: np.random.Generator, height: float, width: float,
                  kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """
    Draw one anomaly object on its own.

    :param rng: random generator.
    :param height: object height in pixels (at least 2).
    :param width: object width in pixels (at least 2).
    :param kind: one of :data:`KINDS`; ``None`` picks one at random.
    :return: ``(rgb, mask)``: (h, w, 3) float32 colours in [0, 255] and (h, w) bool silhouette,
        with ``h = ceil(height)``, ``w = ceil(width)``; the object touches the bottom row.
    """
    kind = str(rng.choice(KINDS)) if kind is None else kind
    if kind not in KINDS:
        raise ValueError(f'unknown anomaly kind {kind!r}: expected one of {KINDS}')
    height, width = max(float(height), 2.0), max(float(width), 2.0)
    h, w = int(np.ceil(height)), int(np.ceil(width))
    sp = Sprite((h, w), 0, 0, w, h).use(ANOMALY, 0)
    main, second = _colors(rng)
    _shape(sp, rng, kind, width, height, main, second)
    mask = sp.labels > 0
    if not mask.any():
        sp.ellipse((width / 2, height / 2), (width / 2, height / 2), main)
        mask = sp.labels > 0
    if kind not in ('tyre',):
        mix = _pattern(rng, (h, w))[..., None] * rng.uniform(0.3, 1.0)
        base = sp.rgb / np.maximum(main.mean(), 1.0)
        sp.rgb = sp.rgb * (1 - mix) + second * base * mix
    shade = np.linspace(1.15, 0.8, h, dtype=np.float32)[:, None]
    sp.rgb *= (shade * (1 + 0.08 * tx.noise(rng, (h, w), cell=4, octaves=2)))[..., None]
    rows = np.nonzero(mask.any(1))[0]
    shift = h - 1 - rows[-1]
    if shift > 0:  # rest on the bottom row
        sp.rgb, mask = np.roll(sp.rgb, shift, 0), np.roll(mask, shift, 0)
    rgb = np.where(mask[..., None], np.clip(sp.rgb, 0, 255), 0).astype(np.float32)
    return rgb, mask


def _blit(image: np.ndarray, rgb: np.ndarray, mask: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Copy ``rgb`` where ``mask`` into ``image`` at ``(x0, y0)``; return the full-frame mask."""
    h, w = image.shape[:2]
    full = np.zeros((h, w), bool)
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(mask.shape[0], h - y0), min(mask.shape[1], w - x0)
    if ye <= ys or xe <= xs:
        return full
    local = mask[ys:ye, xs:xe]
    box = np.s_[y0 + ys:y0 + ye, x0 + xs:x0 + xe]
    image[box][local] = rgb[ys:ye, xs:xe][local].astype(image.dtype)
    full[box] = local
    return full


def draw_world_anomaly(canvas: Canvas, cam: Camera, thing, z: float) -> None:
    """
    Draw an anomaly thing standing on the ground at depth ``z`` with a soft contact shadow.

    :param canvas: canvas to paint (pixels get label :data:`ANOMALY`, instance 0).
    :param cam: camera.
    :param thing: a :class:`~.things.Thing` of kind ``'anomaly'`` (params height, width, kind).
    :param z: distance from the camera (m).
    """
    rng = np.random.default_rng(thing.seed)
    s = cam.scale(z)
    height, width = thing.params['height'] * s, thing.params['width'] * s
    if max(height, width) > 4 * max(canvas.shape):
        return
    u, v = cam.project(thing.x, 0.0, z)
    rgb, mask = render_object(rng, height, width, thing.params['kind'])
    h, w = canvas.shape
    yy, xx = np.ogrid[0:h, 0:w]
    shadow = ((xx - u) / max(0.6 * width, 1.0)) ** 2 + ((yy - v) / max(0.08 * width, 1.0)) ** 2
    ground = np.isin(canvas.labels, (ROAD, SIDEWALK, TERRAIN)) & (shadow < 1)
    canvas.image[ground] *= 0.55 + 0.45 * np.sqrt(shadow[ground])[:, None]
    x0, y0 = int(round(u - rgb.shape[1] / 2)), int(round(v - rgb.shape[0] + 1))
    full = _blit(canvas.image, rgb, mask, x0, y0)
    canvas.labels[full] = ANOMALY
    canvas.instances[full] = 0


def paste_anomaly(image: np.ndarray, label: np.ndarray | None = None,
                  rng: np.random.Generator | int | None = None, kind: str | None = None,
                  height: float | None = None, position: tuple[int, int] | None = None,
                  on_road: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """
    Paste a random anomaly object into an image (AnomalyMix-style augmentation).

    Without ``position`` the object stands on a random road pixel (train id 0) with
    probability ``on_road`` and otherwise on any pixel that is neither sky nor void; its size
    grows with the distance of that pixel below the top of the road (a rough perspective).
    Only pixels under the returned mask change.

    :param image: (H, W, 3) uint8 RGB (not modified).
    :param label: optional (H, W) Cityscapes train ids guiding the placement.
    :param rng: random generator or seed.
    :param kind: one of :data:`KINDS`; ``None`` picks one.
    :param height: object height in pixels; ``None`` chooses from the position.
    :param position: ``(row, column)`` of the object's bottom centre.
    :param on_road: probability of standing on the road when ``label`` is given.
    :return: ``(new_image, mask)``: the image with the object and the (H, W) bool mask of the
        object's pixels.
    """
    rng = np.random.default_rng(rng)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) image, got shape {image.shape}')
    h, w = image.shape[:2]
    horizon = 0.4 * h
    if label is not None:
        label = np.asarray(label)
        road_rows = np.nonzero((label == 0).any(1))[0]
        horizon = float(road_rows[0]) if len(road_rows) else horizon
    if position is None:
        candidates = None
        if label is not None:
            road = label == 0
            allowed = road if road.any() and rng.random() < on_road else \
                (label != 10) & (label != 255)
            candidates = np.argwhere(allowed) if allowed.any() else None
        if candidates is None:
            candidates = np.argwhere(np.ones((h, w), bool)[int(horizon):])
            candidates[:, 0] += int(horizon)
        position = tuple(candidates[rng.integers(len(candidates))])
    row, col = int(position[0]), int(position[1])
    if height is None:
        depth = np.clip((row - horizon) / max(h - horizon, 1.0), 0.05, 1.0)
        height = np.clip(depth * h * rng.uniform(0.1, 0.45), 4.0, 0.6 * h)
    width = height * float(np.exp(rng.uniform(np.log(0.5), np.log(2.5))))
    rgb, mask = render_object(rng, height, min(width, 0.9 * w), kind)
    brightness = float(image.mean()) / 110.0
    rgb *= np.clip(brightness, 0.5, 1.4)
    out = image.copy()
    full = _blit(out, np.clip(rgb, 0, 255), mask, col - rgb.shape[1] // 2, row - rgb.shape[0] + 1)
    return out, full
