# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Colour images for people: semantic colours, anomaly heatmap and overlay on the camera image.

Every colouring is one 256-entry lookup table applied by OpenCV (no Python loops over pixels),
and every function takes an optional preallocated ``out`` so that a node can reuse its buffers
frame after frame. Inputs must share one resolution (:mod:`pixel_anomaly_ros.resizing` brings
maps to the camera resolution or back).
"""

from typing import Optional

import cv2
import numpy as np

#: Cityscapes train-id class names, in train-id order.
CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                      'truck', 'bus', 'train', 'motorcycle', 'bicycle')

#: Official Cityscapes colours (RGB) of the 19 train ids; other ids (e.g. 255, void) are black.
CITYSCAPES_PALETTE = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32)], dtype=np.uint8)
CITYSCAPES_PALETTE.flags.writeable = False

#: OpenCV colormap of the anomaly heatmap (perceptually uniform, black at 0, yellow at 1).
HEATMAP_COLORMAP = cv2.COLORMAP_INFERNO
_HEATMAP_LUT = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], HEATMAP_COLORMAP)


def palette_lut(palette: np.ndarray) -> np.ndarray:
    """
    Build the 256-entry lookup table of a palette, for :func:`colour_train_ids`.

    :param palette: (N, 3) uint8 colours of ids 0..N-1, N <= 256.
    :return: (256, 1, 3) uint8 table; ids without a colour map to black.
    :raises ValueError: for a palette of the wrong shape.
    """
    palette = np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) > 256:
        raise ValueError(f'palette must be (N <= 256, 3), got {palette.shape}')
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[:len(palette), 0] = palette
    lut.flags.writeable = False
    return lut


_CITYSCAPES_LUT = palette_lut(CITYSCAPES_PALETTE)


def colour_train_ids(train_ids: np.ndarray, out: Optional[np.ndarray] = None,
                     lut: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Colour a map of train ids.

    :param train_ids: (H, W) uint8 train ids (other integer types are cast to uint8).
    :param out: (H, W, 3) uint8 array to write into, or None for a new one.
    :param lut: table from :func:`palette_lut`; None for :data:`CITYSCAPES_PALETTE`.
    :return: (H, W, 3) uint8 colours, in the channel order of the palette (RGB); ``out`` if given.
    """
    if train_ids.dtype != np.uint8:
        train_ids = train_ids.astype(np.uint8)
    return cv2.applyColorMap(train_ids, _CITYSCAPES_LUT if lut is None else lut, dst=out)


def quantise_score(score: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Map a score in [0, 1] to 0..255 levels (rounded; values outside and NaN are clipped).

    :param score: (H, W) float32 score.
    :param out: (H, W) uint8 array to write into, or None for a new one.
    :return: (H, W) uint8 levels; ``out`` if given.
    """
    if not score.min() >= 0.0:  # rare (negative or NaN): clip, convertScaleAbs folds negatives
        _, score = cv2.threshold(score, 0.0, 0.0, cv2.THRESH_TOZERO)
    return cv2.convertScaleAbs(score, dst=out, alpha=255.0)  # saturates at 255, NaN -> 0


def heatmap_bgr(score: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Colour a score in [0, 1] with :data:`HEATMAP_COLORMAP`.

    :param score: (H, W) float32 score.
    :param out: (H, W, 3) uint8 array to write into, or None for a new one.
    :return: (H, W, 3) uint8 BGR heatmap; ``out`` if given.
    """
    return cv2.applyColorMap(quantise_score(score), _HEATMAP_LUT, dst=out)


def overlay_bgr(image_rgb: np.ndarray, score: np.ndarray, mask: Optional[np.ndarray] = None,
                alpha: float = 0.5, out: Optional[np.ndarray] = None,
                heatmap: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Blend the heatmap into the camera image where the mask is set.

    :param image_rgb: (H, W, 3) uint8 RGB camera image.
    :param score: (H, W) float32 score in [0, 1].
    :param mask: (H, W) bool or uint8 anomaly mask: the heatmap is blended with weight
        ``alpha`` where it is non-zero. None blends everywhere with weight ``alpha * score``.
    :param alpha: weight of the heatmap, 0..1.
    :param out: (H, W, 3) uint8 array to write into, or None for a new one.
    :param heatmap: :func:`heatmap_bgr` of ``score`` when it is already computed (with a mask
        it is overwritten by the blend).
    :return: (H, W, 3) uint8 BGR overlay; ``out`` if given.
    :raises ValueError: if the inputs do not share one resolution.
    """
    size = image_rgb.shape[:2]
    if score.shape != size or (mask is not None and mask.shape != size):
        raise ValueError(f'image {image_rgb.shape}, score {score.shape} and mask '
                         f'{None if mask is None else mask.shape} must share (H, W)')
    out = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR, dst=out)
    heat = heatmap_bgr(score) if heatmap is None else heatmap
    if mask is None:
        weight = np.multiply(score, np.float32(alpha), dtype=np.float32)
        return cv2.blendLinear(out, heat, 1.0 - weight, weight, dst=out)
    cv2.addWeighted(out, 1.0 - alpha, heat, alpha, 0.0, dst=heat)
    return cv2.copyTo(heat, mask.view(np.uint8) if mask.dtype == np.bool_ else mask, out)


def draw_outline(image_bgr: np.ndarray, mask: np.ndarray, colour=(255, 255, 0),
                 thickness: int = 2) -> np.ndarray:
    """
    Draw the outline of a mask's regions onto a BGR image, in place.

    :param image_bgr: (H, W, 3) uint8 BGR image.
    :param mask: (H, W) bool or uint8 mask of the same size.
    :param colour: BGR colour of the outline (default cyan).
    :param thickness: line width in pixels.
    :return: ``image_bgr``.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return cv2.drawContours(image_bgr, contours, -1, colour, thickness, cv2.LINE_AA)


def colour_bar_bgr(height: int, width: int = 56, threshold: Optional[float] = None,
                   colour=(255, 255, 0)) -> np.ndarray:
    """
    Draw a vertical colour bar of the heatmap: score 1 at the top, 0 at the bottom, labelled.

    :param height: bar height in pixels (the image it stands beside).
    :param width: bar width in pixels, labels included.
    :param threshold: a mask threshold to mark with a line in ``colour`` (None: no mark).
    :param colour: BGR colour of the threshold mark.
    :return: (height, width, 3) uint8 BGR image on black.
    """
    bar = np.zeros((height, width, 3), np.uint8)
    margin = min(8, height // 8)
    inner = max(1, height - 2 * margin)
    levels = np.linspace(1.0, 0.0, inner, dtype=np.float32)[:, None]
    strip = max(4, width // 4)
    bar[margin:margin + inner, 2:2 + strip] = heatmap_bgr(np.repeat(levels, strip, axis=1))
    scale = max(0.3, min(0.45, height / 600))
    for value in (1.0, 0.5, 0.0):
        y = margin + int(round((1.0 - value) * (inner - 1)))
        cv2.putText(bar, f'{value:g}', (strip + 5, min(height - 2, y + 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    if threshold is not None:
        y = margin + int(round((1.0 - float(np.clip(threshold, 0.0, 1.0))) * (inner - 1)))
        cv2.line(bar, (0, y), (strip + 3, y), colour, 2)
    return bar
