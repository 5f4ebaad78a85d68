# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Operating points on constructed scores: each threshold rule, the default, the bundle record."""

from conftest import make_random_bundle
import numpy as np
from pixel_anomaly_ros.bundle import BundleError, load_bundle
from pixel_anomaly_ros.evaluation.operating_points import (default_operating_point,
                                                           operating_points)
import pytest
import yaml


def _scores(seed: int = 0, inliers: int = 2000, anomalies: int = 200, shift: float = 0.35):
    """Distinct float32 scores: inliers uniform in [0, 0.6), anomalies in [shift, 1)."""
    rng = np.random.default_rng(seed)
    negative = rng.permutation(np.linspace(0.0, 0.6, inliers, endpoint=False))
    positive = rng.permutation(np.linspace(shift, 1.0, anomalies, endpoint=False) + 1e-4)
    score = np.concatenate([negative, positive, [0.9, 0.1]]).astype(np.float32)
    label = np.concatenate([np.zeros(inliers), np.ones(anomalies), [255, 255]]).astype(np.uint8)
    return score, label


def _rates(score, label, threshold):
    flagged = score >= np.float32(threshold)
    return (np.count_nonzero(flagged & (label == 1)) / np.count_nonzero(label == 1),
            np.count_nonzero(flagged & (label == 0)) / np.count_nonzero(label == 0))


def test_each_threshold_rule_on_constructed_scores():
    score, label = _scores()
    points = operating_points(score, label)
    assert list(points) == ['tpr95', 'best_f1', 'fpr1', 'fpr5']
    positives = np.sort(score[label == 1])
    negatives = np.sort(score[label == 0])[::-1]
    # tpr95: the highest threshold that still flags 95 % of the 200 anomalous pixels (190).
    assert points['tpr95']['threshold'] == positives[10]
    assert points['tpr95']['tpr'] == 0.95
    # fprN: the lowest threshold flagging at most N % of the 2000 inliers: just above the
    # inlier ranked 21st (fpr1) or 101st (fpr5) from the top, so exactly 20 or 100 flagged.
    for name, allowed in (('fpr1', 20), ('fpr5', 100)):
        threshold = points[name]['threshold']
        assert negatives[allowed] < threshold <= negatives[allowed - 1]
        assert points[name]['fpr'] == allowed / 2000
        lower = np.nextafter(np.float32(threshold), np.float32(-1))
        assert _rates(score, label, lower)[1] > allowed / 2000  # lowest such threshold
    # best_f1: brute force over every distinct score.
    valid = label <= 1
    best = max(np.unique(score[valid]), key=lambda t: 2 * np.count_nonzero(
        (score >= t) & (label == 1)) / (np.count_nonzero((score >= t) & valid) + 200))
    assert points['best_f1']['threshold'] == pytest.approx(float(best))
    # Every reported rate is what the threshold really flags (void pixels left out).
    for point in points.values():
        assert (point['tpr'], point['fpr']) == _rates(score, label, point['threshold'])


def test_default_is_best_f1_unless_it_flags_more_than_5_percent():
    separable = operating_points(*_scores(shift=0.5))
    assert separable['best_f1']['fpr'] <= 0.05
    assert default_operating_point(separable) == 'best_f1'
    # A weak detector: anomalies spread over the inlier range, best F1 at a low threshold.
    rng = np.random.default_rng(1)
    score = np.concatenate([rng.uniform(0, 1, 5000), rng.uniform(0.1, 1, 2000)]).astype(np.float32)
    label = np.concatenate([np.zeros(5000), np.ones(2000)]).astype(np.uint8)
    weak = operating_points(score, label)
    assert weak['best_f1']['fpr'] > 0.05
    assert default_operating_point(weak) == 'fpr5'
    assert weak['fpr5']['fpr'] <= 0.05 and weak['tpr95']['fpr'] > 0.5


def test_fpr_point_clipped_at_one_reports_what_it_flags():
    # 3 % of the inliers tie at the top score 1.0: no threshold in [0, 1] reaches FPR 1 %.
    score = np.concatenate([np.full(30, 1.0), np.linspace(0, 0.9, 970), np.full(50, 1.0)])
    label = np.concatenate([np.zeros(1000), np.ones(50)]).astype(np.uint8)
    points = operating_points(score.astype(np.float32), label)
    assert points['fpr1']['threshold'] == 1.0
    assert points['fpr1']['fpr'] == pytest.approx(0.03) and points['fpr1']['tpr'] == 1.0


def test_operating_points_need_both_classes():
    with pytest.raises(ValueError, match='anomalous and inlier'):
        operating_points(np.zeros(4, np.float32), np.zeros(4, np.uint8))


def test_bundle_records_operating_points_and_reads_old_bundles(tmp_path):
    bundle = make_random_bundle('pebal_tiny', tmp_path / 'b')
    path = bundle.path / 'bundle.yaml'
    doc = yaml.safe_load(path.read_text())
    assert 'operating_points' not in doc['score']  # an older bundle: threshold only
    old = load_bundle(bundle.path).spec
    assert old.operating_point() == ('threshold', old.threshold, None, None)
    with pytest.raises(BundleError, match="no operating point 'fpr5'.*calibrate"):
        old.operating_point('fpr5')
    points = {'tpr95': {'threshold': 0.2, 'tpr': 0.95, 'fpr': 0.4},
              'fpr5': {'threshold': 0.7, 'tpr': 0.3, 'fpr': 0.05}}
    doc['score'].update(threshold=0.7, operating_points=points, default_operating_point='fpr5')
    path.write_text(yaml.safe_dump(doc))
    spec = load_bundle(bundle.path).spec
    assert spec.operating_point() == ('fpr5', 0.7, 0.3, 0.05)
    assert spec.operating_point('tpr95').threshold == 0.2
    assert 'TPR 30.0 %, FPR 5.0 %' in spec.operating_point().describe()
    assert spec.to_yaml_dict()['score'] == doc['score']
    for change, message in (({'threshold': 0.5}, 'differs from the default'),
                            ({'default_operating_point': 'best_f1'}, "'best_f1' is not among"),
                            ({'operating_points': {**points, 'x': {'threshold': 2.0}}},
                             'operating_points.x')):
        path.write_text(yaml.safe_dump({**doc, 'score': {**doc['score'], **change}}))
        with pytest.raises(BundleError, match=message):
            load_bundle(bundle.path)
