# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Label ids, camera geometry and drawing surfaces of the synthetic street world.

Label values are Cityscapes label ids (``cityscapesScripts/helpers/labels.py``); train ids are
derived from them with the official mapping. World coordinates are metres: ``x`` to the right,
``y`` up from the ground, ``z`` forward from the camera.
"""

from dataclasses import dataclass

import cv2
import numpy as np

# Cityscapes label ids used by the generator.
EGO_VEHICLE, STATIC = 1, 4
ROAD, SIDEWALK, BUILDING, WALL, FENCE = 7, 8, 11, 12, 13
POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = 17, 19, 20, 21, 22, 23
PERSON, RIDER, CAR, TRUCK, BUS, MOTORCYCLE, BICYCLE = 24, 25, 26, 27, 28, 32, 33
#: Internal label of pasted anomaly pixels (no Cityscapes id; train id 255).
ANOMALY = 250
#: Cityscapes classes with instances (``hasInstances``): person .. bicycle.
THING_LABEL_IDS = (24, 25, 26, 27, 28, 29, 30, 31, 32, 33)
#: Cityscapes label id of each of the 19 train ids.
TRAIN_ID_TO_LABEL_ID = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
#: Label id -> train id (255 for void ids and :data:`ANOMALY`).
LABEL_TO_TRAIN_ID = np.full(256, 255, np.uint8)
LABEL_TO_TRAIN_ID[list(TRAIN_ID_TO_LABEL_ID)] = np.arange(19, dtype=np.uint8)
CLASS_NAMES = {
    EGO_VEHICLE: 'ego vehicle', STATIC: 'static', ROAD: 'road', SIDEWALK: 'sidewalk',
    BUILDING: 'building', WALL: 'wall', FENCE: 'fence', POLE: 'pole',
    TRAFFIC_LIGHT: 'traffic light', TRAFFIC_SIGN: 'traffic sign', VEGETATION: 'vegetation',
    TERRAIN: 'terrain', SKY: 'sky', PERSON: 'person', RIDER: 'rider', CAR: 'car',
    TRUCK: 'truck', BUS: 'bus', MOTORCYCLE: 'motorcycle', BICYCLE: 'bicycle',
    ANOMALY: 'anomaly'}


@dataclass(frozen=True)
class Camera:
    """A level pinhole camera ``cam_h`` metres above a flat ground, looking along +z."""

    height: int
    width: int
    focal: float
    horizon: float
    cx: float
    cam_h: float

    def project(self, x, y, z):
        """
        Project world points into the image.

        :param x: lateral position (m), scalar or array.
        :param y: height above the ground (m).
        :param z: distance ahead of the camera (m), positive.
        :return: ``(u, v)`` image column and row (pixels, float).
        """
        z = np.maximum(z, 1e-3)
        return self.cx + self.focal * x / z, self.horizon + self.focal * (self.cam_h - y) / z

    def scale(self, z: float) -> float:
        """Return pixels per metre at distance ``z``."""
        return self.focal / max(z, 1e-3)


class Canvas:
    """Float RGB image with its Cityscapes label ids and instance ids, painted back to front."""

    def __init__(self, height: int, width: int):
        """
        Create an empty canvas.

        :param height: rows.
        :param width: columns.
        """
        self.image = np.zeros((height, width, 3), np.float32)
        self.labels = np.zeros((height, width), np.uint8)
        self.instances = np.zeros((height, width), np.uint16)

    @property
    def shape(self) -> tuple[int, int]:
        """Return ``(height, width)``."""
        return self.labels.shape

    def fill(self, mask: np.ndarray, color, label: int, instance: int | None = None,
             box=np.s_[:, :]) -> None:
        """
        Paint pixels of the whole frame or of a rectangle.

        :param mask: bool mask of the frame (or of ``box``).
        :param color: (3,) colour or per-pixel colours of the mask's shape.
        :param label: label id.
        :param instance: instance id; default the label id.
        :param box: ``(rows, columns)`` slices the mask refers to.
        """
        color = np.asarray(color, np.float32)
        self.image[box][mask] = color[mask] if color.ndim == 3 else color
        self.labels[box][mask] = label
        self.instances[box][mask] = label if instance is None else instance

    def paste(self, sprite: 'Sprite') -> np.ndarray:
        """
        Paint the drawn pixels of a sprite.

        :param sprite: a sprite created for this canvas.
        :return: (h, w) bool mask of the painted pixels, in the sprite's frame.
        """
        if sprite.empty:
            return np.zeros((0, 0), bool)
        box = np.s_[sprite.y0:sprite.y1, sprite.x0:sprite.x1]
        drawn = sprite.labels > 0
        self.image[box][drawn] = sprite.rgb[drawn]
        self.labels[box][drawn] = sprite.labels[drawn]
        self.instances[box][drawn] = sprite.instances[drawn]
        return drawn


class Sprite:
    """
    Local drawing surface for one object, clipped to the canvas.

    Shapes are given in canvas pixel coordinates (floats; drawn with 4 fractional bits). Each
    shape paints colour, the current label and the current instance id (:meth:`use`).
    """

    SHIFT = 4

    def __init__(self, shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float):
        """
        Allocate the surface covering ``[x0, x1) x [y0, y1)`` of a canvas.

        :param shape: ``(height, width)`` of the canvas.
        :param x0: left edge (pixels).
        :param y0: top edge.
        :param x1: right edge.
        :param y1: bottom edge.
        """
        h, w = shape
        self.x0, self.y0 = int(np.clip(np.floor(x0), 0, w)), int(np.clip(np.floor(y0), 0, h))
        self.x1, self.y1 = int(np.clip(np.ceil(x1), 0, w)), int(np.clip(np.ceil(y1), 0, h))
        self.empty = self.x1 <= self.x0 or self.y1 <= self.y0
        size = (max(self.y1 - self.y0, 0), max(self.x1 - self.x0, 0))
        self.rgb = np.zeros(size + (3,), np.float32)
        self.labels = np.zeros(size, np.uint8)
        self.instances = np.zeros(size, np.uint16)
        self.label, self.instance = 0, 0

    def use(self, label: int, instance: int | None = None) -> 'Sprite':
        """
        Set the label and instance id of the next shapes.

        :param label: label id (non-zero).
        :param instance: instance id; default the label id.
        :return: this sprite.
        """
        self.label, self.instance = label, label if instance is None else instance
        return self

    def _fixed(self, pts) -> np.ndarray:
        pts = np.asarray(pts, np.float64).reshape(-1, 2) - (self.x0, self.y0)
        return np.round(pts * (1 << self.SHIFT)).astype(np.int32)

    def _targets(self, color):
        color = tuple(float(c) for c in np.broadcast_to(color, 3))
        return ((self.rgb, color), (self.labels, self.label), (self.instances, self.instance))

    def poly(self, pts, color) -> None:
        """
        Fill a polygon.

        :param pts: (N, 2) vertices ``(u, v)``.
        :param color: RGB colour.
        """
        if self.empty:
            return
        fixed = [self._fixed(pts)]
        for target, value in self._targets(color):
            cv2.fillPoly(target, fixed, value, cv2.LINE_8, self.SHIFT)

    def ellipse(self, center, axes, color, angle: float = 0.0, thickness: float = -1) -> None:
        """
        Draw a filled (``thickness < 0``) or outlined ellipse.

        :param center: ``(u, v)``.
        :param axes: half axes ``(a, b)`` in pixels.
        :param color: RGB colour.
        :param angle: rotation in degrees.
        :param thickness: outline width in pixels, or negative to fill.
        """
        if self.empty:
            return
        c = tuple(int(v) for v in self._fixed(center)[0])
        ax = tuple(int(round(max(a, 0.25) * (1 << self.SHIFT))) for a in axes)
        width = -1 if thickness < 0 else max(1, int(round(thickness)))
        for target, value in self._targets(color):
            cv2.ellipse(target, c, ax, angle, 0, 360, value, width, cv2.LINE_8, self.SHIFT)

    def line(self, p0, p1, color, thickness: float) -> None:
        """
        Draw a thick line segment.

        :param p0: ``(u, v)`` start.
        :param p1: ``(u, v)`` end.
        :param color: RGB colour.
        :param thickness: width in pixels (at least 1).
        """
        if self.empty:
            return
        a, b = (tuple(int(v) for v in self._fixed(p)[0]) for p in (p0, p1))
        width = max(1, int(round(thickness)))
        for target, value in self._targets(color):
            cv2.line(target, a, b, value, width, cv2.LINE_8, self.SHIFT)

    def texture(self, field: np.ndarray, strength: float, label: int | None = None) -> None:
        """
        Modulate the brightness of drawn pixels by a noise field.

        :param field: (h, w) zero-mean field the size of the sprite.
        :param strength: relative amplitude.
        :param label: only pixels of this label; ``None``: all drawn pixels.
        """
        if self.empty:
            return
        gain = 1.0 + strength * field
        if label is not None:
            gain = np.where(self.labels == label, gain, 1.0)
        self.rgb *= gain[..., None]
