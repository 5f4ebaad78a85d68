# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pixel metrics (exact and binned) against scikit-learn, merging, and their benchmark."""

import json
import math
import tracemalloc

import numpy as np
from pixel_anomaly_ros.bench.metrics import benchmark_metrics
from pixel_anomaly_ros.bench.metrics import write_metrics_benchmark
from pixel_anomaly_ros.evaluation.metrics import BinnedPixelMetrics
from pixel_anomaly_ros.evaluation.metrics import ExactPixelMetrics
from pixel_anomaly_ros.evaluation.metrics import pixel_metrics
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.metrics import roc_auc_score, roc_curve


def _random_images(rng, count, shape, decimals, positive=0.1, void=0.05):
    """Return score/label maps; rounding the scores to ``decimals`` creates many ties."""
    scores, labels = [], []
    for _ in range(count):
        label = (rng.random(shape) < positive).astype(np.uint8)
        label[rng.random(shape) < void] = 255
        label[rng.random(shape) < 0.01] = 7  # any other value is void too
        score = rng.normal(size=shape) + 1.2 * (label == 1)
        if decimals is not None:
            score = np.round(score, decimals)
        scores.append(score.astype(np.float32))
        labels.append(label)
    return scores, labels


def _reference(scores, labels):
    """Return sklearn AP, AUROC and the Fishyscapes FPR95 over the valid pixels."""
    score = np.concatenate([s.ravel() for s in scores])
    label = np.concatenate([lab.ravel() for lab in labels])
    valid = (label == 0) | (label == 1)
    y, x = label[valid] == 1, score[valid]
    fpr, tpr, _ = roc_curve(y, x, drop_intermediate=False)  # starts at (0, 0)
    return average_precision_score(y, x), roc_auc_score(y, x), fpr[np.searchsorted(tpr, 0.95)]


@pytest.mark.parametrize('seed, decimals', [(0, 0), (1, 1), (2, 2), (3, None)])
def test_exact_matches_sklearn_with_ties(seed, decimals):
    rng = np.random.default_rng(seed)
    scores, labels = _random_images(rng, 3, (60, 70), decimals)
    # A small chunk exercises the chunked reduction across many threshold chunks.
    acc = ExactPixelMetrics(chunk=97)
    for s, lab in zip(scores, labels):
        acc.update(s, lab)
    m = acc.compute()
    ap, auroc, fpr95 = _reference(scores, labels)
    assert m.ap == pytest.approx(ap, abs=1e-9)
    assert m.auroc == pytest.approx(auroc, abs=1e-9)
    assert m.fpr95 == pytest.approx(fpr95, abs=1e-12)
    valid = np.concatenate([lab.ravel() for lab in labels])
    assert (m.positives, m.negatives) == (np.sum(valid == 1), np.sum(valid == 0))
    # One chunk gives the same numbers.
    one = pixel_metrics(scores, labels)
    assert one.ap == pytest.approx(m.ap, abs=1e-12) and one.fpr95 == m.fpr95


def test_exact_keeps_float64_when_asked():
    rng = np.random.default_rng(4)
    score = rng.normal(size=(50, 50)) * 1e-9  # differences vanish in float32
    label = (rng.random((50, 50)) < 0.2).astype(np.uint8)
    score += 1e-9 * label
    m = pixel_metrics([score], [label], score_dtype=None)
    ap, auroc, fpr95 = _reference([score], [label])
    assert (m.ap, m.auroc) == (pytest.approx(ap, abs=1e-9), pytest.approx(auroc, abs=1e-9))
    assert m.fpr95 == fpr95
    assert ExactPixelMetrics(score_dtype=None).score_dtype is None


