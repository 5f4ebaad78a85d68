# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Folders of bags, unlabelled bags and their alarm statistics in the serial ``evaluate``."""

import json

from conftest import make_random_bundle
from fleet_helpers import FRAMES, H, SEMANTIC, W, write_fleet
import numpy as np
from pixel_anomaly_ros import cli
from pixel_anomaly_ros.evaluation.alarms import AlarmStatistics, FRACTION_EDGES
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.evaluation.datasets.bag import BagFolderDataset, find_bags
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError
from pixel_anomaly_ros.evaluation.evaluate import evaluate
from pixel_anomaly_ros.evaluation.report import REPORT_FILE
from pixel_anomaly_ros.evaluation.shards import plan_shards
import pytest


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """Give a folder of bags (see fleet_helpers.write_fleet)."""
    return write_fleet(tmp_path_factory.mktemp('fleet') / 'bags')


def test_find_bags_recurses_and_skips_hidden(fleet):
    names = [p.relative_to(fleet).as_posix() for p in find_bags(fleet)]
    assert names == sorted(FRAMES)
    assert find_bags(fleet / 'day1' / 'a') == [fleet / 'day1' / 'a']
    assert find_bags(fleet / 'day1' / 'b.mcap') == [fleet / 'day1' / 'b.mcap']


def test_folder_dataset_reports_unreadable_bags(fleet):
    data = open_dataset('bag', fleet, semantic_topic=SEMANTIC)
    assert isinstance(data, BagFolderDataset)
    assert set(data.failed) == {'broken.mcap'}
    assert data.bags['day2/d'].labelled is False and data.bags['day1/a'].labelled is True
    frames = list(data)
    assert set(data.failed) == {'broken.mcap', 'day2/e'}
    assert 'is 160x48' in data.failed['day2/e']
    counts = {}
    for sample in frames:
        counts[sample.source] = counts.get(sample.source, 0) + 1
        assert sample.name.startswith(f'{sample.source}/')
        assert (sample.anomaly is None) == (sample.source == 'day2/d')
    assert counts == {k: v for k, v in FRAMES.items() if v}


def test_single_bag_names_and_labels_option(fleet):
    data = open_dataset('bag', fleet / 'day1' / 'a')
    assert [s.name for s in data][0] == '1700000000000000000'
    unlabelled = open_dataset('bag', fleet / 'day2' / 'd')
    assert unlabelled.labelled is False and len(unlabelled) == 3
    with pytest.raises(DatasetError, match='/camera/anomaly_label'):
        open_dataset('bag', fleet / 'day2' / 'd', labels=True)
    assert open_dataset('bag', fleet / 'day1' / 'a', labels=False).labelled is False
    empty = fleet.parent / 'empty'
    empty.mkdir(exist_ok=True)
    with pytest.raises(DatasetError, match='holds no bag'):
        open_dataset('bag', empty)


def test_alarm_statistics_merge_equals_one_pass():
    rng = np.random.default_rng(0)
    frames = [(rng.random((H, W), np.float32), rng.random((H, W)) < f)
              for f in (0.0, 0.0005, 0.02, 0.3, 1.0)]
    one = AlarmStatistics(0.001)
    parts = [AlarmStatistics(0.001), AlarmStatistics(0.001)]
    for i, (score, mask) in enumerate(frames):
        one.update(score, mask)
        parts[i % 2].update(score, mask)
    parts[0].merge(parts[1])
    assert parts[0].summary() == one.summary()
    s = one.summary()
    assert s['frames'] == 5 and s['alarm_frames'] == 3 and s['alarm_rate'] == 0.6
    assert s['fraction_histogram']['counts'][0] == 1  # the empty mask
    assert s['fraction_histogram']['counts'][-1] == 1  # the full one (edge 1 included)
    assert sum(s['fraction_histogram']['counts']) == 5
    assert len(s['fraction_histogram']['edges']) == len(FRACTION_EDGES)
    assert s['score_quantiles']['p50'] == pytest.approx(0.5, abs=0.01)
    assert 0.0 < s['score_quantiles']['p90'] - 0.9 <= 0.011
    with pytest.raises(ValueError, match='different'):
        one.merge(AlarmStatistics(0.01))


def test_plan_shards_tile_each_bag(fleet):
    shards, total = plan_shards(fleet, shard_frames=2)
    assert total is None  # the corrupt bag has no index
    by_bag = {}
    for shard in shards:
        by_bag.setdefault(shard.bag, []).append(shard)
    assert list(by_bag) == sorted(FRAMES)
    assert [(s.start, s.stop) for s in by_bag['day1/a']] == [(0, 2), (2, 4), (4, 5)]
    assert [s.index for s in by_bag['day1/a']] == [0, 1, 2]
    assert [(s.start, s.stop) for s in by_bag['broken.mcap']] == [(None, None)]
    single, count = plan_shards(fleet / 'day1' / 'a', shard_frames=10)
    assert count == 5 and [(s.bag, s.source, s.start) for s in single] == [('a', None, None)]


def test_evaluate_folder_lists_every_bag(fleet, tmp_path, capsys):
    bundle = make_random_bundle('light_tiny', tmp_path / 'bundle', input_size=(64, 128))
    out = tmp_path / 'report'
    assert cli.main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'bag', '--root',
                     str(fleet), '--option', f'semantic_topic={SEMANTIC}', '--binned',
                     '--out', str(out), '--no-progress']) == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    bags = metrics['bags']
    assert list(bags) == sorted(FRAMES)
    assert {k: b['frames'] for k, b in bags.items()} == FRAMES
    assert bags['broken.mcap']['status'] == 'failed' and bags['broken.mcap']['paired'] is None
    assert bags['day2/e']['status'] == 'failed' and bags['day2/e']['paired'] == 5
    assert bags['day2/d']['labelled'] is False and bags['day1/a']['labelled'] is True
    labelled = sum(v for k, v in FRAMES.items() if k != 'day2/d')
    assert metrics['frames'] == labelled == len(metrics['frame_names'])
    assert metrics['components'] is not None and metrics['semantic']['pixels'] > 0
    assert bags['day2/d']['alarms']['frames'] == 3
    report = (out / REPORT_FILE).read_text()
    assert '## Bags' in report and '`broken.mcap`' in report and '`day2/e`' in report
    # the latency of unlabelled frames counts too
    assert metrics['latency_ms']['total']['count'] == labelled + FRAMES['day2/d']


def test_evaluate_unlabelled_bag_has_alarm_statistics_only(fleet, tmp_path):
    bundle = make_random_bundle('light_tiny', tmp_path / 'bundle', input_size=(64, 128))
    result = evaluate(bundle.path, 'bag', fleet / 'day2' / 'd', progress=False)
    assert result.pixel == {} and result.components is None and result.frames == 0
    [(name, bag)] = result.bags.items()
    assert name == 'd' and bag['frames'] == 3 and bag['labelled'] is False
    assert 0.0 <= bag['alarms']['alarm_rate'] <= 1.0
    assert sum(bag['alarms']['fraction_histogram']['counts']) == 3
