# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly bench`` writes per-stage medians for both backends (tiny presets)."""

import json

from pixel_anomaly_ros.cli import main
import pytest


@pytest.mark.parametrize('backend', ['torch', 'onnxruntime'])
def test_bench_writes_json_and_markdown(tmp_path, capsys, backend):
    rc = main(['bench', '--preset', 'pebal_tiny', '--backend', backend, '--resolution',
               '256x128', '--runs', '3', '--warmup', '1', '--out', str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    stem = f'pebal_wrn38_tiny_{backend}_cpu_fp32_256x128'
    record = json.loads((tmp_path / f'{stem}.json').read_text())
    assert list(record['stages']) == ['preprocess', 'energy', 'postprocess']
    assert record['runs'] == 3 and record['run']['backend'] == backend
    stats = record['end_to_end']
    assert 0 < stats['median_ms'] <= stats['p95_ms'] <= stats['max_ms']
    assert record['machine']['torch_threads'] == 2
    assert '| energy |' in (tmp_path / f'{stem}.md').read_text()


def test_bench_refuses_resizing_exported_graphs(tmp_path, capsys, tiny_bundles):
    rc = main(['bench', '--bundle', str(tiny_bundles['pebal'].path), '--backend',
               'onnxruntime', '--resolution', '512x256', '--out', str(tmp_path)])
    assert rc == 2 and 're-export' in capsys.readouterr().err
