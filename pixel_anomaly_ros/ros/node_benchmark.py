# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Node overhead and cross-process latency of detector_node (``pixel-anomaly bench --node``).

A :class:`~pixel_anomaly_ros.ros.detector_session.DetectorSession` (private ROS domain,
localhost discovery, optionally the Fast DDS shared-memory profile) subscribes to every output,
publishes camera frames at a fixed rate, and reads the node's own per-stage figures from
``/diagnostics``. Overhead = decode + post-process + encode/publish of all outputs, as a
fraction of the pipeline (pre-process and network stages). End-to-end latency = arrival of the
last output here - header stamp.
"""

from pathlib import Path
import time
from typing import Dict, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bench.record import latency_stats, machine_line, write_record
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.ros.conversions import numpy_to_image
from pixel_anomaly_ros.ros.detector_session import DetectorSession
from pixel_anomaly_ros.ros.outputs import OUTPUTS
from std_msgs.msg import Header

#: Node stages that are overhead around the pipeline.
OVERHEAD_STAGES = ('decode', 'postprocess', 'publish')
NODE_STAGES = OVERHEAD_STAGES + ('processing', 'latency')


def shm_profile_path() -> Path:
    """Return the Fast DDS shared-memory profile shipped in ``config/``."""
    return Path(__file__).resolve().parents[2] / 'config' / 'fastdds_shm.xml'


def measure_node(bundle_path: str, width: int, height: int, rate_hz: float = 10.0,
                 seconds: float = 15.0, shm: bool = True, output_resolution: str = 'input',
                 backend: str = 'torch', device: str = 'cpu', precision: str = 'fp32'
                 ) -> Dict[str, object]:
    """
    Measure the node around a pipeline at one camera resolution.

    :param bundle_path: the bundle the node loads.
    :param width: camera image width.
    :param height: camera image height.
    :param rate_hz: publishing rate.
    :param seconds: measuring time (after two answered warm-up frames).
    :param shm: run both processes with the Fast DDS shared-memory profile.
    :param output_resolution: the node's ``output.resolution``.
    :param backend: the node's backend.
    :param device: the node's device.
    :param precision: the node's precision.
    :return: the record (node stage medians, overhead fraction, end-to-end latency).
    """
    environment = ({'FASTDDS_DEFAULT_PROFILES_FILE': str(shm_profile_path()),
                    'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'} if shm else {})
    parameters = {'bundle': bundle_path, 'backend': backend, 'device': device,
                  'precision': precision, 'output.resolution': output_resolution}
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    frame = numpy_to_image(pixels, 'rgb8', Header(frame_id='camera'))
    with DetectorSession(parameters, outputs=OUTPUTS, environment=environment) as session:
        session.warm_up(frame, 2)
        start = time.monotonic()
        for index in range(max(1, round(seconds * rate_hz))):
            delay = start + index / rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            session.publish(frame)
        session.drain()
    stages = session.node_stage_p50_ms()
    pipeline_ms = sum(v for k, v in stages.items() if k not in NODE_STAGES)
    pipeline_ms -= stages.get('postprocess', 0.0)
    overhead_ms = sum(stages.get(k, 0.0) for k in OVERHEAD_STAGES)
    latency = [(max(session.arrivals[s].values()) - s) / 1e6 for s in session.complete()]
    return {
        'camera': f'{width}x{height}', 'rate_hz': rate_hz, 'seconds': seconds,
        'shm_profile': shm, 'output_resolution': output_resolution, 'backend': backend,
        'device': device, 'precision': precision, 'bundle': str(bundle_path),
        'frames_sent': len(session.sent), 'frames_answered_all_outputs': len(latency),
        'frames_dropped': session.node_counters().get('frames_dropped', 0),
        'node_stage_median_ms': stages, 'pipeline_ms': pipeline_ms, 'overhead_ms': overhead_ms,
        'overhead_fraction': overhead_ms / pipeline_ms if pipeline_ms else float('nan'),
        'end_to_end': latency_stats(latency) if latency else None}


def bench_node(bundle: Bundle, out_dir, sizes: Sequence[Tuple[int, int]],
               rate_hz: float = 10.0, seconds: float = 15.0, shm: bool = True,
               output_resolution: str = 'input', backend: str = 'torch', device: str = 'cpu',
               precision: str = 'fp32') -> Tuple[Path, Path]:
    """
    Measure the node at each camera size and write one record.

    :param bundle: the bundle the node loads.
    :param out_dir: where the JSON and Markdown go.
    :param sizes: camera (height, width) sizes.
    :param rate_hz: camera rate.
    :param seconds: measuring time per size.
    :param shm: use the shared-memory Fast DDS profile.
    :param output_resolution: the node's ``output.resolution``.
    :param backend: the node's backend.
    :param device: the node's device.
    :param precision: the node's precision.
    :return: paths of the JSON and Markdown files.
    """
    records = []
    for height, width in sizes:
        print(f'detector_node with {bundle.spec.name}: {width}x{height} camera at {rate_hz} Hz '
              f'for {seconds} s ...', flush=True)
        records.append(measure_node(str(bundle.path), width, height, rate_hz, seconds, shm,
                                    output_resolution, backend, device, precision))
    stem = f'node_{bundle.spec.name}_{output_resolution}{"_shm" if shm else ""}'
    return write_record({'records': records}, format_node_benchmark, out_dir, stem)


def format_node_benchmark(record: Dict[str, object]) -> str:
    """
    Render a node benchmark record as a Markdown table.

    :param record: the record written by :func:`bench_node`.
    :return: Markdown text.
    """
    lines = ['# detector_node overhead and end-to-end latency', '',
             '| camera | outputs at | SHM | pipeline ms | decode | post | encode+publish | '
             'overhead | e2e median / p95 ms | answered / sent |',
             '|---|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in record['records']:
        s, e = r['node_stage_median_ms'], r['end_to_end']
        e2e = f"{e['median_ms']:.1f} / {e['p95_ms']:.1f}" if e else '—'
        lines.append(
            f"| {r['camera']} | {r['output_resolution']} | {'yes' if r['shm_profile'] else 'no'}"
            f" | {r['pipeline_ms']:.1f} | {s.get('decode', 0):.2f} | "
            f"{s.get('postprocess', 0):.2f} | {s.get('publish', 0):.2f} | "
            f"{100 * r['overhead_fraction']:.1f} % | {e2e} | "
            f"{r['frames_answered_all_outputs']} / {r['frames_sent']} |")
    lines += ['', 'Stage figures are the medians the node reports on /diagnostics; end to end is '
              'the arrival of the last of the six outputs in another process minus the header '
              f"stamp. {record.get('date', '')}.", '', machine_line(record['machine']), '']
    return '\n'.join(lines)
