# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The demo: synthetic test sequence, both bundles offline and through the live node, report."""

import json
from types import SimpleNamespace

from conftest import make_random_bundle
import numpy as np
from PIL import Image
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.demo import run_demo
from pixel_anomaly_ros.demo_report import (check_targets, DemoRun, quality_targets,
                                           smoothing_sentence)
from pixel_anomaly_ros.evaluation.metrics import PixelMetrics
import pytest


@pytest.fixture(scope='module')
def demo_bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_bundles')
    return [make_random_bundle('light_tiny', root / 'demo_light', input_size=(64, 128)).path,
            make_random_bundle('pebal_icnet_tiny', root / 'demo_pebal',
                               input_size=(64, 128)).path]


def _table(report: str) -> dict:
    """Return ``{method: (AP, FPR95, AUROC)}`` of the table the report opens with."""
    lines = report.splitlines()
    assert lines[0] == '# pixel_anomaly_ros demo'
    assert lines[2] == '| method | AP % | FPR95 % | AUROC % |'
    rows = {}
    for line in lines[4:]:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[cells[0]] = tuple(float(c) for c in cells[1:])
    return rows


@pytest.mark.ros
def test_demo_reports_both_bundles_offline_and_through_the_live_node(
        demo_bundles, ros_env, tmp_path):
    pytest.importorskip('rclpy')
    out = tmp_path / 'demo'
    report = run_demo(out, demo_bundles, scenes=3, gif_frames=2, progress=False,
                      part_scenes=2)
    text = report.read_text()
    rows = _table(text)
    assert len(rows) == 2 + 2 * 4  # both methods, then four baselines of each segmentation
    for bundle in demo_bundles:
        offline = json.loads((out / bundle.name / 'offline' / 'metrics.json').read_text())
        name = next(m for m in rows if m.endswith(f'({bundle.name})'))
        assert rows[name][0] == pytest.approx(100 * offline['pixel']['bundle']['ap'], abs=0.006)
        energy = rows[f'baseline: energy of {bundle.name}']
        assert energy[2] == pytest.approx(
            100 * offline['pixel']['baseline_energy']['auroc'], abs=0.006)
        live = json.loads((out / bundle.name / 'live' / 'metrics.json').read_text())
        assert live['replay']['frames_sent'] == 15  # 3 scenes x 5 frames, all played
        assert live['replay']['frames_answered'] >= 1
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['info']['live_node'] is True
    # the demo's four targets, then per bundle AP, FPR95, its own baselines, mask FPR,
    # periodicity and mIoU
    assert len(summary['targets']) == 4 + 2 * 6
    for part in ('no periodic artefact', 'every baseline of its own segmentation (4)'):
        assert sum(part in t['target'] for t in summary['targets']) == 2
    assert '## Segmentation and periodic artefacts' in text
    for name in (m for m in rows if not m.startswith('baseline')):
        entry = summary['methods'][name]['bundle']
        assert set(entry['operating_point']) == {'name', 'threshold', 'tpr', 'fpr'}
        assert entry['periodicity']['ratio'] > 0 and 4 <= entry['periodicity']['period'] <= 32
        assert 0 <= entry['periodicity']['amplitude'] < 1  # on the 0-1 score
        assert 0 <= entry['segmentation']['miou'] <= 1
        assert len(entry['parts']) == 1  # 3 scenes in parts of 2: the last, short one left out
    assert '## The same figures per part of the test set' in text
    assert 'FPR95 below every baseline listed (8)' in text
    assert '## Through the live node' in text and 'end-to-end p50 ms' in text
    assert '## Masks (default operating point)' in text and 'is the strictest' in text
    assert 'Machine load while timing' in text
    for bundle in demo_bundles:
        point = summary['operating_points'][next(m for m in rows if m.endswith(
            f'({bundle.name})'))]
        assert point['name'] == 'threshold' and 0 <= point['fpr'] <= 1
    # The GIF comes from the offline pass (no pipeline runs again): one frame per scene shown.
    with Image.open(out / 'heatmaps.gif') as gif:
        assert gif.n_frames == 2
        # camera + two methods at half size under title bars, then a 40-pixel colour bar
        assert gif.size == (3 * 64 + 40, 16 + 32)
    # A second run reuses the generated sequence.
    manifest = out / 'world' / 'manifest.json'
    before = manifest.stat().st_mtime_ns
    run_demo(out, demo_bundles, scenes=3, gif_frames=5, live=False, progress=False)
    assert manifest.stat().st_mtime_ns == before
    assert '--offline was given' in report.read_text()
    with Image.open(out / 'heatmaps.gif') as gif:
        assert gif.n_frames == 3  # at most one frame per scene
    # The test data of an earlier demo with other arguments are replaced, not refused.
    run_demo(out, demo_bundles, scenes=2, gif_frames=2, live=False, progress=False)
    assert json.loads(manifest.read_text())['counts']['anomalies'] == 2


def test_demo_leaves_a_world_directory_that_is_not_its_test_data_alone(demo_bundles, tmp_path):
    (tmp_path / 'world').mkdir()
    (tmp_path / 'world' / 'mine.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not test data of the demo'):
        run_demo(tmp_path, demo_bundles, scenes=2, live=False, progress=False)
    assert (tmp_path / 'world' / 'mine.txt').read_text() == 'keep me'


