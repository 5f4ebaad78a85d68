# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A long run of detector_node (``pixel-anomaly bench --node --soak MINUTES``): memory and latency.

A :class:`~pixel_anomaly_ros.ros.detector_session.DetectorSession` feeds camera frames at a
fixed rate (a real camera: 30 Hz 1024x512 by default) for the given minutes, subscribed to every
output as RViz would be, and samples the resident memory of the node's process tree every
second. Per minute it records frames sent and answered, the end-to-end latency of the answered
frames (arrival of the last output - header stamp; p50 / p95), the node's own counters and
processing median, and the RSS floor (the minute's minimum: the allocator swings by a frame's
buffers within a frame, a leak raises the floor) with its growth since the first minute.
"""

import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
from pixel_anomaly_ros.bench.record import machine_line, write_record
from pixel_anomaly_ros.bundle import Bundle
from pixel_anomaly_ros.ros.conversions import numpy_to_image
from pixel_anomaly_ros.ros.detector_session import DetectorSession
from pixel_anomaly_ros.ros.node_benchmark import shm_profile_path
from pixel_anomaly_ros.ros.outputs import OUTPUTS
from std_msgs.msg import Header
from tqdm import tqdm

MIB = float(1 << 20)


def soak_node(bundle: Bundle, out_dir, minutes: float, rate_hz: float = 30.0,
              size: Tuple[int, int] = (512, 1024), shm: bool = True, backend: str = 'auto',
              device: str = 'cpu', precision: str = 'auto', progress: bool = True):
    """
    Run the node for ``minutes`` at ``rate_hz`` and write the per-minute record.

    :param bundle: the bundle the node loads.
    :param out_dir: where the JSON and Markdown go.
    :param minutes: length of the run (after two answered warm-up frames).
    :param rate_hz: camera rate.
    :param size: camera (height, width).
    :param shm: run both processes with the Fast DDS shared-memory profile.
    :param backend: the node's backend.
    :param device: the node's device.
    :param precision: the node's precision.
    :param progress: show a progress bar.
    :return: paths of the JSON and Markdown files.
    """
    height, width = size
    environment = ({'FASTDDS_DEFAULT_PROFILES_FILE': str(shm_profile_path()),
                    'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'} if shm else {})
    parameters = {'bundle': str(bundle.path), 'backend': backend, 'device': device,
                  'precision': precision, 'diagnostics.period_s': 1.0}
    rng = np.random.default_rng(0)
    frames = [numpy_to_image(rng.integers(0, 256, (height, width, 3), np.uint8), 'rgb8',
                             Header(frame_id='camera')) for _ in range(8)]
    per_minute = round(60 * rate_hz)
    total = max(1, round(minutes * per_minute))
    counters: List[Dict[str, str]] = []  # the node's diagnostics at each minute's end
    with DetectorSession(parameters, outputs=tuple(OUTPUTS), environment=environment,
                         timeout_s=120.0, rss_period_s=1.0) as session:
        session.warm_up(frames[0], 2)
        start = time.monotonic()
        for index in tqdm(range(total), desc=f'soak {bundle.spec.name}', unit='frame',
                          disable=not progress):
            delay = start + index / rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if index and index % per_minute == 0:
                counters.append(dict(session.diagnostics))
            session.publish(frames[index % len(frames)], tag=index // per_minute)
        counters.append(dict(session.diagnostics))
        session.drain()
        description = session.final_diagnostics
    minutes_table = _per_minute(session, counters, start, per_minute / rate_hz)
    floors = [m['rss_floor_mib'] for m in minutes_table if m['rss_floor_mib'] is not None]
    record = {
        'bundle': str(bundle.path), 'model': bundle.spec.name, 'camera': f'{width}x{height}',
        'rate_hz': rate_hz, 'minutes': minutes, 'shm_profile': shm,
        'backend': description.get('backend', backend),
        'device': description.get('device', device),
        'precision': description.get('precision', precision),
        'frames_sent': len(session.sent), 'frames_answered': len(session.answered()),
        'rss_floor_growth_mib': floors[-1] - floors[0] if floors else None,
        'rss_floor_slope_mib_per_minute': (float(np.polyfit(range(len(floors)), floors, 1)[0])
                                           if len(floors) > 1 else None),
        'per_minute': minutes_table}
    stem = f'soak_{bundle.spec.name}_{width}x{height}_{rate_hz:g}hz'
    return write_record(record, format_soak, out_dir, stem)


def _per_minute(session: DetectorSession, counters: Sequence[Dict[str, str]], start: float,
                minute_s: float) -> List[Dict[str, object]]:
    complete = session.complete()
    latencies: Dict[int, List[float]] = {}
    for stamp, minute in complete.items():
        arrivals = session.arrivals[stamp]
        latencies.setdefault(minute, []).append((max(arrivals.values()) - stamp) / 1e6)
    sent = {}
    for minute in session.sent.values():
        sent[minute] = sent.get(minute, 0) + 1
    rows, previous = [], {}
    for minute in sorted(sent):
        rss = [b for t, b in session.rss_samples
               if start + minute * minute_s <= t < start + (minute + 1) * minute_s]
        now = counters[minute] if minute < len(counters) else {}
        delta = {key: int(now.get(key, 0)) - int(previous.get(key, 0))
                 for key in ('frames_received', 'frames_processed', 'frames_dropped')}
        previous = now
        values = latencies.get(minute, [])
        rows.append({
            'minute': minute + 1, 'sent': sent[minute], 'answered_all_outputs': len(values),
            **{f'node_{key}': value for key, value in delta.items()},
            'node_processing_ms_p50': float(now.get('processing_ms_p50', 'nan')),
            'latency_ms_p50': float(np.percentile(values, 50)) if values else None,
            'latency_ms_p95': float(np.percentile(values, 95)) if values else None,
            'rss_floor_mib': min(rss) / MIB if rss else None,
            'rss_peak_mib': max(rss) / MIB if rss else None})
    first = next((r['rss_floor_mib'] for r in rows if r['rss_floor_mib'] is not None), None)
    for row in rows:
        row['rss_floor_growth_mib'] = (row['rss_floor_mib'] - first
                                       if row['rss_floor_mib'] is not None else None)
    return rows


def format_soak(record: Dict[str, object]) -> str:
    """
    Render a soak record as a Markdown table, one row per minute.

    :param record: the record written by :func:`soak_node`.
    :return: Markdown text.
    """
    def number(value, digits=0):
        return '—' if value is None else f'{value:.{digits}f}'

    lines = [f"# detector_node soak: {record['model']}, {record['camera']} at "
             f"{record['rate_hz']:g} Hz for {record['minutes']:g} min", '',
             f"{record['backend']} {record['device']} {record['precision']}, "
             f"{'shared-memory' if record['shm_profile'] else 'default'} Fast DDS transports; "
             f"{record['frames_answered']} of {record['frames_sent']} frames answered (the "
             f'newest frame wins: the rest were dropped by design). RSS floor growth over the '
             f"run: **{number(record['rss_floor_growth_mib'], 1)} MiB** (slope "
             f"{number(record['rss_floor_slope_mib_per_minute'], 2)} MiB/min).", '',
             '| minute | sent | answered | node processed / dropped | node processing p50 ms | '
             'latency p50 / p95 ms | RSS floor MiB | floor growth MiB | RSS peak MiB |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in record['per_minute']:
        lines.append(
            f"| {r['minute']} | {r['sent']} | {r['answered_all_outputs']} | "
            f"{r['node_frames_processed']} / {r['node_frames_dropped']} | "
            f"{number(r['node_processing_ms_p50'], 1)} | {number(r['latency_ms_p50'])} / "
            f"{number(r['latency_ms_p95'])} | {number(r['rss_floor_mib'])} | "
            f"{number(r['rss_floor_growth_mib'], 1)} | {number(r['rss_peak_mib'])} |")
    lines += ['', 'Latency: arrival of the last of the six outputs in another process minus the '
              'header stamp. RSS: the node process and its children, sampled every second; the '
              f"floor is each minute's minimum. {record.get('date', '')}.", '',
              machine_line(record['machine']), '']
    return '\n'.join(lines)
