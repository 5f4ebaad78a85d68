# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Node overhead and cross-process latency of detector_node (``pixel-anomaly bench --node``).

Starts the node in its own process (private ROS domain, localhost discovery, optionally the
Fast DDS shared-memory profile), publishes camera frames at a fixed rate from this process,
subscribes to every output and reads the node's own per-stage figures from ``/diagnostics``.
Overhead = decode + post-process + encode/publish of all outputs, as a fraction of the pipeline
(pre-process and network stages). End-to-end latency = last output received - header stamp.
"""

import array
import os
from pathlib import Path
import time
from typing import Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from pixel_anomaly_ros.ros.node_process import (detector_command, ros_environment,
                                                start_process, stop_process_group)
from pixel_anomaly_ros.ros.outputs import OUTPUTS
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

#: Node stages that are overhead around the pipeline.
OVERHEAD_STAGES = ('decode', 'postprocess', 'publish')
NODE_STAGES = OVERHEAD_STAGES + ('processing', 'latency')


def shm_profile_path() -> Path:
    """Return the Fast DDS shared-memory profile shipped in ``config/``."""
    return Path(__file__).resolve().parents[2] / 'config' / 'fastdds_shm.xml'


def run_node_benchmark(bundle_path: str, width: int, height: int, rate_hz: float = 10.0,
                       seconds: float = 15.0, shm: bool = True, output_resolution: str = 'input',
                       backend: str = 'torch', device: str = 'cpu',
                       domain_id: Optional[int] = None) -> Dict[str, object]:
    """
    Measure the node around a pipeline at one camera resolution.

    :param bundle_path: the bundle the node loads.
    :param width: camera image width.
    :param height: camera image height.
    :param rate_hz: publishing rate.
    :param seconds: measuring time (after a 3 s warm-up).
    :param shm: run both processes with the Fast DDS shared-memory profile.
    :param output_resolution: the node's ``output.resolution``.
    :param backend: the node's backend.
    :param device: the node's device.
    :param domain_id: ROS domain (default: derived from the process id).
    :return: the record (node stage medians, overhead fraction, end-to-end latency).
    """
    extra = ({'FASTDDS_DEFAULT_PROFILES_FILE': str(shm_profile_path()),
              'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'} if shm else {})
    domain = domain_id if domain_id is not None else 100 + os.getpid() % 100
    with ros_environment(domain, **extra) as env:
        node_proc = start_process(detector_command({
            'bundle': bundle_path, 'backend': backend, 'device': device, 'precision': 'fp32',
            'input.reliable': 'true', 'output.resolution': output_resolution}), env)
        rclpy.init()
        client = rclpy.create_node('node_benchmark_client')
        try:
            return _measure(client, node_proc, width, height, rate_hz, seconds) | {
                'camera': f'{width}x{height}', 'rate_hz': rate_hz, 'seconds': seconds,
                'shm_profile': shm, 'output_resolution': output_resolution,
                'backend': backend, 'device': device, 'bundle': str(bundle_path)}
        finally:
            client.destroy_node()
            rclpy.shutdown()
            stop_process_group(node_proc)


def _measure(client, node_proc, width, height, rate_hz, seconds) -> Dict[str, object]:
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    arrivals: Dict[int, Dict[str, int]] = {}
    for topic in OUTPUTS:
        client.create_subscription(
            Image, topic, lambda m, t=topic: arrivals.setdefault(
                m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, {}).__setitem__(
                    t, time.time_ns()), reliable)
    diagnostics = []
    client.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, reliable)
    publisher = client.create_publisher(Image, 'image', reliable)
    deadline = time.monotonic() + 60
    while publisher.get_subscription_count() == 0:
        if node_proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError('detector_node did not start: ' + (node_proc.stdout.read()
                                                                  if node_proc.poll() is not None
                                                                  else 'timeout'))
        rclpy.spin_once(client, timeout_sec=0.1)
    frame = _frame(width, height)
    warmup_s, sent, start = 3.0, [], time.monotonic()
    while time.monotonic() - start < warmup_s + seconds:
        stamp = time.time_ns()
        frame.header.stamp.sec, frame.header.stamp.nanosec = divmod(stamp, 10**9)
        publisher.publish(frame)
        if time.monotonic() - start > warmup_s:
            sent.append(stamp)
        next_time = start + (len(sent) + 1 + int(warmup_s * rate_hz)) / rate_hz
        while time.monotonic() < next_time:
            rclpy.spin_once(client, timeout_sec=max(0.0, next_time - time.monotonic()))
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        rclpy.spin_once(client, timeout_sec=0.1)
    complete = [max(arrivals[s].values()) - s for s in sent
                if s in arrivals and len(arrivals[s]) == len(OUTPUTS)]
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values} if diagnostics else {}
    stages = {k[:-7]: float(v) for k, v in values.items() if k.endswith('_ms_p50')}
    pipeline_ms = sum(v for k, v in stages.items() if k not in NODE_STAGES)
    pipeline_ms -= stages.get('postprocess', 0.0)
    overhead_ms = sum(stages.get(k, 0.0) for k in OVERHEAD_STAGES)
    latency = np.array(complete, dtype=np.float64) / 1e6
    return {
        'frames_sent': len(sent), 'frames_answered_all_outputs': len(complete),
        'frames_dropped': int(values.get('frames_dropped', 0)),
        'node_stage_median_ms': stages,
        'pipeline_ms': pipeline_ms, 'overhead_ms': overhead_ms,
        'overhead_fraction': overhead_ms / pipeline_ms if pipeline_ms else float('nan'),
        'end_to_end_ms': {'median': float(np.median(latency)) if latency.size else None,
                          'p95': float(np.percentile(latency, 95)) if latency.size else None,
                          'max': float(latency.max()) if latency.size else None}}


def _frame(width: int, height: int) -> Image:
    msg = Image()
    msg.header.frame_id = 'camera'
    msg.height, msg.width, msg.encoding, msg.step = height, width, 'rgb8', width * 3
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    data = array.array('B')
    data.frombytes(pixels.tobytes())
    msg.data = data
    return msg


def format_node_benchmark(records) -> str:
    """
    Render node benchmark records as a Markdown table.

    :param records: results of :func:`run_node_benchmark`.
    :return: Markdown text.
    """
    lines = ['# detector_node overhead and end-to-end latency', '',
             '| camera | outputs at | SHM | pipeline ms | decode | post | encode+publish | '
             'overhead | e2e median / p95 ms | answered / sent |',
             '|---|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in records:
        s, e = r['node_stage_median_ms'], r['end_to_end_ms']
        e2e = (f"{e['median']:.1f} / {e['p95']:.1f}" if e['median'] is not None else '—')
        lines.append(
            f"| {r['camera']} | {r['output_resolution']} | {'yes' if r['shm_profile'] else 'no'}"
            f" | {r['pipeline_ms']:.1f} | {s.get('decode', 0):.2f} | "
            f"{s.get('postprocess', 0):.2f} | {s.get('publish', 0):.2f} | "
            f"{100 * r['overhead_fraction']:.1f} % | {e2e} | "
            f"{r['frames_answered_all_outputs']} / {r['frames_sent']} |")
    lines += ['', 'Stage figures are the medians the node reports on /diagnostics; end to end is '
              'the arrival of the last of the six outputs in another process minus the header '
              'stamp.', '']
    return '\n'.join(lines)
