# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A camera-like finish for synthetic scenes: ``synth --realism camera`` (off by default).

The default finish (:func:`textures.apply_finish`) lights a scene gently: a gain, a tint, a
little blur and Gaussian grain. Street photos differ from it in ways a network trained only on
the synthetic world has never seen (issue 15), so this optional second pass, applied to the
finished 8-bit image, draws per image:

* **exposure** from -1 to +1 stop with a filmic highlight shoulder (bright skies clip);
* **white balance** off by up to ±25 % per channel (warm, cold, green casts);
* **lens**: cos⁴-like vignetting, lateral chromatic aberration (red and blue scaled apart),
  defocus (Gaussian) or **motion blur** (a line kernel in a random direction);
* **sensor**: signal-dependent shot noise plus read noise, on a Bayer-like per-channel basis;
* **JPEG** compression at quality 30-95 (blocks and ringing), as most logged streams carry.

Randomness comes from its own generator (seeded per image apart from the scene's), so the
scene content, labels and default files of a seed stay what they are; ``--realism camera``
changes only the pixels of the images. The same seed and arguments give identical bytes.
"""

from dataclasses import dataclass

import cv2
import numpy as np

#: ``synth --realism`` choices: ``none`` (default, the world as before) and ``camera``.
REALISM = ('none', 'camera')


@dataclass(frozen=True)
class CameraLook:
    """Photometric parameters of one image (:func:`sample_camera`)."""

    exposure: float
    white_balance: tuple
    vignette: float
    aberration: float
    defocus: float
    motion_length: float
    motion_angle: float
    shot_noise: float
    read_noise: float
    jpeg_quality: int
    seed: int


def sample_camera(rng: np.random.Generator, width: int) -> CameraLook:
    """
    Draw the photometric parameters of one image.

    :param rng: random generator (its own stream, not the scene's).
    :param width: image width; blur and aberration scale with it (tuned at 512 columns).
    :return: the parameters.
    """
    scale = width / 512.0
    motion = rng.random() < 0.3
    return CameraLook(
        exposure=float(rng.uniform(-1.0, 1.0)),
        white_balance=tuple(float(v) for v in np.exp(rng.normal(0.0, 0.1, 3)).clip(0.75, 1.25)),
        vignette=float(rng.uniform(0.0, 0.6)),
        aberration=float(rng.uniform(0.0, 1.5) * scale),
        defocus=0.0 if motion else float(rng.choice([0.0, rng.uniform(0.3, 1.8)]) * scale),
        motion_length=float(rng.uniform(2.0, 9.0) * scale) if motion else 0.0,
        motion_angle=float(rng.uniform(0.0, 180.0)),
        shot_noise=float(rng.uniform(0.0, 0.8)),
        read_noise=float(rng.uniform(0.5, 4.0)),
        jpeg_quality=int(rng.integers(30, 96)),
        seed=int(rng.integers(2 ** 31)))


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    size = max(3, int(np.ceil(length)) | 1)
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    for t in np.linspace(-length / 2, length / 2, 4 * size):
        kernel[int(round(c + t * dy)), int(round(c + t * dx))] = 1.0
    return kernel / kernel.sum()


def _aberration(image: np.ndarray, pixels: float) -> np.ndarray:
    """Scale the red and blue planes about the centre by ±``pixels`` at the corners."""
    h, w = image.shape[:2]
    out = image.copy()
    radius = np.hypot(h / 2, w / 2)
    for channel, sign in ((0, 1.0), (2, -1.0)):
        s = 1.0 + sign * pixels / radius
        m = np.float32([[s, 0, (1 - s) * w / 2], [0, s, (1 - s) * h / 2]])
        out[..., channel] = cv2.warpAffine(image[..., channel], m, (w, h),
                                           flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REFLECT)
    return out


def apply_camera(image: np.ndarray, look: CameraLook, frame: int = 0) -> np.ndarray:
    """
    Pass a finished image through the camera model.

    :param image: (H, W, 3) uint8 RGB (the output of :func:`textures.apply_finish`).
    :param look: parameters from :func:`sample_camera`.
    :param frame: frame number of a sequence (changes the sensor noise only).
    :return: (H, W, 3) uint8 RGB.
    """
    h, w = image.shape[:2]
    linear = (image.astype(np.float32) / 255.0) ** 2.2
    linear *= np.float32(2.0 ** look.exposure) * np.asarray(look.white_balance, np.float32)
    yy, xx = np.ogrid[0:h, 0:w]
    r2 = (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2) / 2.0
    linear *= (1.0 - look.vignette * (1.0 - 1.0 / (1.0 + r2) ** 2)).astype(np.float32)[..., None]
    if look.aberration > 0.05:
        linear = _aberration(linear, look.aberration)
    if look.motion_length > 0:
        linear = cv2.filter2D(linear, -1, _motion_kernel(look.motion_length, look.motion_angle),
                              borderType=cv2.BORDER_REFLECT)
    elif look.defocus > 0.05:
        linear = cv2.GaussianBlur(linear, (0, 0), look.defocus)
    shoulder = linear / (1.0 + 0.25 * linear)  # filmic roll-off, then clip
    out = 255.0 * np.clip(shoulder * 1.25, 0.0, 1.0) ** (1 / 2.2)
    rng = np.random.default_rng([look.seed, frame])
    sigma = np.sqrt(look.shot_noise * out + look.read_noise ** 2)
    out = np.clip(np.rint(out + sigma * rng.standard_normal(out.shape, np.float32)), 0, 255)
    out = out.astype(np.uint8)
    bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        return out
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