def test_best_f1_threshold_is_the_best_pixel_f1():
    rng = np.random.default_rng(5)
    scores, labels = _random_images(rng, 2, (40, 40), 1)
    m = pixel_metrics(scores, labels)
    score = np.concatenate([s.ravel() for s in scores])
    label = np.concatenate([lab.ravel() for lab in labels])
    valid = (label == 0) | (label == 1)
    precision, recall, _ = precision_recall_curve(label[valid] == 1, score[valid])
    with np.errstate(invalid='ignore'):
        f1 = 2 * precision * recall / (precision + recall)
    assert m.best_f1 == pytest.approx(np.nanmax(f1), abs=1e-12)
    # Predicting score >= threshold reaches that F1.
    predicted = score[valid] >= m.best_f1_threshold
    tp = np.sum(predicted & (label[valid] == 1))
    assert 2 * tp / (predicted.sum() + np.sum(label[valid] == 1)) == pytest.approx(m.best_f1)


def test_perfect_and_undefined_cases():
    label = np.array([[0, 0, 1, 1, 255]], dtype=np.uint8)
    score = np.array([[0.1, 0.2, 0.8, 0.9, 5.0]], dtype=np.float32)
    for acc in (ExactPixelMetrics(), BinnedPixelMetrics()):
        acc.update(score, label)
        m = acc.compute()
        assert (m.ap, m.auroc, m.fpr95, m.best_f1) == (1.0, 1.0, 0.0, 1.0)
    # Reversed ranking: every negative is above every positive.
    m = pixel_metrics([-score], [label])
    assert (m.auroc, m.fpr95) == (0.0, 1.0)
    # No positives: AP, AUROC and FPR95 are undefined.
    m = pixel_metrics([score], [np.zeros_like(label)])
    assert math.isnan(m.ap) and math.isnan(m.auroc) and math.isnan(m.fpr95)
    # No negatives: AP is 1, AUROC and FPR95 undefined.
    m = pixel_metrics([score], [np.ones_like(label)])
    assert m.ap == 1.0 and math.isnan(m.auroc) and math.isnan(m.fpr95)


def test_fpr95_takes_the_first_threshold_reaching_exactly_95_percent():
    # Positives score 1..20, negatives 0.5..19.5 in between. At threshold 2, 19 of 20 positives
    # (TPR exactly 0.95) and the 18 negatives 2.5..19.5 are predicted: FPR95 = 18/20. The next
    # threshold with TPR > 0.95 (score 1) would give 19/20.
    score = np.concatenate([np.arange(1, 21), np.arange(20) + 0.5]).astype(np.float32)
    label = np.concatenate([np.ones(20), np.zeros(20)]).astype(np.uint8)
    for acc in (ExactPixelMetrics(), BinnedPixelMetrics(0, 40, bins=80)):
        acc.update(score, label)
        m = acc.compute()
        assert m.fpr95 == 0.9 and m.tpr95_threshold == 2.0
    assert _reference([score], [label])[2] == 0.9


def test_curve_points_lie_on_the_data():
    rng = np.random.default_rng(6)
    scores, labels = _random_images(rng, 2, (200, 200), None)
    m = pixel_metrics(scores, labels)
    c = m.curve
    assert 10 < c.tpr.size <= 1000
    assert (c.tpr[0], c.fpr[0], c.precision[0]) == (0.0, 0.0, 1.0)
    assert (c.tpr[-1], c.fpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(c.thresholds) < 0) and np.all(np.diff(c.tpr) >= 0)
    assert np.all(np.diff(c.fpr) >= 0)
    score = np.concatenate([s.ravel() for s in scores])
    label = np.concatenate([lab.ravel() for lab in labels])
    for i in rng.choice(np.arange(1, c.tpr.size), 20, replace=False):
        predicted = score >= c.thresholds[i]
        tp, fp = np.sum(predicted & (label == 1)), np.sum(predicted & (label == 0))
        assert c.tpr[i] == tp / m.positives and c.fpr[i] == fp / m.negatives
        assert c.precision[i] == tp / (tp + fp)
    # AP from the downsampled curve is close to the exact AP (shape is kept).
    assert np.sum(np.diff(c.recall) * c.precision[1:]) == pytest.approx(m.ap, abs=0.01)
    assert json.loads(json.dumps(m.to_dict(curve=True)))['curve']['tpr'][-1] == 1.0


