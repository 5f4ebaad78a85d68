# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The detector's ``/diagnostics`` status: levels from thresholds, and the documented keys.

Keys: ``lifecycle_state``, ``backend``, ``device``, ``precision``, ``model``, ``variant``,
``frames_received``, ``frames_processed``, ``frames_dropped``, ``frames_rejected``,
``frames_failed``, ``rejected_<reason>``, ``input_rate_hz``, ``output_rate_hz``,
``<stage>_ms_p50`` / ``_p95`` / ``_max`` for every pipeline stage, ``processing_ms_*`` (frame
taken to outputs published), ``latency_ms_*`` (publish time minus header stamp, node clock),
and ``last_error``.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from pixel_anomaly_ros.ros.frame_statistics import Snapshot

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass
class Thresholds:
    """When the status turns WARN or ERROR."""

    #: WARN when the processing time p95 exceeds this (ms); 0 disables.
    latency_budget_ms: float = 0.0
    #: WARN when frames arrive but the output rate is below this (Hz); 0 disables.
    min_rate_hz: float = 0.0
    #: ERROR when no frame arrived for this long while active (s); 0 disables.
    input_timeout_s: float = 5.0


def assess(now: Snapshot, before: Optional[Snapshot], thresholds: Thresholds, active: bool,
           seconds_active: float) -> Tuple[int, str]:
    """
    Decide the level and message of the status.

    :param now: the current snapshot.
    :param before: the snapshot of the previous report (to see what is new), or ``None``
        for the first report (then every failure and rejection is new).
    :param thresholds: the limits.
    :param active: whether the node is in the active lifecycle state.
    :param seconds_active: time since activation; the input timeout counts from the later of
        activation and the last frame.
    :return: (level, message).
    """
    if not active:
        return OK, 'inactive'
    timeout = thresholds.input_timeout_s
    waited = seconds_active if now.seconds_since_input is None else min(
        now.seconds_since_input, seconds_active)
    if timeout > 0 and waited > timeout:
        return ERROR, f'no input image for {waited:.1f} s'
    failed_before, rejected_before = (0, 0) if before is None else (before.failed,
                                                                    before.rejected)
    if now.failed > failed_before:
        return ERROR, f'{now.failed - failed_before} frame(s) failed: {now.last_error}'
    problems = []
    processing = now.timings_ms.get('processing')
    if thresholds.latency_budget_ms > 0 and processing and \
            processing[1] > thresholds.latency_budget_ms:
        problems.append(f'processing p95 {processing[1]:.0f} ms over the '
                        f'{thresholds.latency_budget_ms:.0f} ms budget')
    if thresholds.min_rate_hz > 0 and now.input_rate_hz > 0 and \
            now.output_rate_hz < thresholds.min_rate_hz:
        problems.append(f'output rate {now.output_rate_hz:.1f} Hz below '
                        f'{thresholds.min_rate_hz:.1f} Hz')
    if now.rejected > rejected_before:
        problems.append(f'{now.rejected - rejected_before} frame(s) rejected: {now.last_error}')
    if problems:
        return WARN, '; '.join(problems)
    return OK, 'running'


def diagnostic_array(snapshot: Snapshot, level: int, message: str, node_name: str,
                     info: Dict[str, str], stamp) -> DiagnosticArray:
    """
    Build the ``/diagnostics`` message.

    :param snapshot: the figures.
    :param level: ``OK``, ``WARN`` or ``ERROR``.
    :param message: the status summary.
    :param node_name: fully qualified node name (status name and hardware id).
    :param info: static facts (lifecycle state, backend, device, precision, model, variant).
    :param stamp: header stamp (node clock).
    :return: the array with one status.
    """
    values = dict(info)
    values.update({
        'frames_received': snapshot.received, 'frames_processed': snapshot.processed,
        'frames_dropped': snapshot.dropped, 'frames_rejected': snapshot.rejected,
        'frames_failed': snapshot.failed,
        'input_rate_hz': f'{snapshot.input_rate_hz:.2f}',
        'output_rate_hz': f'{snapshot.output_rate_hz:.2f}'})
    for reason, count in sorted(snapshot.rejected_by_reason.items()):
        values[f'rejected_{reason}'] = count
    for name, (p50, p95, worst) in snapshot.timings_ms.items():
        values.update({f'{name}_ms_p50': f'{p50:.2f}', f'{name}_ms_p95': f'{p95:.2f}',
                       f'{name}_ms_max': f'{worst:.2f}'})
    values['last_error'] = snapshot.last_error
    status = DiagnosticStatus(level=level, name=f'{node_name.lstrip("/")}: anomaly detector',
                              message=message, hardware_id=node_name)
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array
