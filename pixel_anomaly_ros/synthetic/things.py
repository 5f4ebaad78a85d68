# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Things of the street world drawn as projected shapes: vehicles, people, bicycles, furniture.

Each :class:`Thing` carries its own seed, so its appearance does not depend on what else is in
the scene. Vehicles are unions of projected boxes (visible faces shaded differently) with
wheels, windows and lights; people and riders are articulated limbs; poles are shaded posts
carrying lamps, signs or traffic lights; trees are a trunk and a crown of leafy circles.
"""

from dataclasses import dataclass, field

import numpy as np
from pixel_anomaly_ros.synthetic import textures as tx
from pixel_anomaly_ros.synthetic.canvas import (
    BICYCLE, Camera, Canvas, MOTORCYCLE, PERSON, POLE, RIDER, Sprite, STATIC, TRAFFIC_LIGHT,
    TRAFFIC_SIGN, VEGETATION)


@dataclass
class Thing:
    """An object standing at ``(x, z)`` on the ground, moving ``speed`` m/s along z."""

    kind: str
    x: float
    z: float
    seed: int
    speed: float = 0.0
    params: dict = field(default_factory=dict)
    instances: dict = field(default_factory=dict)


def _sprite(canvas: Canvas, cam: Camera, x0, x1, y1, z0, z1) -> Sprite:
    """Sprite covering the projection of the box ``[x0, x1] x [0, y1] x [z0, z1]``."""
    xs, ys, zs = np.meshgrid([x0, x1], [0.0, y1], [z0, z1])
    u, v = cam.project(xs, ys, zs)
    return Sprite(canvas.shape, u.min() - 2, v.min() - 2, u.max() + 2, v.max() + 2)


def _box(sp: Sprite, cam: Camera, x0, x1, y0, y1, z0, z1, color, top=None) -> None:
    """Draw the visible faces of a box (side darker, top lighter)."""
    color = np.asarray(color, np.float32)
    faces = []
    for x, visible in ((x1, x1 < 0), (x0, x0 > 0)):
        if visible:
            faces.append(([(x, y0, z0), (x, y0, z1), (x, y1, z1), (x, y1, z0)], color * 0.78))
    if y1 < cam.cam_h:
        faces.append(([(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)],
                      color * 1.15 if top is None else top))
    faces.append(([(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)], color))
    for corners, shade in faces:
        u, v = cam.project(*np.asarray(corners, np.float64).T)
        sp.poly(np.stack([u, v], 1), np.clip(shade, 0, 255))


def _quad(sp: Sprite, cam: Camera, x0, x1, y0, y1, z, color) -> None:
    u, v = cam.project(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]), z)
    sp.poly(np.stack([u, v], 1), color)


def _wheels(sp: Sprite, cam: Camera, x, zs, radius: float) -> None:
    for zw in zs:
        u, v = cam.project(x, radius, zw)
        ua, _ = cam.project(x, radius, zw - radius)
        ub, _ = cam.project(x, radius, zw + radius)
        r = cam.scale(zw) * radius
        sp.ellipse((u, v), (abs(ub - ua) / 2 + 0.3, r), (22, 22, 24))
        sp.ellipse((u, v), (abs(ub - ua) / 5 + 0.2, r * 0.4), (110, 110, 114))


def _vehicle(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    p, kind = th.params, th.kind
    label = next(iter(th.instances))
    w, length, h = p['w'], p['l'], p['h']
    x0, x1, z1 = th.x - w / 2, th.x + w / 2, z + length
    sp = _sprite(canvas, cam, x0, x1, h, z, z1).use(label, th.instances[label])
    if sp.empty:
        return
    body = tx.color(rng, 'car', 12) if kind == 'car' else \
        tx.random_color(rng, (0.0, 0.9), (0.4, 0.95))
    glass = tx.color(rng, 'window', 8) * 0.7
    front = p['facing'] == 'front'
    _box(sp, cam, x0 + 0.1, x1 - 0.1, 0.0, 0.4, z + 0.4, z1 - 0.4, (24, 24, 26))
    if kind == 'car':
        belt = 0.55 * h + 0.05
        _box(sp, cam, x0, x1, 0.28, belt, z, z1, body)
        cab = (z + 0.9, z1 - 1.1) if not front else (z + 1.1, z1 - 0.9)
        _box(sp, cam, x0 + 0.12, x1 - 0.12, belt, h, cab[0], cab[1], glass, top=body * 1.1)
        lamp = np.array((235, 232, 210) if front else (190, 24, 22), np.float32)
        for a, b in ((x0 + 0.08, x0 + 0.38), (x1 - 0.38, x1 - 0.08)):
            _quad(sp, cam, a, b, belt - 0.2, belt - 0.06, z - 0.01, lamp)
        _quad(sp, cam, th.x - 0.26, th.x + 0.26, 0.42, 0.54, z - 0.01, (225, 225, 215))
    elif kind == 'truck':
        cargo = tx.color(rng, 'pavement', 10) * 1.3
        split = z1 - 2.2 if not front else z + 2.2
        cab_z = (split, z1) if not front else (z, split)
        box_z = (z, split) if not front else (split, z1)
        _box(sp, cam, x0, x1, 0.5, h, box_z[0], box_z[1], np.clip(cargo, 0, 255))
        _box(sp, cam, x0 + 0.05, x1 - 0.05, 0.5, 2.7, cab_z[0], cab_z[1], body)
        if front:
            _quad(sp, cam, x0 + 0.2, x1 - 0.2, 1.6, 2.5, z - 0.01, glass)
        else:
            _quad(sp, cam, th.x - 0.03, th.x + 0.03, 0.6, h - 0.1, z - 0.01, cargo * 0.6)
    else:
        _box(sp, cam, x0, x1, 0.3, h, z, z1, body)
        _quad(sp, cam, x0 + 0.15, x1 - 0.15, 1.3, h - 0.35, z - 0.01, glass)
        xs = x1 if x1 < 0 else x0 if x0 > 0 else None
        if xs is not None:
            u, v = cam.project(np.array([xs] * 4), np.array([1.2, 1.2, 2.4, 2.4]),
                               np.array([z + 0.5, z1 - 0.5, z1 - 0.5, z + 0.5]))
            sp.poly(np.stack([u, v], 1), glass)
    side = x1 if x1 < 0 else x0 if x0 > 0 else None
    if side is not None:
        _wheels(sp, cam, side, (z + 0.8, z1 - 0.8), 0.33 if kind == 'car' else 0.5)
    sp.texture(tx.noise(rng, sp.labels.shape, cell=6, octaves=2), 0.04)
    canvas.paste(sp)


def _limbs(sp: Sprite, at, s: float, parts, skin, top, bottom) -> None:
    """Draw a person from ``(lateral, height)`` joints in metres at scale ``s`` px/m."""
    bu, bv = at

    def pt(a, b):
        return bu + a * s, bv - b * s

    for (a0, b0), (a1, b1), width, kind in parts:
        col = {'skin': skin, 'top': top, 'bottom': bottom, 'shoe': (30, 28, 28)}[kind]
        sp.line(pt(a0, b0), pt(a1, b1), col, max(1.0, width * s))


def _person_parts(hg: float, pose: float, facing: str):
    """Return the limb segments and head ``(a, b, r)`` of a standing person (metres)."""
    narrow = 0.55 if facing == 'side' else 1.0
    hip, shoulder = 0.52 * hg, 0.81 * hg
    sw, hw = 0.12 * hg * narrow, 0.08 * hg * narrow
    stride = 0.12 * hg * pose * (1.0 if facing == 'side' else 0.3)
    legs = [((-hw / 2, hip), (-hw / 2 - stride, 0.03), 0.075 * hg, 'bottom'),
            ((hw / 2, hip), (hw / 2 + stride, 0.03), 0.075 * hg, 'bottom')]
    torso = [((d * hw, hip), (d * sw, shoulder), 0.11 * hg * narrow, 'top') for d in (-0.5, 0.5)]
    arms = [((d * sw, shoulder), (d * (sw + 0.02 * hg) + 0.5 * stride * d, hip - 0.05 * hg),
             0.045 * hg, 'top') for d in (-1, 1)]
    return legs + torso + arms, (0.0, shoulder + 0.11 * hg, 0.065 * hg)


def _rider_parts(hg: float, seat, pedal, bar):
    """Return the limb segments and head of a person sitting on a bicycle (metres)."""
    shoulder = (seat[0] + 0.6 * (bar[0] - seat[0]), seat[1] + 0.3 * hg)
    knee = (pedal[0], pedal[1] + 0.12)
    legs = [(seat, pedal, 0.07 * hg, 'bottom'), (seat, knee, 0.07 * hg, 'bottom')]
    torso = [(seat, shoulder, 0.09 * hg, 'top'), (shoulder, bar, 0.045 * hg, 'top')]
    head = (shoulder[0] + 0.2 * (bar[0] - seat[0]), shoulder[1] + 0.11 * hg, 0.065 * hg)
    return legs + torso, head


def _person(sp: Sprite, rng, at, s: float, parts, head, label: int, instance: int,
            facing: str = 'side') -> None:
    skin, top = tx.color(rng, 'skin', 8), tx.color(rng, 'cloth', 20)
    bottom = tx.color(rng, 'cloth', 14) * 0.7
    sp.use(label, instance)
    _limbs(sp, at, s, parts, skin, top, bottom)
    ha, hb, hr = head
    center = (at[0] + ha * s, at[1] - hb * s)
    sp.ellipse(center, (hr * s * 0.85, hr * s), skin)
    hair = tx.color(rng, 'cloth', 10) * 0.5 if facing != 'back' or rng.random() < 0.5 else skin
    sp.ellipse((center[0], center[1] - hr * s * 0.35), (hr * s * 0.8, hr * s * 0.6), hair)


def _draw_person(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    s, hg = cam.scale(z), th.params['height']
    at = cam.project(th.x, 0.0, z)
    sp = Sprite(canvas.shape, at[0] - 0.5 * s, at[1] - (hg + 0.1) * s, at[0] + 0.5 * s,
                at[1] + 2)
    parts, head = _person_parts(hg, th.params['pose'], th.params['facing'])
    _person(sp, rng, at, s, parts, head, PERSON, th.instances[PERSON], th.params['facing'])
    sp.texture(tx.noise(rng, sp.labels.shape, cell=3, octaves=2), 0.06)
    canvas.paste(sp)


def _draw_bicycle(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    p = th.params
    s, f, d = cam.scale(z), max(p['view'], 0.12), p['dir']
    bu, bv = cam.project(th.x, 0.0, z)
    label = MOTORCYCLE if p['motor'] else BICYCLE
    sp = Sprite(canvas.shape, bu - 1.2 * s, bv - 2.0 * s, bu + 1.2 * s, bv + 2)
    sp.use(label, th.instances[label])

    def pt(a, b):
        return bu + a * f * d * s, bv - b * s

    r = 0.33 if not p['motor'] else 0.3
    frame = tx.random_color(rng, (0.2, 0.9), (0.2, 0.8))
    hubs = [pt(-0.52, r), pt(0.52, r)]
    tyre = max(1.0, (0.05 + 0.08 * p['motor']) * s)
    for hub in hubs:
        sp.ellipse(hub, (r * s * f, r * s), (26, 26, 26), thickness=tyre)
    crank, seat, bar = pt(0.0, 0.32), pt(-0.2, 0.9), pt(0.42, 1.0)
    for a, b in ((hubs[0], crank), (crank, seat), (seat, hubs[0]), (crank, bar), (bar, hubs[1]),
                 (seat, bar)):
        sp.line(a, b, frame, max(1.0, 0.035 * s))
    if p['motor']:
        sp.ellipse(pt(0.0, 0.6), (0.55 * s * f, 0.22 * s), frame)
    if p['rider']:
        k = f * d
        parts, head = _rider_parts(float(rng.uniform(1.6, 1.9)), (-0.2 * k, 0.95),
                                   (0.05 * k, 0.3), (0.42 * k, 1.05))
        _person(sp, rng, (bu, bv), s, parts, head, RIDER, th.instances[RIDER])
    canvas.paste(sp)


def _post(sp: Sprite, cam: Camera, x: float, z: float, top: float, width: float, color) -> None:
    _quad(sp, cam, x - width / 2, x, 0.0, top, z, color * 0.75)
    _quad(sp, cam, x, x + width / 2, 0.0, top, z, color * 1.1)


def _draw_lamp(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    hgt, toward = th.params['height'], th.params['toward']
    reach = float(rng.uniform(0.8, 2.0))
    sp = _sprite(canvas, cam, th.x - 2.2, th.x + 2.2, hgt + 0.5, z - 0.3, z + 0.3).use(POLE)
    color = tx.color(rng, 'metal', 10)
    _post(sp, cam, th.x, z, hgt, float(rng.uniform(0.12, 0.25)), color)
    end = th.x + toward * reach
    sp.line(cam.project(th.x, hgt - 0.1, z), cam.project(end, hgt + 0.1, z), color,
            max(1.0, 0.08 * cam.scale(z)))
    _quad(sp, cam, end - 0.4, end + 0.4, hgt - 0.05, hgt + 0.15, z, color * 0.8)
    canvas.paste(sp)


def _draw_sign(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    s, top = cam.scale(z), float(rng.uniform(2.0, 2.8))
    r, aspect = float(rng.uniform(0.28, 0.42)), float(rng.uniform(0.6, 1.0))
    sp = _sprite(canvas, cam, th.x - 0.6, th.x + 0.6, top + 2 * r + 0.1, z, z).use(POLE)
    _post(sp, cam, th.x, z, top + r, 0.08, tx.color(rng, 'metal', 10))
    u, v = cam.project(th.x, top + r, z)
    sp.use(TRAFFIC_SIGN)
    shape = int(rng.integers(6))
    red, white = np.array([200, 30, 30]), np.array([235, 235, 230])
    blue, yellow = np.array([30, 70, 170]), np.array([235, 190, 30])
    ring, fill = [(red, white), (red, white), (white, blue), (white, (40, 120, 60)),
                  (white, yellow), ((90, 90, 90), (150, 150, 150))][shape]
    ang = np.linspace(0, 2 * np.pi, {0: 40, 1: 4, 2: 40, 3: 5, 4: 5, 5: 9}[shape])[:-1]
    if shape == 1:
        ang = ang - np.pi / 2
    if shape in (3, 4):
        ang = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi + (np.pi / 4 if shape == 4 else 0)
    for scale, col in ((1.0, ring), (0.75, fill)):
        pts = np.stack([u + np.cos(ang) * r * s * scale * aspect,
                        v + np.sin(ang) * r * s * scale], 1)
        sp.poly(pts, np.asarray(col, np.float32) * rng.uniform(0.8, 1.05))
    if shape in (0, 2):
        sp.line((u - 0.4 * r * s * aspect, v), (u + 0.4 * r * s * aspect, v), ring,
                max(1.0, 0.15 * r * s))
    canvas.paste(sp)


def _draw_light(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    reach, back = th.params['reach'], th.params['back']
    top = float(rng.uniform(2.6, 3.6)) if not reach else float(rng.uniform(5.0, 6.0))
    lx = th.x + reach
    sp = _sprite(canvas, cam, min(th.x, lx) - 0.5, max(th.x, lx) + 0.5, top + 1.2, z, z)
    metal = tx.color(rng, 'metal', 8)
    sp.use(POLE)
    _post(sp, cam, th.x, z, top if not reach else top + 0.2, 0.16, metal)
    if reach:
        sp.line(cam.project(th.x, top + 0.1, z), cam.project(lx, top + 0.1, z), metal,
                max(1.0, 0.1 * cam.scale(z)))
    sp.use(TRAFFIC_LIGHT)
    y0 = top - 1.0 if reach else top
    housing = (np.array((235, 190, 30)) if rng.random() < 0.2 else tx.color(rng, 'metal', 6) *
               0.5)
    _quad(sp, cam, lx - 0.17, lx + 0.17, y0, y0 + 0.95, z - 0.05, housing)
    if not back:
        lit = int(rng.integers(3))
        colors = [(255, 50, 40), (255, 175, 20), (40, 235, 130)]
        for k in range(3):
            u, v = cam.project(lx, y0 + 0.78 - 0.3 * k, z - 0.1)
            col = colors[k] if k == lit else np.asarray(colors[k]) * 0.2
            rad = 0.1 * cam.scale(z)
            sp.ellipse((u, v), (rad, rad), col)
    canvas.paste(sp)


def _draw_tree(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    k = th.params['scale']
    crown_h, radius = float(rng.uniform(3.5, 6.5)) * k, float(rng.uniform(1.3, 2.8)) * k
    sp = _sprite(canvas, cam, th.x - radius * 1.5, th.x + radius * 1.5,
                 crown_h + radius * 1.3, z, z).use(VEGETATION)
    s = cam.scale(z)
    bark = tx.color(rng, 'concrete', 10) * 0.55
    width = float(rng.uniform(0.18, 0.4))
    _quad(sp, cam, th.x - width / 2, th.x + width / 2, 0.0, crown_h, z, bark)
    leaf = tx.color(rng, 'foliage', 12)
    for _ in range(int(rng.integers(5, 10))):
        dx, dy = rng.normal(0, 0.45 * radius, 2)
        u, v = cam.project(th.x + dx, crown_h + dy, z)
        rr = radius * rng.uniform(0.45, 0.75) * s
        sp.ellipse((u, v), (rr, rr * rng.uniform(0.8, 1.1)), leaf * rng.uniform(0.8, 1.1))
    sp.texture(tx.noise(rng, sp.labels.shape, cell=2.5, octaves=2), 0.3)
    canvas.paste(sp)


def _draw_bin(canvas: Canvas, cam: Camera, th: Thing, z: float) -> None:
    rng = np.random.default_rng(th.seed)
    w, h = float(rng.uniform(0.4, 0.7)), float(rng.uniform(0.8, 1.2))
    sp = _sprite(canvas, cam, th.x - w, th.x + w, h, z, z + w).use(STATIC)
    color = tx.random_color(rng, (0.2, 0.8), (0.2, 0.6))
    _box(sp, cam, th.x - w / 2, th.x + w / 2, 0.0, h, z, z + w, color)
    canvas.paste(sp)


def draw(canvas: Canvas, cam: Camera, thing: Thing, z: float) -> None:
    """
    Draw a thing at camera depth ``z``.

    :param canvas: canvas to paint.
    :param cam: camera.
    :param thing: the thing.
    :param z: its current distance from the camera (m).
    """
    if thing.kind == 'anomaly':
        from pixel_anomaly_ros.synthetic.anomalies import draw_world_anomaly
        draw_world_anomaly(canvas, cam, thing, z)
        return
    DRAW[thing.kind](canvas, cam, thing, z)


DRAW = {'car': _vehicle, 'truck': _vehicle, 'bus': _vehicle, 'person': _draw_person,
        'bicycle': _draw_bicycle, 'lamp': _draw_lamp, 'sign': _draw_sign, 'light': _draw_light,
        'tree': _draw_tree, 'bin': _draw_bin}
