# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Per-frame cost of the node's glue: decoding input messages, colouring and encoding outputs.

These are the costs the detector node adds around the pipeline, measured without DDS
(publishing itself is measured by the transport benchmarks).
"""

import statistics
import time
from typing import Callable, Dict

import numpy as np
from pixel_anomaly_ros.ros.conversions import (
    compressed_to_rgb, image_to_rgb, numpy_to_compressed, numpy_to_image)
from pixel_anomaly_ros.visualisation import colour_train_ids, heatmap_bgr, overlay_bgr
from std_msgs.msg import Header


def measure_conversion_overhead(width: int, height: int, runs: int = 20,
                                seed: int = 0) -> Dict[str, object]:
    """
    Time every conversion of one frame at one resolution on this machine.

    Outputs are coloured into preallocated arrays, as the node does; inputs are random images
    (the JPEG, quality 90, holds a noisy ramp: about 0.25 byte per pixel, like a camera frame).

    :param width: image width in pixels.
    :param height: image height in pixels.
    :param runs: timed calls of each conversion, after one untimed call.
    :param seed: seed of the random inputs.
    :return: ``{'width', 'height', 'runs', 'jpeg_bytes', 'median_ms': {conversion: ms}}``.
    """
    rng = np.random.default_rng(seed)
    header = Header(frame_id='camera')
    rgb = rng.integers(0, 256, (height, width, 3), np.uint8)
    score = rng.random((height, width), dtype=np.float32)
    mask = score > 0.9
    train_ids = rng.integers(0, 19, (height, width), np.uint8)
    ramp = np.add.outer(np.linspace(0, 127, height), np.linspace(0, 127, width))[..., None]
    camera_like = (ramp + rng.normal(0, 8, rgb.shape)).clip(0, 255).astype(np.uint8)
    rgb_msg = numpy_to_image(rgb, 'rgb8', header)
    bgr_msg = numpy_to_image(rgb[..., ::-1], 'bgr8', header)
    jpeg_msg = numpy_to_compressed(camera_like, 'jpeg', header)
    colours, heat, overlay = (np.empty_like(rgb) for _ in range(3))
    jobs: Dict[str, Callable[[], object]] = {
        'decode_rgb8': lambda: image_to_rgb(rgb_msg),
        'decode_bgr8': lambda: image_to_rgb(bgr_msg),
        'decode_jpeg': lambda: compressed_to_rgb(jpeg_msg),
        'colour_train_ids': lambda: colour_train_ids(train_ids, out=colours),
        'heatmap_bgr': lambda: heatmap_bgr(score, out=heat),
        'overlay_bgr': lambda: overlay_bgr(rgb, score, mask, out=overlay),
        'encode_score_32FC1': lambda: numpy_to_image(score, '32FC1', header),
        # the mask is bool: scaling it to 0/255 is part of publishing it
        'encode_mask_mono8': lambda: numpy_to_image(mask.view(np.uint8) * np.uint8(255),
                                                    'mono8', header),
        'encode_labels_mono8': lambda: numpy_to_image(train_ids, 'mono8', header),
        'encode_color_rgb8': lambda: numpy_to_image(colours, 'rgb8', header),
        'encode_heatmap_bgr8': lambda: numpy_to_image(heat, 'bgr8', header),
        'encode_overlay_bgr8': lambda: numpy_to_image(overlay, 'bgr8', header),
    }
    return {'width': width, 'height': height, 'runs': runs, 'jpeg_bytes': len(jpeg_msg.data),
            'median_ms': {name: _median_ms(job, runs) for name, job in jobs.items()}}


def _median_ms(job: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls after one warm-up call, in milliseconds."""
    job()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return round(1e3 * statistics.median(times), 3)