def test_demo_refuses_a_missing_bundle_before_writing_anything(tmp_path, capsys):
    out = tmp_path / 'demo'
    code = main(['demo', '--out', str(out), '--bundles', str(tmp_path / 'nowhere'),
                 '--offline', '--no-progress'])
    assert code == 2
    assert str(tmp_path / 'nowhere') in capsys.readouterr().err
    assert not out.exists()


def _metrics(ap: float, fpr95: float) -> PixelMetrics:
    return PixelMetrics(ap=ap, auroc=0.5, fpr95=fpr95, positives=10, negatives=90,
                        best_f1=0.0, best_f1_threshold=0.5, tpr95_threshold=0.5)


def _run(variant: str, name: str, pixel: dict, smoothing: float = 0.0) -> DemoRun:
    bundle = SimpleNamespace(spec=SimpleNamespace(variant=variant, smoothing=smoothing),
                             path=SimpleNamespace(name=name))
    return DemoRun(bundle, SimpleNamespace(pixel=pixel))


def test_the_report_says_which_bundles_smooth_their_score():
    plain = _run('pebal', 'demo_pebal', {})
    assert smoothing_sentence([plain]) == ''
    sentence = smoothing_sentence([_run('synboost_light', 'demo_light', {}, 2.0), plain])
    assert '(demo_light sigma 2 raw-score pixels)' in sentence
    assert 'baselines are the unsmoothed scores' in sentence


@pytest.mark.parametrize('light_ap, met', [(0.31, True), (0.29, False)])
def test_targets_compare_with_the_best_baseline_and_the_lowest_fpr95(light_ap, met):
    baselines = {'baseline_max_softmax': _metrics(0.20, 0.40),
                 'baseline_max_logit': _metrics(0.10, 0.30),
                 'baseline_entropy': _metrics(0.15, 0.50),
                 'baseline_energy': _metrics(0.12, 0.35)}
    light = _run('synboost_light', 'demo_light',
                 {'bundle': _metrics(light_ap, 0.25), **baselines})
    pebal = _run('pebal', 'demo_pebal', {'bundle': _metrics(0.11, 0.31)})
    targets = check_targets([light, pebal])
    assert [t['met'] for t in targets] == [met, False, True, False]
    assert '(max softmax of demo_light) 30.00 %' not in targets[2]['measured']
    assert 'max logit of demo_light' in targets[2]['measured']  # the lowest: 30 %
    assert np.isclose(float(targets[0]['measured'].split('(')[1].split('x')[0]),
                      light_ap / 0.20, atol=0.005)


def test_fpr95_target_compares_with_every_baseline_listed():
    """A baseline of the PEBAL run (listed in the table too) can hold the lowest FPR95."""
    light = _run('synboost_light', 'demo_light', {
        'bundle': _metrics(0.31, 0.25), 'baseline_max_logit': _metrics(0.10, 0.30),
        'baseline_energy': _metrics(0.12, 0.35)})
    pebal = _run('pebal', 'demo_pebal', {
        'bundle': _metrics(0.20, 0.24), 'baseline_max_logit': _metrics(0.10, 0.20),
        'baseline_energy': _metrics(0.12, 0.22)})
    targets = check_targets([light, pebal])
    fpr_targets = [t for t in targets if 'FPR95' in t['target']]
    assert [t['met'] for t in fpr_targets] == [False, False]
    for target in fpr_targets:
        assert 'every baseline listed (4)' in target['target']
        assert '(max logit of demo_pebal) 20.00 %' in target['measured']


@pytest.mark.parametrize('ap, fpr95, mask_fpr, ratio, miou, met', [
    (0.45, 0.15, 0.03, 2.0, 0.65, [True] * 5),
    (0.39, 0.21, 0.06, 3.5, 0.59, [False] * 5),
])
def test_quality_targets_of_a_convincing_default(ap, fpr95, mask_fpr, ratio, miou, met):
    from pixel_anomaly_ros.evaluation.periodicity import Periodicity
    run = _run('pebal', 'demo_pebal', {'bundle': _metrics(ap, fpr95)})
    run.offline.operating_point = {'name': 'best_f1', 'threshold': 0.5, 'tpr': 0.3,
                                   'fpr': mask_fpr}
    run.offline.semantic = SimpleNamespace(miou=miou, pixel_accuracy=0.9)
    run.periodicity = Periodicity(ratio, 8.0, (0.0, 0.125))
    targets = quality_targets([run])
    assert [t['met'] for t in targets] == met
    assert [t['target'].split(': ', 1)[1].split()[0] for t in targets] == [
        'AP', 'FPR95', 'the', 'no', 'segmentation']


@pytest.mark.parametrize('bundle, met', [
    (_metrics(0.45, 0.15), True),
    (_metrics(0.45, 0.19), False),  # the max logit's FPR95 is lower
    (_metrics(0.35, 0.15), False),  # the entropy's AP is higher
])
def test_own_baseline_target_needs_both_the_best_ap_and_the_lowest_fpr95(bundle, met):
    run = _run('pebal', 'demo_pebal', {
        'bundle': bundle, 'baseline_max_softmax': _metrics(0.30, 0.40),
        'baseline_max_logit': _metrics(0.32, 0.17), 'baseline_entropy': _metrics(0.40, 0.45),
        'baseline_energy': _metrics(0.36, 0.18)})
    target, = [t for t in quality_targets([run]) if 'own segmentation' in t['target']]
    assert target['met'] is met
    assert target['target'].endswith('every baseline of its own segmentation (4)')
    assert 'vs entropy 40.00 %' in target['measured']  # the best AP
    assert 'vs max logit 17.00 %' in target['measured']  # the lowest FPR95
