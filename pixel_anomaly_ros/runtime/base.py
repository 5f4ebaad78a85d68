# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The runtime interface: an executor runs a bundle's stage graphs on one backend.

Values passed between stages stay in the backend's native type (torch tensors, ONNX Runtime
arrays, TensorRT device buffers); only the pipeline's ends convert to and from numpy, so a GPU
backend never copies intermediate maps to the host.
"""

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple

import numpy as np
from pixel_anomaly_ros.errors import PixelAnomalyError
from pixel_anomaly_ros.runtime.stage_timing import StageTimer


class BackendError(PixelAnomalyError, RuntimeError):
    """A backend cannot run here or cannot run this bundle; the message says what to do."""


def parse_device(device: str) -> Tuple[str, Optional[int]]:
    """
    Split a device string into its kind and index.

    :param device: ``cpu``, ``cuda`` or ``cuda:N``.
    :return: (``cpu`` or ``cuda``, N or None when no index was given).
    :raises BackendError: for anything else.
    """
    kind, colon, index = device.partition(':')
    if kind not in ('cpu', 'cuda') or (colon and (not index.isdigit() or kind == 'cpu')):
        raise BackendError(f'device {device!r} is not one of cpu, cuda, cuda:N')
    return kind, int(index) if index else None


class Executor(ABC):
    """Runs named stage graphs; subclasses wrap one inference runtime."""

    #: backend name, e.g. ``torch``.
    backend: str = ''
    #: device the graphs run on, e.g. ``cpu`` or ``cuda:0``.
    device: str = 'cpu'
    #: numeric precision, ``fp32`` or ``fp16``.
    precision: str = 'fp32'
    #: why ``backend: auto`` picked this executor (empty when chosen explicitly).
    chosen_because: str = ''
    #: keyword options :meth:`for_bundle` takes besides bundle, device and precision.
    OPTIONS: Tuple[str, ...] = ()
    #: why an option of another backend does not apply here, by option name.
    OPTION_NOTES: Dict[str, str] = {}

    @classmethod
    def for_bundle(cls, bundle, device: str, precision: str, **options) -> 'Executor':
        """
        Build the executor of a bundle.

        :param bundle: a loaded :class:`~pixel_anomaly_ros.bundle.Bundle`.
        :param device: ``cpu`` or ``cuda[:N]``.
        :param precision: ``fp32``, ``fp16`` or ``int8``.
        :param options: the names in :attr:`OPTIONS`.
        :return: the executor.
        :raises BackendError: when it cannot run here, with what to do instead.
        """
        raise NotImplementedError(f'{cls.__name__} is not a registered backend')

    @classmethod
    def auto_choice(cls, bundle, device: str, precision: str
                    ) -> Optional[Tuple[str, str]]:
        """
        Say whether ``backend: auto`` may run the bundle on this backend and device.

        :param bundle: the bundle.
        :param device: ``cpu`` or ``cuda[:N]`` (only offered when a GPU is usable).
        :param precision: the wished precision.
        :return: (precision it would run, reason) or None when it cannot run it here.
        """
        return None

    @property
    @abstractmethod
    def stages(self) -> Tuple[str, ...]:
        """Names of the stage graphs this executor can run, in run order."""

    @abstractmethod
    def run(self, stage: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """
        Run one stage graph.

        :param stage: stage name, one of :attr:`stages`.
        :param inputs: ``{input name: backend-native value}``.
        :return: ``{output name: backend-native value}``.
        """

    @abstractmethod
    def from_numpy(self, array: np.ndarray) -> Any:
        """Wrap or upload a numpy array as a backend-native value."""

    @abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """Return a backend-native value as a numpy array (float32 for float data)."""

    _host_image: Optional[np.ndarray] = None

    def image_input(self, image: np.ndarray) -> Any:
        """
        Turn a network-sized (H, W, 3) uint8 RGB image into the graphs' ``image`` input.

        The graphs take (1, 3, H, W) float32 in 0..255. By default the image goes in one pass
        into a reused host buffer wrapped by :meth:`from_numpy` (zero-copy for the CPU
        executors); GPU executors override this to upload the uint8 image (a quarter of the
        bytes) from pinned memory and convert it on the device.

        :param image: (H, W, 3) uint8 RGB at the network input size.
        :return: the backend-native image value, valid until the next call.
        """
        h, w = image.shape[:2]
        if self._host_image is None or self._host_image.shape[2:] != (h, w):
            self._host_image = np.empty((1, 3, h, w), dtype=np.float32)
        np.copyto(self._host_image[0], image.transpose(2, 0, 1), casting='unsafe')
        return self.from_numpy(self._host_image)

    def stage_timer(self):
        """Return a timer for one pipeline call (host clock, waiting at each stage's end)."""
        return StageTimer(self.synchronize)

    def synchronize(self) -> None:
        """Wait until queued work has finished (for asynchronous devices); no-op by default."""

    def close(self) -> None:
        """Release the executor's memory (GPU memory in particular); no-op by default."""

    def describe(self) -> Dict[str, str]:
        """Return backend, device and precision for logs, diagnostics and benchmarks."""
        info = {'backend': self.backend, 'device': self.device, 'precision': self.precision}
        if self.chosen_because:
            info['chosen_because'] = self.chosen_because
        return info