def test_binned_equals_exact_on_quantised_scores():
    # Scores at bin centres: every bin is one distinct score, so binning loses nothing.
    rng = np.random.default_rng(7)
    bins, lo, hi = 256, -2.0, 6.0
    width = (hi - lo) / bins
    scores, labels = [], []
    for _ in range(3):
        label = (rng.random((80, 80)) < 0.05).astype(np.uint8)
        label[:5] = 255
        index = np.clip(rng.normal(60 + 80 * label, 30), 0, bins - 1).astype(int)
        scores.append((lo + (index + 0.5) * width).astype(np.float64))
        labels.append(label)
    binned = pixel_metrics(scores, labels, binned=True, lo=lo, hi=hi, bins=bins)
    exact = pixel_metrics(scores, labels, score_dtype=None)
    for name in ('ap', 'auroc', 'fpr95', 'best_f1'):
        assert getattr(binned, name) == pytest.approx(getattr(exact, name), abs=1e-12), name
    # Thresholds are lower bin edges; the exact one is the bin centre.
    assert binned.best_f1_threshold == pytest.approx(exact.best_f1_threshold - width / 2)


def _beta_mixture(rng, shape):
    label = (rng.random(shape) < 0.03).astype(np.uint8)
    label[: shape[0] // 8] = 255
    inlier = np.where(rng.random(shape) < 0.9, rng.beta(2, 8, shape), rng.beta(4, 3, shape))
    return np.where(label == 1, rng.beta(5, 2, shape), inlier).astype(np.float32), label


def _gaussian_logits(rng, shape):
    label = (rng.random(shape) < 0.02).astype(np.uint8)
    label[rng.random(shape) < 0.1] = 255
    score = rng.normal(-2.0, 1.5, shape) + rng.normal(4.5, 2.0, shape) * (label == 1)
    return score.astype(np.float32), label


@pytest.mark.parametrize('make, lo, hi', [(_beta_mixture, 0.0, 1.0),
                                          (_gaussian_logits, -12.0, 12.0)])
def test_binned_close_to_exact_on_realistic_scores(make, lo, hi):
    rng = np.random.default_rng(8)
    pairs = [make(rng, (256, 512)) for _ in range(4)]
    exact, binned = ExactPixelMetrics(), BinnedPixelMetrics(lo, hi)
    for score, label in pairs:
        exact.update(score, label)
        binned.update(score, label)
    e, b = exact.compute(), binned.compute()
    assert 0.2 < e.ap < 0.98  # not a trivial problem
    assert abs(b.ap - e.ap) < 0.005  # 0.5 AP points
    assert abs(b.auroc - e.auroc) < 1e-3 and abs(b.fpr95 - e.fpr95) < 1e-3
    assert (b.positives, b.negatives) == (e.positives, e.negatives)


def test_binned_merge_is_bitwise_one_pass():
    rng = np.random.default_rng(9)
    pairs = [_gaussian_logits(rng, (64, 96)) for _ in range(7)]
    one = BinnedPixelMetrics(-10, 10)
    for pair in pairs:
        one.update(*pair)
    workers = [BinnedPixelMetrics(-10, 10) for _ in range(3)]
    for i, pair in enumerate(pairs):
        workers[i % 3].update(*pair)
    merged = BinnedPixelMetrics(-10, 10)
    for w in workers[::-1]:
        merged.merge(w)
    assert np.array_equal(merged.counts, one.counts)
    a, b = merged.compute(), one.compute()
    assert a == b  # every scalar bitwise equal (dataclass equality)
    for name in ('thresholds', 'tpr', 'fpr', 'precision'):
        assert np.array_equal(getattr(a.curve, name), getattr(b.curve, name))
    assert merged.score_range == one.score_range
    with pytest.raises(ValueError):
        merged.merge(BinnedPixelMetrics(-10, 10, bins=100))


def test_exact_merge_equals_one_pass():
    rng = np.random.default_rng(10)
    scores, labels = _random_images(rng, 4, (30, 30), 1)
    one = pixel_metrics(scores, labels)
    left, right = ExactPixelMetrics(), ExactPixelMetrics()
    for i, (s, lab) in enumerate(zip(scores, labels)):
        (left if i % 2 else right).update(s, lab)
    left.merge(right)
    assert left.compute() == one


def test_binned_clips_scores_and_bounds_memory():
    acc = BinnedPixelMetrics(0.0, 1.0, bins=8)
    score = np.array([-np.inf, -3.0, 0.0, 0.124, 0.125, 0.999, 1.0, 7.0, np.inf], np.float32)
    label = np.array([0, 1, 0, 0, 1, 0, 1, 255, 0], np.uint8)
    acc.update(score, label)
    # Bin width 1/8: -inf, -3, 0, 0.124 -> bin 0; 0.125 -> bin 1; 0.999, 1, 7, inf -> bin 7.
    assert acc.counts[0].tolist() == [3, 0, 0, 0, 0, 0, 0, 2]
    assert acc.counts[1].tolist() == [1, 1, 0, 0, 0, 0, 0, 1]
    assert acc.counts[2].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert (acc.positives, acc.negatives, acc.void) == (3, 5, 1)
    assert acc.score_range == (-np.inf, np.inf)
    size = acc.nbytes
    for _ in range(3):
        acc.update(score, label)
    assert acc.nbytes == size and acc.positives == 12


@pytest.mark.parametrize('acc', [ExactPixelMetrics, BinnedPixelMetrics])
def test_bad_inputs_raise(acc):
    label = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError):
        acc().update(np.array([[0.1, np.nan], [0.2, 0.3]]), label)
    with pytest.raises(ValueError):
        acc().update(np.zeros((2, 3), np.float32), label)
    with pytest.raises(ValueError):
        acc().update(np.zeros((2, 2), np.int32), label)


