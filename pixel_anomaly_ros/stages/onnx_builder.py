# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A small ONNX graph builder for the pieces built around a user's model, at the model's opset.

The stage graphs of built-in networks are exported from torch; a user's ONNX model has no torch
module, so what goes in front of it (input normalisation) and behind it (logits resize,
scorers) is written here as plain ONNX nodes, with numpy constants and no torch. The builder
knows the few operator signatures that changed between opsets 13 and 20 (reductions take their
axes as an input from opset 18 on, ``ReduceSum`` from 13) and uses only operators on the
TensorRT allow-list (:mod:`pixel_anomaly_ros.export.onnx_ops`).
"""

from typing import Dict, List, Sequence, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: The oldest opset whose operator signatures the builder writes (Resize, Pad, ReduceSum).
MIN_OPSET = 13
FLOAT = onnx.TensorProto.FLOAT
INT64 = onnx.TensorProto.INT64
UINT8 = onnx.TensorProto.UINT8


class GraphBuilder:
    """Collects nodes and constants; every name it makes starts with ``prefix``."""

    def __init__(self, opset: int, prefix: str = 'pixel_anomaly.'):
        """
        Start an empty graph piece.

        :param opset: the default-domain opset the nodes must follow (>= :data:`MIN_OPSET`).
        :param prefix: prefix of every tensor and node name (keeps them apart from the
            model's own names).
        """
        if opset < MIN_OPSET:
            raise ValueError(f'opset {opset} < {MIN_OPSET}')
        self.opset = opset
        self.prefix = prefix
        self.nodes: List[onnx.NodeProto] = []
        self.initializers: List[onnx.TensorProto] = []
        self._used: Dict[str, int] = {}
        self._constants: Dict[Tuple, str] = {}

    def fresh(self, hint: str) -> str:
        """
        Return a new unique name.

        :param hint: readable part of the name.
        :return: ``<prefix><hint>`` or ``<prefix><hint>_<n>``.
        """
        count = self._used.get(hint, 0)
        self._used[hint] = count + 1
        return f'{self.prefix}{hint}' + (f'_{count}' if count else '')

    def const(self, value, dtype=np.float32, hint: str = 'const') -> str:
        """
        Add a constant (an initializer), shared with equal constants added before.

        :param value: array-like value.
        :param dtype: numpy dtype.
        :param hint: readable part of the name.
        :return: the constant's name.
        """
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            name = self.fresh(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def op(self, op_type: str, inputs: Sequence[str], hint: str = '', output: str = '',
           **attributes) -> str:
        """
        Add one node with one output.

        :param op_type: ONNX operator.
        :param inputs: input names ('' for an omitted optional input).
        :param hint: readable part of the output name (default: the operator).
        :param output: exact output name instead of a fresh one.
        :param attributes: node attributes.
        :return: the output name.
        """
        output = output or self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=output,
                                           **attributes))
        return output

    def reduce(self, op_type: str, x: str, axes: Sequence[int], hint: str = '') -> str:
        """
        Reduce over axes keeping them (``keepdims=1``), in the opset's signature.

        :param op_type: ``ReduceMax``, ``ReduceMin`` or ``ReduceSum``.
        :param x: input.
        :param axes: axes to reduce.
        :param hint: readable part of the output name.
        :return: the output name.
        """
        if self.opset >= 18 or op_type == 'ReduceSum':
            return self.op(op_type, [x, self.const(list(axes), np.int64, 'axes')], hint,
                           keepdims=1)
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=1)

    def pad(self, x: str, width: int, mode: str, value: float = None, hint: str = '') -> str:
        """
        Pad the two spatial axes of an (N, C, H, W) tensor by ``width`` on every side.

        :param x: input.
        :param width: pixels added on each side.
        :param mode: ``constant``, ``reflect`` or ``edge``.
        :param value: the constant of ``constant`` mode.
        :param hint: readable part of the output name.
        :return: the output name.
        """
        pads = self.const([0, 0, width, width, 0, 0, width, width], np.int64, 'pads')
        inputs = [x, pads] + ([self.const(value, np.float32)] if value is not None else [])
        return self.op('Pad', inputs, hint, mode=mode)

    def spatial_slice(self, x: str, top: int, left: int, height: int, width: int,
                      hint: str = '') -> str:
        """
        Cut an (N, C, height, width) window starting at (top, left).

        :param x: input.
        :param top: first row.
        :param left: first column.
        :param height: rows.
        :param width: columns.
        :param hint: readable part of the output name.
        :return: the output name.
        """
        return self.op('Slice', [x, self.const([top, left], np.int64, 'starts'),
                                 self.const([top + height, left + width], np.int64, 'ends'),
                                 self.const([2, 3], np.int64, 'axes')], hint)

    def separable_filter(self, x: str, taps: Sequence[float], size: Tuple[int, int],
                         dilation: int = 1, hint: str = '') -> str:
        """
        Correlate a padded map with the outer product of ``taps``: shifted slices, summed.

        A column pass then a row pass, each ``sum_i taps[i] * x[shifted by i * dilation]``:
        the (k, k) correlation up to rounding, with 2k element-wise operations instead of a
        one-channel ``Conv``, which ONNX Runtime's CPU provider runs several times slower
        (it reorders the map into its blocked layout and back).

        :param x: (N, C, H + 2p, W + 2p) input, ``p = dilation * (k // 2)``.
        :param taps: (k,) weights (all ones: a plain sum).
        :param size: (H, W) of the output.
        :param dilation: spacing of the taps.
        :param hint: readable part of the output name.
        :return: the (N, C, H, W) output name.
        """
        taps = [float(t) for t in taps]
        out = x
        for axis, length in ((2, size[0]), (3, size[1])):
            total = ''
            for i, tap in enumerate(taps):
                start = i * dilation
                term = self.op('Slice', [out, self.const([start], np.int64, 'starts'),
                                         self.const([start + length], np.int64, 'ends'),
                                         self.const([axis], np.int64, 'axes')])
                if tap != 1.0:
                    term = self.op('Mul', [term, self.const(tap)])
                total = term if not total else self.op('Add', [total, term])
            out = total
        return self.op('Identity', [out], hint) if hint else out

    def resize_linear(self, x: str, size: Sequence[int], align_corners: bool,
                      hint: str = '', output: str = '') -> str:
        """
        Resize bilinearly to a fixed (N, C, H, W) size.

        :param x: input.
        :param size: the full output shape.
        :param align_corners: ``align_corners=True`` sampling, else half-pixel centres.
        :param hint: readable part of the output name.
        :param output: exact output name instead of a fresh one.
        :return: the output name.
        """
        return self.op('Resize', [x, '', '', self.const(list(size), np.int64, 'sizes')], hint,
                       output,
                       mode='linear',
                       coordinate_transformation_mode='align_corners' if align_corners
                       else 'half_pixel')
