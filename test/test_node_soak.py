# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly bench --node --soak``: a few seconds of the long run write its record."""

import json

from conftest import make_random_bundle
import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy')


def test_soak_writes_per_minute_memory_and_latency(tmp_path, capsys, ros_env):
    from pixel_anomaly_ros.cli import main
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'pebal', input_size=(64, 128))
    assert main(['bench', '--bundle', str(bundle.path), '--soak', '0.1', '--rate', '10',
                 '--resolution', '128x64', '--out', str(tmp_path / 'out')]) == 0, \
        capsys.readouterr().err
    record = json.loads((tmp_path / 'out' / 'soak_pebal_wrn38_tiny_128x64_10hz.json').read_text())
    assert record['frames_sent'] == 60 and 0 < record['frames_answered'] <= 60
    minute, = record['per_minute']
    assert minute['sent'] == 60 and minute['answered_all_outputs'] > 0
    assert minute['latency_ms_p50'] <= minute['latency_ms_p95']
    assert 50 < minute['rss_floor_mib'] <= minute['rss_peak_mib']
    assert record['rss_floor_growth_mib'] == 0.0 and minute['node_frames_processed'] > 0
    assert record['precision'] == 'fp32'  # auto on the CPU
    markdown = (tmp_path / 'out' / 'soak_pebal_wrn38_tiny_128x64_10hz.md').read_text()
    assert '| 1 | 60 |' in markdown and 'RSS floor growth' in markdown
