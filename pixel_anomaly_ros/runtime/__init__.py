# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Inference backends behind one interface, chosen from a registry.

A backend is one executor module plus one entry in :data:`BACKENDS`. The module defines
``EXECUTOR``, a subclass of :class:`~pixel_anomaly_ros.runtime.base.Executor` that implements
``for_bundle`` (build it for a bundle) and ``auto_choice`` (whether ``auto`` may pick it); its
heavy imports happen only when the backend is used. The command line, the node's parameter
texts and ``auto`` all read the registry, so nothing else changes when a backend is added.
"""

import importlib
import logging
from typing import Tuple, Type

from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.runtime.base import BackendError, Executor

#: Backend name -> module of its executor, in the order ``auto`` prefers them on each device.
BACKENDS = {
    'tensorrt': 'pixel_anomaly_ros.runtime.tensorrt_executor',
    'onnxruntime': 'pixel_anomaly_ros.runtime.onnxruntime_executor',
    'torch': 'pixel_anomaly_ros.runtime.torch_executor',
}
#: What ``backend`` accepts: ``auto`` and every registered backend.
BACKEND_CHOICES = ('auto', *BACKENDS)
PRECISIONS = ('fp32', 'fp16', 'int8')
#: What ``precision`` accepts: ``auto`` (fp16 on a GPU, fp32 on the CPU, as far as the backend
#: runs it; int8 only when asked for) and every precision.
PRECISION_CHOICES = ('auto', *PRECISIONS)

__all__ = ['BACKEND_CHOICES', 'BACKENDS', 'BackendError', 'Executor', 'PRECISION_CHOICES',
           'PRECISIONS', 'auto_precision', 'choose_backend', 'create_executor', 'executor_class']

_log = logging.getLogger(__name__)


def executor_class(backend: str) -> Type[Executor]:
    """
    Import a backend's module and return its executor class.

    :param backend: a name in :data:`BACKENDS`.
    :return: the class.
    :raises BackendError: for an unknown name.
    """
    if backend not in BACKENDS:
        raise BackendError(f'unknown backend {backend!r}; use one of {list(BACKEND_CHOICES)}')
    return importlib.import_module(BACKENDS[backend]).EXECUTOR


def create_executor(bundle: Bundle, backend: str = 'torch', device: str = 'cpu',
                    precision: str = 'fp32', **options) -> Executor:
    """
    Create the executor of a bundle on one backend.

    :param bundle: a loaded bundle.
    :param backend: one of :data:`BACKEND_CHOICES`; ``auto`` picks the fastest one available
        (see :func:`choose_backend`) and logs the choice.
    :param device: ``cpu`` or ``cuda[:N]``; with ``auto``, ``cpu`` keeps it on the CPU.
    :param precision: one of :data:`PRECISION_CHOICES`.
    :param options: backend-specific options (see each executor's ``OPTIONS``, e.g. the torch
        backend's ``compile_mode`` and ``baselines``); options of other backends are refused
        unless unset (None or False).
    :return: the executor, ready to run.
    :raises BackendError: for an unknown backend, an option the backend does not have, or an
        unsupported device or precision.
    """
    if backend == 'auto':
        backend, device, precision, reason = choose_backend(bundle, device, precision)
        _log.info('backend auto: %s on %s %s (%s)', backend, device, precision, reason)
        executor = create_executor(bundle, backend, device, precision, **options)
        executor.chosen_because = reason
        return executor
    cls = executor_class(backend)
    if precision == 'auto':
        choice = cls.auto_choice(bundle, device, auto_precision(device))
        precision = choice[0] if choice else 'fp32'
    for name, value in options.items():
        if name not in cls.OPTIONS and value not in (None, False):
            owners = [b for b in BACKENDS if name in executor_class(b).OPTIONS]
            note = next((executor_class(b).OPTION_NOTES[name] for b in owners
                         if name in executor_class(b).OPTION_NOTES), '')
            raise BackendError(f'{name} applies to the {" or ".join(owners) or "no"} backend '
                               f'only, not {backend!r}' + (f' ({note})' if note else ''))
    return cls.for_bundle(bundle, device, precision,
                          **{n: v for n, v in options.items() if n in cls.OPTIONS
                             and v is not None})


def auto_precision(device: str) -> str:
    """
    Return the precision ``auto`` wishes for on a device: fp16 on a GPU, fp32 on the CPU.

    :param device: ``cpu`` or ``cuda[:N]``.
    :return: ``fp16`` or ``fp32``.
    """
    return 'fp16' if device.startswith('cuda') else 'fp32'


def choose_backend(bundle: Bundle, device: str = 'auto', precision: str = 'auto'
                   ) -> Tuple[str, str, str, str]:
    """
    Pick the fastest usable backend: the GPU first, then the CPU, in :data:`BACKENDS` order.

    With the shipped registry that is tensorrt, onnxruntime-cuda, torch-cuda, onnxruntime-cpu,
    torch-cpu. ONNX-based backends need the bundle's exported graphs; precisions a backend
    cannot run fall back to one it can.

    :param bundle: the bundle.
    :param device: ``auto`` or ``cuda[:N]`` to allow the GPU, ``cpu`` to stay on the CPU.
    :param precision: the wished precision; ``auto``: :func:`auto_precision` of each device.
    :return: (backend, device, precision, reason).
    :raises BackendError: when no backend can run the bundle here.
    """
    devices = ['cpu']
    if device != 'cpu' and _cuda_available():
        devices.insert(0, device if device.startswith('cuda') else 'cuda')
    for candidate_device in devices:
        for backend in BACKENDS:
            try:
                cls = executor_class(backend)
            except ImportError:  # its runtime (e.g. torch) is not installed: it cannot run here
                continue
            wish = auto_precision(candidate_device) if precision == 'auto' else precision
            choice = cls.auto_choice(bundle, candidate_device, wish)
            if choice is not None:
                return (backend, candidate_device) + tuple(choice)
    raise BackendError(f'no backend can run {bundle.path} here (tried {list(BACKENDS)})')


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()
