# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Procedural street scenes: a random street is built from a seed, then rendered (vectorised).

A scene is a straight street seen from a level camera: road with lanes and markings, sidewalks
or terrain verges, building fronts with windows along both sides (gaps show sky, a distant
skyline and trees), walls, fences and hedges, and things placed in the world (vehicles, people,
riders, poles, lamps, signs, traffic lights, trees, bins, anomalies; :mod:`.things`). The ground
and the building fronts are computed per pixel from the inverse perspective, the things are
projected shapes drawn back to front. Rendering at time ``t`` moves the camera forward
(ego-motion) and the moving vehicles along their lanes.
"""

from dataclasses import dataclass, field

import numpy as np
from pixel_anomaly_ros.synthetic import textures as tx
from pixel_anomaly_ros.synthetic import things as things_mod
from pixel_anomaly_ros.synthetic.canvas import (
    BUILDING, Camera, Canvas, EGO_VEHICLE, FENCE, LABEL_TO_TRAIN_ID, ROAD, SIDEWALK, SKY,
    TERRAIN, VEGETATION, WALL)
from pixel_anomaly_ros.synthetic.placement import place_things

FAR = 400.0  # metres; nothing is drawn beyond


@dataclass
class Side:
    """One side of the street (``sign`` -1 left, +1 right); distances are ``|x|`` in metres."""

    sign: int
    curb: float
    walk: float
    verge: float
    verge_kind: int
    edges: np.ndarray
    heights: np.ndarray
    colors: np.ndarray
    windows: np.ndarray
    window_colors: np.ndarray
    shop_colors: np.ndarray
    barriers: list = field(default_factory=list)
    pavement: np.ndarray = None
    tile_size: float = 0.4

    @property
    def facade(self) -> float:
        """Return ``|x|`` of the building fronts."""
        return self.curb + self.walk + self.verge


@dataclass
class SceneSpec:
    """Everything needed to render one scene; built by :func:`build_scene`."""

    camera: Camera
    lanes: int
    lane_width: float
    road: tuple[float, float]
    oncoming: int
    marks: dict
    sides: tuple[Side, Side]
    sky: dict
    skyline: dict
    things: list
    hood: dict | None
    ego_speed: float
    finish: tx.Finish
    texture_seed: int
    colors: dict


def _side(rng: np.random.Generator, sign: int, curb: float) -> Side:
    walk = 0.0 if rng.random() < 0.15 else float(rng.uniform(1.5, 5.0))
    verge = float(rng.choice([0.0, rng.uniform(1.0, 6.0)], p=[0.4, 0.6]))
    verge_kind = TERRAIN if rng.random() < 0.75 or walk == 0 else SIDEWALK
    lengths = rng.uniform(8.0, 36.0, 24)
    edges = np.concatenate([[rng.uniform(-20.0, 0.0)], lengths]).cumsum()
    n = len(lengths)
    gap = rng.random(n) < rng.uniform(0.1, 0.45)
    heights = np.where(gap, 0.0, rng.uniform(6.0, 26.0, n))
    colors = np.stack([tx.color(rng, 'facade', 18) for _ in range(n)])
    windows = np.stack([rng.uniform(2.2, 4.2, n), rng.uniform(2.7, 3.6, n),
                        rng.uniform(0.1, 0.3, n), rng.uniform(0.55, 0.9, n),
                        rng.uniform(0.2, 0.35, n), rng.uniform(0.7, 0.9, n),
                        rng.uniform(3.0, 4.4, n)], 1)
    window_colors = np.stack([tx.color(rng, 'window', 10) for _ in range(n)])
    shop_colors = np.stack([tx.color(rng, 'window', 10) * rng.uniform(0.6, 1.3)
                            for _ in range(n)])
    barriers = []
    z = float(rng.uniform(-10.0, 20.0))
    while z < 150.0 and rng.random() < 0.75:
        kind = rng.choice(['wall', 'fence', 'hedge'], p=[0.35, 0.4, 0.25])
        length = float(rng.uniform(6.0, 40.0))
        barriers.append({'kind': str(kind), 'z0': z, 'z1': z + length,
                         'height': float(rng.uniform(0.8, 2.6)),
                         'style': int(rng.integers(3)),
                         'color': tx.color(rng, 'foliage' if kind == 'hedge' else
                                           'concrete' if kind == 'wall' else 'metal')})
        z += length + float(rng.uniform(0.0, 30.0))
    return Side(sign, curb, walk, verge, verge_kind, edges, heights, colors, windows,
                window_colors, shop_colors, barriers, tx.color(rng, 'pavement'),
                float(rng.uniform(0.25, 0.7)))


def build_scene(rng: np.random.Generator, size: tuple[int, int], anomalies: int = 0) -> SceneSpec:
    """
    Draw a random street.

    :param rng: random generator (the only source of randomness).
    :param size: ``(height, width)`` of the image.
    :param anomalies: number of anomaly objects to place (mostly on the road).
    :return: the scene description.
    """
    h, w = size
    camera = Camera(h, w, focal=float(w * rng.uniform(0.75, 1.1)),
                    horizon=float(h * rng.uniform(0.36, 0.5)),
                    cx=float(w * rng.uniform(0.42, 0.58)), cam_h=float(rng.uniform(1.2, 1.8)))
    lanes = int(rng.choice([2, 2, 3, 4]))
    lane_width = float(rng.uniform(2.8, 3.7))
    ego_lane = int(rng.integers(lanes))
    left = -(ego_lane + 0.5 + rng.normal(0, 0.1)) * lane_width
    oncoming = int(rng.integers(0, lanes)) if rng.random() < 0.6 else 0
    marks = {'color': (np.array([235, 235, 225]) if rng.random() < 0.8 else
                       np.array([225, 190, 60])) * rng.uniform(0.7, 1.0),
             'dash': float(rng.uniform(2.0, 4.5)), 'gap': float(rng.uniform(3.0, 8.0)),
             'edge': bool(rng.random() < 0.6), 'phase': float(rng.uniform(0, 10)),
             'solid_center': bool(oncoming and rng.random() < 0.5),
             'crosswalk': float(rng.uniform(8.0, 30.0)) if rng.random() < 0.35 else None}
    sides = (_side(rng, -1, -left), _side(rng, 1, left + lanes * lane_width))
    zenith, horizon = tx.color(rng, 'sky_zenith', 10), tx.color(rng, 'sky_horizon', 8)
    if rng.random() < 0.25:  # overcast
        zenith = horizon = np.full(3, rng.uniform(150, 225), np.float32)
    sky = {'zenith': zenith, 'horizon': horizon, 'clouds': float(rng.uniform(0.0, 0.8)),
           'fog': float(rng.uniform(120.0, 700.0))}
    n = int(rng.integers(4, 16))
    cuts = np.sort(rng.uniform(0, w, n))
    skyline = {'cuts': cuts, 'heights': rng.uniform(0.0, 0.16, n + 1) * h *
               (rng.random(n + 1) < 0.75), 'trees': rng.random(n + 1) < 0.35,
               'colors': np.stack([tx.color(rng, 'facade', 20) for _ in range(n + 1)])}
    spec = SceneSpec(camera, lanes, lane_width, (left, left + lanes * lane_width), oncoming,
                     marks, sides, sky, skyline, [], None, float(rng.uniform(4.0, 12.0)),
                     tx.sample_finish(rng, w), int(rng.integers(2 ** 31)),
                     {'asphalt': tx.color(rng, 'asphalt', 6), 'grass': tx.color(rng, 'grass'),
                      'curb': tx.color(rng, 'concrete', 8)})
    if rng.random() < 0.5:
        spec.hood = {'height': float(rng.uniform(0.06, 0.16)), 'bend': float(rng.uniform(0.2, 1)),
                     'color': tx.color(rng, 'car', 8) * 0.6}
    spec.things = place_things(rng, spec, anomalies)
    return spec


def render_scene(spec: SceneSpec, t: float = 0.0, anomalies: bool = True) -> Canvas:
    """
    Render a scene (before the camera finish, see :func:`textures.apply_finish`).

    :param spec: the scene from :func:`build_scene`.
    :param t: time in seconds; the camera moves ``ego_speed * t`` forward.
    :param anomalies: draw the anomaly objects (``False`` renders the clean scene, identical
        elsewhere except for the anomalies' shadows).
    :return: canvas with float RGB, label ids and instance ids.
    """
    cam = spec.camera
    canvas = Canvas(cam.height, cam.width)
    tiles = np.random.default_rng([spec.texture_seed, 7])
    tiles = {name: tx.tile(tiles, 128, cell) for name, cell in
             (('coarse', 24.0), ('fine', 6.0), ('grass', 12.0), ('facade', 10.0),
              ('leaf', 4.0), ('wear', 16.0))}
    dz = spec.ego_speed * t
    _sky(canvas, spec)
    _ground(canvas, spec, tiles, dz)
    for side in spec.sides:
        _facades(canvas, spec, side, tiles, dz)
        for barrier in side.barriers:
            _barrier(canvas, spec, side, barrier, tiles, dz)
    visible = []
    for thing in spec.things:
        z = thing.z + thing.speed * t - dz
        if z > 1.0 and (anomalies or thing.kind != 'anomaly'):
            visible.append((z, thing))
    for z, thing in sorted(visible, key=lambda item: -item[0]):
        things_mod.draw(canvas, cam, thing, z)
    if spec.hood is not None:
        _hood(canvas, spec.hood)
    return canvas


def _rows_cols(cam: Camera):
    return (np.arange(cam.height, dtype=np.float32) + 0.5)[:, None], \
        (np.arange(cam.width, dtype=np.float32) + 0.5)[None, :]


def _haze(colors: np.ndarray, depth: np.ndarray, spec: SceneSpec) -> np.ndarray:
    amount = 1.0 - np.exp(-depth / spec.sky['fog'])
    return colors + (spec.sky['horizon'] - colors) * amount[..., None]


def _sky(canvas: Canvas, spec: SceneSpec) -> None:
    cam, sky = spec.camera, spec.sky
    v, u = _rows_cols(cam)
    frac = np.clip(v / max(cam.horizon, 1.0), 0, 1)[..., None] ** 0.7
    grad = sky['zenith'] + (sky['horizon'] - sky['zenith']) * frac
    rng = np.random.default_rng([spec.texture_seed, 1])
    cloud = tx.noise(rng, canvas.shape, cell=cam.width / 5, octaves=4)
    cover = np.clip((cloud - 1.0 + sky['clouds'] * 1.5) * 0.7, 0, 1)[..., None]
    white = np.float32(min(255.0, sky['horizon'].mean() * 1.08))
    canvas.image[:] = grad * (1 - cover) + white * cover * (0.9 + 0.1 * frac)
    canvas.labels[:] = SKY
    canvas.instances[:] = SKY
    line = spec.skyline
    column = np.searchsorted(line['cuts'], u[0])
    rng = np.random.default_rng([spec.texture_seed, 2])
    bumps = tx.noise(rng, (1, cam.width), cell=3, octaves=2)[0]
    heights = line['heights'][column] + np.where(line['trees'][column], 2.0 * bumps, 0)
    tops = cam.horizon - heights
    mask = (v >= tops[None, :]) & (v < cam.horizon + 1) & (heights[None, :] > 0.5)
    colors = np.where(line['trees'][column, None], tx.PALETTES['foliage'][0],
                      line['colors'][column])
    colors = _haze(colors.astype(np.float32), np.full(cam.width, 250.0, np.float32), spec)
    canvas.image[mask] = np.broadcast_to(colors[None], canvas.image.shape)[mask]
    labels = np.where(line['trees'][column], VEGETATION, BUILDING)
    canvas.labels[mask] = np.broadcast_to(labels[None], mask.shape)[mask]
    canvas.instances[mask] = canvas.labels[mask]


def _ground(canvas: Canvas, spec: SceneSpec, tiles: dict, dz: float) -> None:
    cam = spec.camera
    v, u = _rows_cols(cam)
    first = int(np.searchsorted(v[:, 0], cam.horizon + 0.05))
    v = v[first:]
    zc = np.minimum(cam.focal * cam.cam_h / (v - cam.horizon), FAR * 2)
    x = (u - cam.cx) * zc / cam.focal
    z = zc + dz
    left, right = spec.road
    ls, rs = spec.sides
    fade = np.clip(1.0 - zc / 70.0, 0.0, 1.0)
    road = (x >= left) & (x <= right)
    walk = ((x < left) & (x >= left - ls.walk)) | ((x > right) & (x <= right + rs.walk))
    labels = np.where(road, ROAD, np.where(walk, SIDEWALK, np.where(
        x < 0, ls.verge_kind, rs.verge_kind))).astype(np.uint8)
    walk = labels == SIDEWALK
    coarse = tx.sample(tiles['coarse'], x * 5, z * 5)
    fine = tx.sample(tiles['fine'], x * 24, z * 24) * fade
    marks = spec.marks
    bounds = left + spec.lane_width * np.arange(1, spec.lanes)
    dist = np.abs(x[..., None] - bounds).min(-1) if len(bounds) else np.full_like(x, 9.0)
    dashed = np.mod(z + marks['phase'], marks['dash'] + marks['gap']) < marks['dash']
    paint = (dist < 0.07) & dashed
    if spec.oncoming and marks['solid_center']:
        paint |= np.abs(x - left - spec.lane_width * spec.oncoming) < 0.08
    if marks['edge']:
        paint |= (np.abs(x - left - 0.3) < 0.07) | (np.abs(x - right + 0.3) < 0.07)
    if marks['crosswalk'] is not None:
        zone = (z > marks['crosswalk']) & (z < marks['crosswalk'] + 3.5)
        paint |= zone & (np.mod(x - left, 1.1) < 0.55)
    paint &= road & (tx.sample(tiles['wear'], x * 8, z * 8) > -1.3)
    size = np.where(x < 0, ls.tile_size, rs.tile_size)
    seam = (np.mod(x, size) < 0.035) | (np.mod(z, size) < 0.035)
    curb = ((np.abs(x - left) < 0.22) | (np.abs(x - right) < 0.22)) & walk
    grass = tx.sample(tiles['grass'], x * 4, z * 4)
    # Material index into a colour table and a brightness gain per pixel.
    table = np.stack([spec.colors['asphalt'], spec.marks['color'], ls.pavement, rs.pavement,
                      spec.colors['curb'], spec.colors['grass']]).astype(np.float32)
    index = np.where(road, np.where(paint, 1, 0), np.where(
        walk, np.where(curb, 4, np.where(x < 0, 2, 3)), 5))
    gain = np.where(road, np.where(paint, 1 + 0.05 * coarse, 1 + 0.07 * coarse + 0.06 * fine),
                    np.where(walk, 1 - 0.16 * seam * fade + 0.05 * coarse + 0.05 * fine,
                             1 + 0.14 * grass + 0.12 * fine))
    colors = table[index] * gain[..., None]
    canvas.image[first:] = _haze(colors, zc, spec)
    canvas.labels[first:] = labels
    canvas.instances[first:] = labels


def _plane_columns(cam: Camera, side: Side, dist: float, dz: float):
    """Return per column: camera depth and world z of a vertical plane at ``|x| = dist``."""
    u = np.arange(cam.width, dtype=np.float32) + 0.5
    d = side.sign * (u - cam.cx)
    with np.errstate(divide='ignore'):
        zc = np.where(d > 0.25, cam.focal * dist / np.maximum(d, 0.25), np.inf)
    return zc, zc + dz


def _box(cam: Camera, valid: np.ndarray, top: np.ndarray, bottom: np.ndarray):
    """Return the rows, columns and row centres bounding the spans ``[top, bottom)``."""
    cols = np.nonzero(valid & (bottom > top) & (bottom > 0) & (top < cam.height))[0]
    if not len(cols):
        return None
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    r0 = int(max(0.0, np.floor(top[cols].min())))
    r1 = int(min(cam.height, np.ceil(bottom[cols].max())))
    if r1 <= r0:
        return None
    return np.s_[r0:r1, c0:c1], np.s_[c0:c1], (np.arange(r0, r1, dtype=np.float32) + 0.5)[:, None]


def _facades(canvas: Canvas, spec: SceneSpec, side: Side, tiles: dict, dz: float) -> None:
    cam = spec.camera
    zc, zw = _plane_columns(cam, side, side.facade, dz)
    block = np.clip(np.searchsorted(side.edges, zw, 'right') - 1, 0, len(side.heights) - 1)
    inside = (zw >= side.edges[0]) & (zw < side.edges[-1]) & (zc < FAR)
    height = np.where(inside, side.heights[block], 0.0)
    zc, zw = np.where(inside, zc, FAR), np.where(inside, zw, side.edges[0])
    top = cam.horizon - cam.focal * (height - cam.cam_h) / zc
    bottom = cam.horizon + cam.focal * cam.cam_h / zc
    found = _box(cam, height > 0, top, bottom)
    if found is None:
        return
    box, cols, v = found
    zc, zw, block, height = zc[cols], zw[cols], block[cols], height[cols]
    mask = (height > 0) & (v >= top[cols]) & (v < bottom[cols])
    yw = cam.cam_h - (v - cam.horizon) * zc / cam.focal
    along = zw - side.edges[block]
    win = side.windows[block]
    fx = np.mod(along, win[:, 0]) / win[:, 0]
    fy = np.mod(yw, win[:, 1]) / win[:, 1]
    window = (fx > win[:, 2]) & (fx < win[:, 3]) & (fy > win[:, 4]) & (fy < win[:, 5]) & \
        (yw > win[:, 6]) & (yw < height - 0.9)
    shop = (yw < win[:, 6]) & (yw > 0.3) & (np.mod(along, 5.0) < 3.6)
    texture = tx.sample(tiles['facade'], along * 6, yw * 6)
    base = side.colors[block] * (1 + 0.09 * texture)[..., None]
    base = np.where(((yw > height - 0.5) | (along < 0.3))[..., None], base * 0.72, base)
    glass = side.window_colors[block] * (0.8 + 0.35 * fy)[..., None]
    colors = np.where(window[..., None], glass, base)
    colors = np.where(shop[..., None], side.shop_colors[block], colors)
    colors = _haze(colors, np.broadcast_to(zc, mask.shape), spec)
    canvas.fill(mask, colors, BUILDING, box=box)


def _barrier(canvas: Canvas, spec: SceneSpec, side: Side, barrier: dict, tiles: dict,
             dz: float) -> None:
    cam = spec.camera
    zc, zw = _plane_columns(cam, side, side.facade - 0.05, dz)
    inside = (zw >= barrier['z0']) & (zw < barrier['z1']) & (zc < FAR)
    zc = np.where(inside, zc, FAR)
    along = np.where(inside, zw - barrier['z0'], 0.0)
    height = np.full(cam.width, barrier['height'], np.float32)
    if barrier['kind'] == 'hedge':
        height = height + 0.15 * tx.sample(tiles['leaf'], along * 20, np.full_like(along, 3))
    top = cam.horizon - cam.focal * (height - cam.cam_h) / zc
    bottom = cam.horizon + cam.focal * cam.cam_h / zc
    found = _box(cam, inside, top, bottom)
    if found is None:
        return
    box, cols, v = found
    zc, along, height = zc[cols], along[cols], height[cols]
    mask = inside[cols] & (v >= top[cols]) & (v < bottom[cols])
    yw = cam.cam_h - (v - cam.horizon) * zc / cam.focal
    color = barrier['color']
    if barrier['kind'] == 'hedge':
        leaf = tx.sample(tiles['leaf'], along * 14, yw * 14)
        colors = color * (1 + 0.3 * leaf)[..., None]
        label = VEGETATION
    elif barrier['kind'] == 'wall':
        size = (0.5, 0.25, 1.0)[barrier['style']]
        seam = (np.mod(yw, size) < 0.04) | (np.mod(along + 0.5 * (np.mod(yw, 2 * size) < size),
                                                   2 * size + 0.5) < 0.04)
        texture = tx.sample(tiles['facade'], along * 9, yw * 9)
        colors = color * (1 + 0.08 * texture - 0.15 * seam)[..., None]
        colors = np.where((yw > height - 0.12)[..., None], color * 1.12, colors)
        label = WALL
    else:
        style = barrier['style']
        if style == 0:  # chain-link mesh
            solid = (np.mod(along + yw, 0.3) < 0.045) | (np.mod(along - yw, 0.3) < 0.045)
        elif style == 1:  # wooden or metal slats
            solid = np.mod(along, 0.16) < 0.1
        else:  # railings
            solid = (np.abs(np.mod(yw, 0.45) - 0.2) < 0.05) | (np.mod(along, 1.5) < 0.08)
        solid = solid | (np.mod(along, 2.5) < 0.07) | (yw > height - 0.06)
        colors = np.where(solid[..., None], color, canvas.image[box] * 0.78)
        label = FENCE
    canvas.fill(mask, _haze(colors, np.broadcast_to(zc, mask.shape), spec), label, box=box)


def _hood(canvas: Canvas, hood: dict) -> None:
    h, w = canvas.shape
    v = np.arange(h, dtype=np.float32)[:, None] + 0.5
    u = np.arange(w, dtype=np.float32)[None, :] + 0.5
    rise = h * hood['height']
    edge = h - rise * (1 - hood['bend'] * ((u - w / 2) / (w / 2)) ** 2)
    mask = v >= edge
    depth = np.clip((v - edge) / max(rise, 1.0), 0, 1)[..., None]
    shine = 20 * np.exp(-((u - w / 2) / (w / 6)) ** 2)[..., None]
    colors = hood['color'] * (1.25 - 0.5 * depth) + shine
    canvas.fill(mask, np.broadcast_to(colors, canvas.image.shape), EGO_VEHICLE)


def train_ids(labels: np.ndarray) -> np.ndarray:
    """
    Map label ids to Cityscapes train ids.

    :param labels: (H, W) uint8 label ids (anomaly pixels map to 255).
    :return: (H, W) uint8 train ids, 255 for void.
    """
    return LABEL_TO_TRAIN_ID[labels]
