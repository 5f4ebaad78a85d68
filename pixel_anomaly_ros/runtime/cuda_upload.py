# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Camera images onto the GPU: uint8 from pinned host memory, converted on the device.

A 2048x1024 float32 image is 25 MB per frame across PCIe; as uint8 it is 6 MB, and the
conversion to the graphs' (1, 3, H, W) float32 layout is one device kernel. All buffers are
allocated once per image size and reused, so a frame allocates nothing.
"""

import numpy as np
import torch


class PinnedImageUpload:
    """Reused pinned host, device uint8 and device float32 buffers for one image size."""

    def __init__(self, device: torch.device, channels_last: bool = False):
        """
        Prepare the upload (buffers are made on the first image).

        :param device: the CUDA device.
        :param channels_last: lay the float image out channels-last (for channels-last
            networks; the values are the same).
        """
        self.device = device
        self.channels_last = channels_last
        self._size = None

    def _allocate(self, height: int, width: int) -> None:
        self._pinned = torch.empty((height, width, 3), dtype=torch.uint8, pin_memory=True)
        self._pinned_view = self._pinned.numpy()
        self._uint8 = torch.empty((height, width, 3), dtype=torch.uint8, device=self.device)
        image = torch.empty((1, 3, height, width), dtype=torch.float32, device=self.device)
        self._float = image.to(memory_format=torch.channels_last) if self.channels_last \
            else image
        self._size = (height, width)

    def __call__(self, image: np.ndarray, stream=None) -> torch.Tensor:
        """
        Upload one image and convert it on the device.

        :param image: (H, W, 3) uint8 RGB.
        :param stream: the CUDA stream to queue the copy and conversion on (default: current).
        :return: (1, 3, H, W) float32 device tensor in 0..255, reused by the next call.
        """
        if self._size != image.shape[:2]:
            self._allocate(*image.shape[:2])
        # The previous frame's copy finished: the pipeline read its results since.
        np.copyto(self._pinned_view, image)
        with torch.cuda.stream(stream or torch.cuda.current_stream(self.device)):
            self._uint8.copy_(self._pinned, non_blocking=True)
            self._float[0].copy_(self._uint8.permute(2, 0, 1))
        return self._float
