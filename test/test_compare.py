# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pixel-anomaly compare``: two runs of one bundle at two thresholds, a known difference."""

import json
import shutil

from conftest import make_random_bundle
from fleet_helpers import write_fleet
from pixel_anomaly_ros import cli
from pixel_anomaly_ros.evaluation.compare import compare_runs, CompareError
import pytest


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Give two report directories: one bundle at threshold 0.5 and at 0.8, on two bags."""
    root = tmp_path_factory.mktemp('compare')
    fleet = write_fleet(root / 'fleet')
    bags = root / 'bags'
    for name in ('day1/a', 'day2/d'):  # a labelled and an unlabelled bag
        shutil.copytree(fleet / name, bags / name)
    out = {}
    for threshold in (0.5, 0.8):
        bundle = make_random_bundle('light_tiny', root / f'bundle_{threshold}',
                                    input_size=(64, 128), threshold=threshold)
        out[threshold] = root / f'run_{threshold}'
        assert cli.main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'bag',
                         '--root', str(bags), '--binned', '--out', str(out[threshold]),
                         '--no-progress']) == 0
    return out


def test_a_higher_threshold_moves_the_masks_not_the_scores(runs):
    comparison = compare_runs(runs[0.5], runs[0.8])
    assert comparison.flagged == ['day1/a', 'day2/d']
    for bag in comparison.bags.values():
        a, b = bag.values['anomaly_fraction']
        assert b < a - 0.01  # fewer pixels over the higher threshold
        assert any(flag.startswith('anomaly_fraction') for flag in bag.flags)
        # same network, same calibration: the score distribution is unchanged
        assert not any(flag.startswith('score_') for flag in bag.flags)
        assert bag.values['score_p99'][0] == bag.values['score_p99'][1]
        assert bag.values['frames'][0] == bag.values['frames'][1] > 0
    assert comparison.dataset['pixel.ap'][0] == comparison.dataset['pixel.ap'][1]


def test_a_run_against_itself_passes_and_tolerances_widen_the_range(runs, capsys):
    assert cli.main(['compare', str(runs[0.5]), str(runs[0.5])]) == 0
    assert '2 of 2 bags within tolerance; 0 flagged' in capsys.readouterr().out
    assert compare_runs(runs[0.5], runs[0.8], {'anomaly_fraction': 1.0,
                                               'alarm_rate': 1.0}).flagged == []


def test_cli_flags_and_writes_json(runs, tmp_path, capsys):
    path = tmp_path / 'cmp.json'
    assert cli.main(['compare', str(runs[0.5]), str(runs[0.8]), '--json', str(path)]) == 1
    text = capsys.readouterr().out
    assert '## Flagged bags' in text and '`day2/d`: anomaly_fraction' in text
    saved = json.loads(path.read_text())
    assert saved['flagged'] == ['day1/a', 'day2/d'] and saved['bags']['day1/a']['passed'] is False


def test_missing_bags_and_bad_runs(runs, tmp_path, capsys):
    edited = tmp_path / 'edited'
    shutil.copytree(runs[0.5], edited)
    metrics = json.loads((edited / 'metrics.json').read_text())
    del metrics['bags']['day2/d']
    metrics['bags']['day1/a']['frames'] -= 1
    (edited / 'metrics.json').write_text(json.dumps(metrics))
    comparison = compare_runs(runs[0.5], edited)
    assert comparison.bags['day2/d'].flags == ['only in run A']
    assert comparison.bags['day1/a'].flags == ['frames 5 -> 4']
    with pytest.raises(CompareError, match='cannot read .*nothing'):
        compare_runs(tmp_path / 'nothing', runs[0.5])
    assert cli.main(['compare', str(tmp_path), str(runs[0.5])]) == 2
    assert capsys.readouterr().err.count('\n') == 1
