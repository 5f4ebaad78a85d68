# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly export``: ONNX graphs, int8 graphs and TensorRT engines of a bundle."""

import argparse

from pixel_anomaly_ros.cli.args import count_type


def add_parser(subparsers) -> None:
    """
    Register ``export``.

    :param subparsers: the object returned by ``ArgumentParser.add_subparsers()``.
    """
    p = subparsers.add_parser(
        'export', help='export the stage graphs of a bundle to ONNX',
        description='Write one self-contained ONNX graph per stage into the bundle (static '
                    'shapes from bundle.yaml), check it with the ONNX checker and against the '
                    'TensorRT operator allow-list, run it in ONNX Runtime and compare it with '
                    'PyTorch. A stage built around your own ONNX model (convert '
                    'segmentation-onnx) is composed again from it and bundle.yaml, without '
                    'torch. A graph that fails any check does not replace the previous one.')
    p.add_argument('--bundle', required=True, help='bundle directory')
    p.add_argument('--opset', type=int, default=18, choices=range(18, 21), metavar='18-20',
                   help='ONNX opset, 18-20 (default 18)')
    p.add_argument('--atol', type=float, default=1e-4,
                   help='largest allowed |ONNX Runtime - PyTorch| on the score; intermediate '
                        'maps may differ by 10x that (default 1e-4)')
    calibration = p.add_argument_group('INT8 calibration (--int8, --tensorrt --precision int8)')
    calibration.add_argument('--calibration', metavar='DIR_OR_LIST',
                             help='folder of camera images, or a text file with one path per '
                                  'line')
    calibration.add_argument('--calibration-limit', type=count_type(1), default=32,
                             metavar='N',
                             help='use at most N of them, evenly spread (default 32; each costs '
                                  'about 80 MB of memory at 2048x1024)')
    cpu = p.add_argument_group('ONNX Runtime INT8 graphs (CPU)')
    cpu.add_argument('--int8', action='store_true',
                     help='also write the int8 graphs: convolutions quantised with ranges '
                          'calibrated on --calibration, <stage>.int8.onnx for --backend '
                          'onnxruntime --precision int8 on the CPU and '
                          '<stage>.tensorrt-int8.onnx for TensorRT INT8 engines (implied by '
                          '--tensorrt --precision int8)')
    trt = p.add_argument_group('TensorRT engines (needs a CUDA GPU and TensorRT >= 10)')
    trt.add_argument('--tensorrt', action='store_true',
                     help='also build the TensorRT engines into <bundle>/engines/ and compare '
                          'the TensorRT pipeline with PyTorch on the GPU')
    trt.add_argument('--precision', default='fp16', choices=['fp32', 'fp16', 'int8'],
                     help='engine precision (default fp16)')
    trt.add_argument('--device', default='cuda', help='CUDA device (default cuda)')
    trt.add_argument('--build-only', action='store_true',
                     help='skip the export: only build the engines (and with --int8 the int8 '
                          'graphs) from the existing ONNX graphs; engines are not test-run')
    trt.add_argument('--force-rebuild', action='store_true',
                     help='rebuild engines even if the cache holds valid ones')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """
    Run ``pixel-anomaly export``.

    :param args: the parsed arguments.
    :return: exit status.
    """
    if args.force_rebuild and not args.tensorrt:
        raise ValueError('--force-rebuild goes with --tensorrt')
    if args.build_only and not (args.tensorrt or args.int8):
        raise ValueError('--build-only goes with --tensorrt or --int8')
    int8_engines = args.tensorrt and args.precision == 'int8'
    if (args.int8 or int8_engines) and not args.calibration:
        raise ValueError('--int8 and --precision int8 need --calibration DIR_OR_LIST (camera '
                         'images like the ones the node will see)')
    if args.calibration and not (args.int8 or int8_engines):
        raise ValueError('--calibration goes with --int8 or --tensorrt --precision int8')
    from pixel_anomaly_ros.bundle import load_bundle
    from pixel_anomaly_ros.export.external_graph import export_stage_graphs
    from pixel_anomaly_ros.export.int8_calibration import load_calibration_images
    bundle = load_bundle(args.bundle)
    images = (load_calibration_images(args.calibration, args.calibration_limit)
              if args.calibration else ())
    if not args.build_only:
        export_stage_graphs(bundle, args.opset, args.atol)
    if args.int8 or int8_engines:
        from pixel_anomaly_ros.export.quantization import quantize_bundle
        print(f'quantising the graphs of {bundle.path} to int8 on {len(images)} calibration '
              f'images ...', flush=True)
        quantize_bundle(bundle, images)
    if args.tensorrt:
        from pixel_anomaly_ros.export.tensorrt import build_tensorrt_engines
        print(f'building TensorRT {args.precision} engines for {bundle.path} ...', flush=True)
        build_tensorrt_engines(bundle, args.precision, args.device, force=args.force_rebuild,
                               verify=not args.build_only)
    return 0
