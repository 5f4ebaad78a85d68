# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Placement of the things of a street scene in world coordinates (metres).

Vehicles drive in the lanes (the ones left of ``oncoming`` towards the camera) or are parked
along the curbs; people walk on the sidewalks or cross the road; poles, lamps, signs, traffic
lights, trees and bins stand along the sidewalks; anomalies lie mostly on the road. Footprints
of vehicles and anomalies do not overlap. Instance ids follow Cityscapes: ``label_id * 1000 +
k`` with ``k`` counted per class.
"""

import numpy as np
from pixel_anomaly_ros.synthetic.canvas import BICYCLE, BUS, CAR, MOTORCYCLE, PERSON, RIDER, TRUCK
from pixel_anomaly_ros.synthetic.things import Thing

VEHICLES = {  # kind: (label, width, length, height) ranges
    'car': (CAR, (1.65, 1.95), (3.8, 4.9), (1.35, 1.65)),
    'truck': (TRUCK, (2.3, 2.55), (6.0, 9.0), (2.8, 3.8)),
    'bus': (BUS, (2.45, 2.6), (10.0, 12.5), (2.9, 3.3)),
}


class _Footprints:
    """Ground rectangles already taken, to keep vehicles and anomalies apart."""

    def __init__(self):
        self.boxes = []

    def take(self, x0: float, x1: float, z0: float, z1: float, margin: float = 0.4) -> bool:
        for a0, a1, b0, b1 in self.boxes:
            if x0 < a1 + margin and a0 < x1 + margin and z0 < b1 + margin and b0 < z1 + margin:
                return False
        self.boxes.append((x0, x1, z0, z1))
        return True


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2 ** 31))


def _vehicle(rng, kind: str, x: float, z: float, facing: str, speed: float) -> Thing:
    label, width, length, height = VEHICLES[kind]
    params = {'w': float(rng.uniform(*width)), 'l': float(rng.uniform(*length)),
              'h': float(rng.uniform(*height)), 'facing': facing}
    return Thing(kind, x, z, _seed(rng), speed, params, {label: 0})


def _vehicles(rng, spec, taken: _Footprints, out: list) -> None:
    left, right = spec.road
    for _ in range(int(rng.poisson(2.5))):
        lane = int(rng.integers(spec.lanes))
        kind = str(rng.choice(['car', 'truck', 'bus'], p=[0.8, 0.1, 0.1]))
        x = left + (lane + 0.5) * spec.lane_width + rng.normal(0, 0.2)
        z = float(rng.uniform(6.0, 80.0))
        oncoming = lane < spec.oncoming
        ahead = left + lane * spec.lane_width <= 0 < left + (lane + 1) * spec.lane_width
        speed = spec.ego_speed * (-rng.uniform(0.5, 1.2) if oncoming else
                                  rng.uniform(1.0, 1.3) if ahead else rng.uniform(0.6, 1.1))
        thing = _vehicle(rng, kind, x, z, 'front' if oncoming else 'rear', speed)
        w, length = thing.params['w'], thing.params['l']
        if taken.take(x - w / 2, x + w / 2, z, z + length, margin=1.0):
            out.append(thing)
    for sign, edge in ((-1, left), (1, right)):
        if rng.random() > 0.5:
            continue
        z = float(rng.uniform(2.0, 15.0))
        for _ in range(int(rng.integers(1, 7))):
            thing = _vehicle(rng, 'car', 0.0, z, 'rear', 0.0)
            w = thing.params['w']
            thing.x = edge - sign * (w / 2 + rng.uniform(0.1, 0.4))
            if taken.take(thing.x - w / 2, thing.x + w / 2, z, z + thing.params['l']):
                out.append(thing)
            z += thing.params['l'] + float(rng.uniform(0.6, 4.0))


def _people(rng, spec, out: list) -> None:
    left, right = spec.road
    for side, edge in zip(spec.sides, (left, right)):
        if side.walk <= 0:
            continue
        for _ in range(int(rng.poisson(2.0))):
            x = edge + side.sign * rng.uniform(0.3, max(side.walk - 0.3, 0.4))
            params = {'height': float(rng.uniform(1.5, 1.95)), 'pose': float(rng.uniform(-1, 1)),
                      'facing': str(rng.choice(['front', 'back', 'side']))}
            out.append(Thing('person', x, float(rng.uniform(3.0, 50.0)), _seed(rng), 0.0,
                             params, {PERSON: 0}))
    if spec.marks['crosswalk'] is not None and rng.random() < 0.6:
        for _ in range(int(rng.integers(1, 4))):
            params = {'height': float(rng.uniform(1.5, 1.95)), 'pose': float(rng.uniform(-1, 1)),
                      'facing': 'side'}
            out.append(Thing('person', float(rng.uniform(left + 0.5, right - 0.5)),
                             spec.marks['crosswalk'] + float(rng.uniform(0.5, 3.0)),
                             _seed(rng), 0.0, params, {PERSON: 0}))
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            motor = rng.random() < 0.25
            x = right - rng.uniform(0.5, 1.2) if rng.random() < 0.7 else \
                float(rng.uniform(left + 0.5, right - 0.5))
            params = {'view': float(rng.uniform(0.12, 0.45)), 'dir': 1, 'motor': bool(motor),
                      'rider': True}
            out.append(Thing('bicycle', x, float(rng.uniform(4.0, 40.0)), _seed(rng),
                             spec.ego_speed * rng.uniform(0.3, 0.8), params,
                             {MOTORCYCLE if motor else BICYCLE: 0, RIDER: 0}))
    if rng.random() < 0.3:
        side = spec.sides[int(rng.integers(2))]
        edge = spec.road[side.sign > 0]
        params = {'view': float(rng.uniform(0.5, 1.0)), 'dir': int(rng.choice([-1, 1])),
                  'motor': False, 'rider': False}
        out.append(Thing('bicycle', edge + side.sign * rng.uniform(0.4, 1.0),
                         float(rng.uniform(4.0, 30.0)), _seed(rng), 0.0, params, {BICYCLE: 0}))


def _furniture(rng, spec, out: list) -> None:
    left, right = spec.road
    for side, edge in zip(spec.sides, (left, right)):
        toward = -side.sign
        if rng.random() < 0.7:  # street lamps
            z, step = float(rng.uniform(3.0, 20.0)), float(rng.uniform(16.0, 35.0))
            x = edge + side.sign * rng.uniform(0.3, 0.7)
            while z < 140.0:
                out.append(Thing('lamp', x, z, _seed(rng), 0.0,
                                 {'height': float(rng.uniform(5.0, 9.0)), 'toward': toward}))
                z += step
        if rng.random() < 0.6:  # a row of trees
            z, step = float(rng.uniform(3.0, 14.0)), float(rng.uniform(6.0, 14.0))
            offset = side.walk + side.verge / 2 if side.verge > 1.2 else max(side.walk - 0.7, 0.4)
            while z < 110.0:
                if rng.random() < 0.8:
                    out.append(Thing('tree', edge + side.sign * offset, z, _seed(rng), 0.0,
                                     {'scale': float(rng.uniform(0.7, 1.3))}))
                z += step
        if rng.random() < 0.3:
            out.append(Thing('bin', edge + side.sign * rng.uniform(0.3, max(side.walk, 0.5)),
                             float(rng.uniform(3.0, 30.0)), _seed(rng), 0.0, {}))
    for _ in range(1 + int(rng.poisson(1.2))):
        sign = int(rng.choice([-1, 1]))
        edge = right if sign > 0 else left
        out.append(Thing('sign', edge + sign * rng.uniform(0.2, 0.8),
                         float(rng.uniform(5.0, 40.0)), _seed(rng), 0.0, {}))
    if rng.random() < 0.65:
        z = float(rng.uniform(10.0, 45.0))
        for sign, edge in ((1, right), (-1, left)):
            if rng.random() < 0.75:
                overhead = rng.random() < 0.4
                reach = float(rng.uniform(2.0, (right - left) * 0.7)) if overhead else 0.0
                out.append(Thing('light', edge + sign * rng.uniform(0.3, 0.8), z, _seed(rng),
                                 0.0, {'reach': -sign * reach, 'back': bool(rng.random() < 0.2)}))


def _anomalies(rng, spec, count: int, taken: _Footprints, out: list) -> None:
    from pixel_anomaly_ros.synthetic.anomalies import KINDS
    left, right = spec.road
    cam = spec.camera
    bottom = cam.height * (0.97 - (spec.hood['height'] if spec.hood else 0.0))
    z_min = cam.focal * cam.cam_h / max(bottom - cam.horizon, 1.0) + 0.3
    for _ in range(count):
        for _attempt in range(40):
            size = float(np.exp(rng.uniform(np.log(0.2), np.log(1.8))))
            aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.5))))
            z_max = min(70.0, cam.focal * size / max(3.0, 0.02 * cam.height))
            z = float(np.exp(rng.uniform(np.log(z_min), np.log(max(z_max, z_min + 1.0)))))
            if rng.random() < 0.85:
                x = float(rng.uniform(left + 0.3, right - 0.3))
            else:
                side = spec.sides[int(rng.integers(2))]
                edge = spec.road[side.sign > 0]
                x = edge + side.sign * rng.uniform(0.2, side.walk + side.verge + 0.5)
            w = size * aspect
            if taken.take(x - w / 2, x + w / 2, z - 0.3, z + 0.3 + w / 2, margin=0.3):
                out.append(Thing('anomaly', x, z, _seed(rng), 0.0,
                                 {'height': size, 'width': w, 'kind': str(rng.choice(KINDS))}))
                break


def place_things(rng: np.random.Generator, spec, anomalies: int = 0) -> list[Thing]:
    """
    Place the things of a street and number their instances.

    :param rng: random generator.
    :param spec: the :class:`~.scene.SceneSpec` being built (road, sides, camera).
    :param anomalies: number of anomaly objects to place.
    :return: the things, in placement order, with Cityscapes instance ids.
    """
    taken = _Footprints()
    out: list[Thing] = []
    _vehicles(rng, spec, taken, out)
    _people(rng, spec, out)
    _furniture(rng, spec, out)
    _anomalies(rng, spec, anomalies, taken, out)
    counts: dict[int, int] = {}
    for thing in out:
        for label in thing.instances:
            thing.instances[label] = label * 1000 + counts.get(label, 0)
            counts[label] = counts.get(label, 0) + 1
    return out
