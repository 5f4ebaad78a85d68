# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ahead-of-time TensorRT engines (``pixel-anomaly export --tensorrt``), checked against PyTorch.

The executor builds a missing engine on first use too; building here moves those minutes out of
the node's start-up and compares the engines with the PyTorch pipeline on the GPU.
"""

from typing import Dict

import numpy as np
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.export.onnx_export import ExportError
from pixel_anomaly_ros.pipelines import create_pipeline


def build_tensorrt_engines(bundle: Bundle, precision: str = 'fp16', device: str = 'cuda',
                           force: bool = False, verify: bool = True) -> Dict[str, float]:
    """
    Build (or reuse) the bundle's TensorRT engines and optionally check them against PyTorch.

    :param bundle: a bundle with exported graphs; for ``int8`` also with the quantised graphs
        of ``export --int8`` (their Q/DQ scales are the INT8 ranges).
    :param precision: ``fp32``, ``fp16`` or ``int8``.
    :param device: the CUDA device to build for.
    :param force: rebuild engines even when the cache holds valid ones.
    :param verify: run the TensorRT and the PyTorch-CUDA fp32 pipelines (ONNX Runtime for a
        segmentation that is an ONNX model) on one random image and compare them; ``False``
        builds only (``--build-only``).
    :return: ``{'score': max abs difference, 'train_ids': mismatch fraction}`` (empty when
        not verified).
    :raises ExportError: when an fp32 engine differs from PyTorch by more than 1e-3.
    """
    import torch

    from pixel_anomaly_ros.runtime.tensorrt_engines import ensure_engines, import_tensorrt
    from pixel_anomaly_ros.runtime.tensorrt_executor import cuda_device
    import_tensorrt()
    gpu = torch.cuda.get_device_name(cuda_device(device))
    for stage, (path, _) in ensure_engines(bundle, precision, gpu, force=force,
                                           log=print).items():
        print(f'  {stage}: {path}', flush=True)
    if not verify:
        return {}
    h, w = bundle.spec.input_size
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    engine = create_pipeline(bundle, 'tensorrt', device, precision)
    # A segmentation that is an ONNX model has no torch module: ONNX Runtime is the reference.
    reference = (create_pipeline(bundle, 'onnxruntime', 'cpu', 'fp32') if bundle.spec.external
                 else create_pipeline(bundle, 'torch', device, 'fp32'))
    got = engine(image, return_maps=True)
    expected = reference(image, return_maps=True)
    engine.executor.close()
    reference.executor.close()
    raw, raw_expected = got.maps['raw_score'], expected.maps['raw_score']
    scale = max(1.0, float(np.max(np.abs(raw_expected))))
    diffs = {'raw_score': float(np.max(np.abs(raw - raw_expected))) / scale,
             'train_ids': float(np.mean(got.train_ids != expected.train_ids))}
    print(f'  TensorRT {precision} vs PyTorch fp32: max |raw score diff| / max(1, |raw|) '
          f'{diffs["raw_score"]:.2e}, train ids differ at {diffs["train_ids"]:.3%} of pixels',
          flush=True)
    if precision == 'fp32' and diffs['raw_score'] > 1e-3:
        raise ExportError(f'the fp32 TensorRT engines differ from PyTorch by '
                          f'{diffs["raw_score"]:.2e} on the raw score (> 1e-3 relative)')
    return diffs
