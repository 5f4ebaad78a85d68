# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Noise fields, colour palettes and the camera finish (lighting, noise, blur) of synthetic scenes.

Everything is vectorised with numpy and OpenCV; randomness comes only from the generator passed
in, so a scene is reproducible from its seed.
"""

from dataclasses import dataclass

import cv2
import numpy as np

# Base colours (RGB) per material; a colour is drawn from a palette and jittered.
PALETTES = {
    'asphalt': [(88, 88, 92), (72, 74, 78), (104, 100, 96), (62, 62, 68), (118, 116, 112)],
    'pavement': [(156, 154, 148), (172, 162, 142), (150, 114, 104), (128, 130, 134),
                 (186, 180, 170)],
    'grass': [(104, 128, 62), (86, 108, 54), (146, 140, 88), (122, 100, 74), (120, 136, 80)],
    'foliage': [(58, 96, 40), (78, 118, 44), (46, 78, 36), (100, 124, 52), (70, 100, 64)],
    'facade': [(196, 184, 160), (160, 86, 70), (150, 150, 150), (222, 214, 200),
               (128, 106, 88), (182, 160, 120), (110, 116, 126), (204, 170, 140)],
    'window': [(44, 54, 66), (70, 86, 104), (30, 34, 40), (96, 112, 126)],
    'concrete': [(150, 148, 140), (126, 124, 120), (170, 160, 146), (140, 104, 84)],
    'metal': [(90, 94, 96), (60, 64, 62), (40, 60, 48), (130, 132, 134), (30, 30, 32)],
    'car': [(230, 230, 232), (170, 172, 176), (28, 28, 32), (80, 82, 88), (160, 30, 30),
            (30, 60, 140), (20, 34, 70), (40, 90, 60), (210, 180, 40), (120, 40, 40)],
    'cloth': [(30, 30, 36), (60, 70, 110), (140, 30, 30), (200, 200, 200), (90, 90, 90),
              (40, 80, 50), (180, 140, 60), (100, 60, 120), (20, 40, 80)],
    'skin': [(224, 180, 150), (190, 140, 110), (140, 96, 70), (96, 64, 48)],
    'sky_zenith': [(70, 120, 200), (96, 140, 206), (150, 160, 176), (110, 130, 170)],
    'sky_horizon': [(190, 210, 232), (214, 220, 226), (200, 196, 190), (230, 200, 170)],
}


def noise(rng: np.random.Generator, shape: tuple[int, int], cell: float,
          octaves: int = 3) -> np.ndarray:
    """
    Make smooth multi-octave value noise.

    :param rng: random generator.
    :param shape: ``(h, w)``.
    :param cell: feature size of the coarsest octave in pixels.
    :param octaves: number of octaves, each half the size and amplitude of the previous.
    :return: (h, w) float32 field with zero mean and unit standard deviation.
    """
    h, w = max(int(shape[0]), 1), max(int(shape[1]), 1)
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for _ in range(octaves):
        gh, gw = int(np.ceil(h / cell)) + 1, int(np.ceil(w / cell)) + 1
        small = rng.standard_normal((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= 0.5
        cell = max(cell / 2.0, 1.0)
    out -= out.mean()
    return out / max(float(out.std()), 1e-6)


def tile(rng: np.random.Generator, size: int = 128, cell: float = 16.0,
         octaves: int = 3) -> np.ndarray:
    """
    Make a periodic noise tile for sampling in world coordinates.

    :param rng: random generator.
    :param size: tile side in texels.
    :param cell: coarsest feature size in texels (rounded so it divides the tile).
    :param octaves: number of octaves.
    :return: (size, size) float32 field with zero mean and unit standard deviation, periodic.
    """
    out = np.zeros((size, size), np.float32)
    amp, n = 1.0, max(2, int(round(size / cell)))
    for _ in range(octaves):
        small = rng.standard_normal((n, n)).astype(np.float32)
        wrapped = np.pad(small, 2, mode='wrap')
        step = size / n
        big = cv2.resize(wrapped, (int(round((n + 4) * step)),) * 2,
                         interpolation=cv2.INTER_CUBIC)
        k = int(round(2 * step))
        out += amp * big[k:k + size, k:k + size]
        amp, n = amp * 0.5, min(n * 2, size)
    out -= out.mean()
    return out / max(float(out.std()), 1e-6)


def sample(field: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """
    Sample a periodic tile at texel coordinates (wrapping around).

    :param field: (n, n) tile.
    :param u: column coordinates (any shape).
    :param v: row coordinates (same shape).
    :return: sampled values, shape of ``u``.
    """
    n_v, n_u = field.shape
    u, v = np.broadcast_arrays(u, v)
    map_u = np.mod(u, n_u).astype(np.float32)
    map_v = np.mod(v, n_v).astype(np.float32)
    out = cv2.remap(field, map_u.reshape(map_u.shape[0], -1), map_v.reshape(map_u.shape[0], -1),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return out.reshape(u.shape)


def color(rng: np.random.Generator, palette: str, spread: float = 14.0) -> np.ndarray:
    """
    Draw a colour from a named palette with a random brightness and hue jitter.

    :param rng: random generator.
    :param palette: key of :data:`PALETTES`.
    :param spread: standard deviation of the per-channel jitter.
    :return: (3,) float32 RGB in [0, 255].
    """
    base = np.asarray(PALETTES[palette][rng.integers(len(PALETTES[palette]))], np.float32)
    out = base * rng.uniform(0.85, 1.15) + rng.normal(0.0, spread, 3)
    return np.clip(out, 0, 255).astype(np.float32)


def random_color(rng: np.random.Generator, saturation=(0.3, 1.0), value=(0.2, 1.0)) -> np.ndarray:
    """
    Draw a colour uniformly in hue with saturation and value in the given ranges.

    :param rng: random generator.
    :param saturation: HSV saturation range in [0, 1].
    :param value: HSV value range in [0, 1].
    :return: (3,) float32 RGB in [0, 255].
    """
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255,
                      rng.uniform(*value) * 255]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


@dataclass(frozen=True)
class Finish:
    """Lighting and sensor parameters applied to a rendered scene (:func:`apply_finish`)."""

    gain: float
    tint: tuple[float, float, float]
    gamma: float
    shading: float
    vignette: float
    blur: float
    noise: float
    chroma_noise: float
    seed: int


def sample_finish(rng: np.random.Generator, width: int) -> Finish:
    """
    Draw random lighting (brightness, colour temperature, gamma) and sensor parameters.

    :param rng: random generator.
    :param width: image width; blur scales with it (parameters are tuned at 512 columns).
    :return: the finish.
    """
    temperature = rng.normal(0.0, 0.06)  # > 0 warm, < 0 cold
    tint = (1.0 + temperature, 1.0 + 0.2 * rng.normal(0.0, 0.03), 1.0 - temperature)
    blur = rng.choice([0.0, rng.uniform(0.3, 1.3)], p=[0.3, 0.7]) * width / 512
    return Finish(gain=float(rng.uniform(0.6, 1.25)), tint=tuple(float(t) for t in tint),
                  gamma=float(rng.uniform(0.8, 1.25)), shading=float(rng.uniform(0.0, 0.18)),
                  vignette=float(rng.uniform(0.0, 0.35)), blur=float(blur),
                  noise=float(rng.uniform(1.0, 7.0)), chroma_noise=float(rng.uniform(0.0, 3.0)),
                  seed=int(rng.integers(2 ** 31)))


def apply_finish(image: np.ndarray, finish: Finish, frame: int = 0) -> np.ndarray:
    """
    Apply lighting, vignetting, blur and sensor noise to a rendered image.

    :param image: (H, W, 3) float32 RGB in [0, 255].
    :param finish: parameters from :func:`sample_finish`.
    :param frame: frame number of a sequence (changes the sensor noise only).
    :return: (H, W, 3) uint8 RGB.
    """
    h, w = image.shape[:2]
    rng = np.random.default_rng([finish.seed, 0])
    light = 1.0 + finish.shading * noise(rng, (h, w), cell=w / 3, octaves=2)
    yy, xx = np.ogrid[0:h, 0:w]
    radius = (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2).astype(np.float32)
    light *= 1.0 - finish.vignette * 0.25 * radius
    out = image * (light[..., None] * finish.gain * np.asarray(finish.tint, np.float32))
    out = 255.0 * np.clip(out / 255.0, 0.0, 1.0) ** finish.gamma
    if finish.blur > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), finish.blur)
    rng = np.random.default_rng([finish.seed, 1, frame])
    grain = rng.standard_normal((h, w, 1), np.float32) * finish.noise
    grain = grain + rng.standard_normal((h, w, 3), np.float32) * finish.chroma_noise
    return np.clip(np.rint(out + grain), 0, 255).astype(np.uint8)