def test_label_types_agree():
    rng = np.random.default_rng(11)
    score, label = _beta_mixture(rng, (32, 32))
    ref = pixel_metrics([score], [label], binned=True)
    assert pixel_metrics([score], [label.astype(np.int64)], binned=True) == ref
    label[label == 255] = 0
    assert (pixel_metrics([score], [label.astype(bool)], binned=True)
            == pixel_metrics([score], [label], binned=True))


def test_exact_peak_estimate_bounds_traced_peak():
    rng = np.random.default_rng(12)
    acc = ExactPixelMetrics(score_dtype=None, chunk=1 << 14)
    tracemalloc.start()
    try:
        for _ in range(3):
            # float64 scores, all distinct: the worst case for the working set.
            acc.update(rng.random((200, 250)), (rng.random((200, 250)) < 0.1).astype(np.uint8))
        assert acc.nbytes == 8 * (acc.positives + acc.negatives)
        estimate = acc.compute_peak_bytes
        acc.compute()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert acc.nbytes < peak <= estimate


def test_benchmark_smoke(tmp_path):
    result = benchmark_metrics(images=3, height=48, width=64, exact_images=2, pool=2)
    runs = result['binned']['runs']
    assert [r['images'] for r in runs] == [3]
    assert runs[0]['median_mpix_s'] > 0 and runs[0]['state_bytes'] == 3 * 8 * (1 << 16)
    assert result['exact']['valid_pixels'] > 0
    assert result['agreement']['ap_points_difference'] < 0.5
    json_path, md_path = write_metrics_benchmark(result, tmp_path)
    assert json.loads(json_path.read_text())['config']['width'] == 64
    assert '| 3 |' in md_path.read_text()
