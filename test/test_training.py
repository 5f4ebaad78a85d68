# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CPU smoke tests of the trainers, resume, bundles and calibration on a tiny synthetic world."""

import collections
import json
import math

import numpy as np
from pixel_anomaly_ros.bundle import load_bundle, MAX_SMOOTHING, SMOOTHING_CANDIDATES
from pixel_anomaly_ros.checkpoints import CheckpointError
from pixel_anomaly_ros.cli import build_parser
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.presets import preset_spec
from pixel_anomaly_ros.score_smoothing import smooth_score
from pixel_anomaly_ros.synthetic.writer import generate
from pixel_anomaly_ros.training import data as tdata
from pixel_anomaly_ros.training import trainers
from pixel_anomaly_ros.training.loop import build_from, preset_at_size, TrainConfig
import pytest
import torch
import yaml


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp('world') / 'w'
    generate(out, seed=0, train=4, val=2, anomalies=3, size=(128, 256), progress=False)
    return out


@pytest.fixture(scope='module')
def light(world, tmp_path_factory):
    out = tmp_path_factory.mktemp('bundles') / 'light'
    summaries = {}
    for name in ('segmentation', 'synthesis', 'dissimilarity'):
        cfg = TrainConfig(data=str(world), out=str(out), steps=2, progress=False,
                          input_size=(128, 256), crop=(128, 256))
        summaries[name] = getattr(trainers, f'train_{name}')(cfg)
    # Continue the dissimilarity network on predicted semantics (the run-time input).
    cfg = TrainConfig(data=str(world), out=str(out), steps=2, progress=False, crop=(128, 256),
                      extra={'semantic': 'predicted'}, command='second run')
    summaries['dissimilarity_predicted'] = trainers.train_dissimilarity(cfg)
    return out, summaries


def _run(bundle_path):
    image = np.random.default_rng(0).integers(0, 255, (64, 128, 3), dtype=np.uint8)
    result = create_pipeline(load_bundle(bundle_path))(image)
    assert result.score.shape == (64, 128) and np.isfinite(result.score).all()


def test_data_reader_and_generators(world):
    ds = tdata.CityscapesTrainSet(world, crop=(64, 128))
    s = ds.sample(0, np.random.default_rng(0))
    assert s['image'].shape == (64, 128, 3) and s['train_ids'].shape == (64, 128)
    labels, train_ids, target = tdata.synboost_corrupt(
        s['label_ids'], s['instance_ids'], np.random.default_rng(1))
    changed = labels != s['label_ids']
    assert (target[changed] == 1).all()
    assert (target[np.isin(s['label_ids'], tdata.VOID_LABEL_IDS)] == 1).all()
    image, ids, mask = tdata.anomaly_mix(s['image'], s['train_ids'], np.random.default_rng(2))
    assert mask.any() and (ids[mask] == 254).all() and (ids[~mask] == s['train_ids'][~mask]).all()
    src = (np.full((10, 10, 3), 7, np.uint8), np.pad(np.ones((4, 4), bool), 3))
    image, ids, mask = tdata.anomaly_mix(s['image'], s['train_ids'], np.random.default_rng(3),
                                         source=src)
    assert mask.sum() == 16 and (image[mask] == 7).all()


def test_training_crops_are_taken_at_the_network_input_scale(world):
    # The world is 128x256; a network that sees whole images at 64x128 must train on objects
    # half as large, as the pipeline's resize shows them to it at run time.
    native = tdata.CityscapesTrainSet(world, crop=(128, 256), scales=(1.0,), flip=False)
    rng = np.random.default_rng(0)
    assert np.array_equal(native.sample(0, rng)['image'], native.read(0)['image'])
    half = tdata.CityscapesTrainSet(world, crop=(128, 256), scales=(1.0,), flip=False,
                                    size=(64, 128))
    s = half.sample(0, rng)
    assert (s['image'][64:] == 0).all() and (s['train_ids'][64:] == 255).all()
    assert (s['image'][:, 128:] == 0).all() and s['image'][:64, :128].any()
    full = native.read(0)['train_ids']
    assert np.array_equal(s['train_ids'][:64, :128], full[1::2, 1::2])


def test_frames_are_decoded_once_and_kept_read_only_within_the_budget(world):
    cold = tdata.CityscapesTrainSet(world, cache_bytes=0)
    warm = tdata.CityscapesTrainSet(world)
    one = tdata.CityscapesTrainSet(world, cache_bytes=sum(
        a.nbytes for a in cold._decode(0).values()))
    for index in (0, 1, 0, 2, 1):
        expected = cold.read(index)
        for ds in (warm, one):
            got = ds.read(index)
            assert got.keys() == expected.keys()
            assert all(np.array_equal(got[k], expected[k]) and got[k].dtype == expected[k].dtype
                       for k in got)
    assert sorted(warm._decoded) == [0, 1, 2] and sorted(one._decoded) == [0]
    assert not cold._decoded and cold._decoded_bytes == 0
    image = warm.read(0)['image']
    assert not image.flags.writeable  # an edit in place would change every later read
    with pytest.raises(ValueError):
        image[0, 0] = 1
    # AnomalyMix over whole frames (crop = frame, scale 1, no flip) leaves the cache as it was.
    whole = tdata.CityscapesTrainSet(world, crop=(128, 256), scales=(1.0,), flip=False)
    tdata.sample_batch(whole, 6, np.random.default_rng(0), before_crop=tdata.anomaly_mix_edit(1))
    assert all(np.array_equal(whole.read(i)['image'], cold.read(i)['image']) for i in range(3))


def test_icnet_auxiliary_outputs_meet_the_labels_at_their_own_size():
    net = build_from(preset_spec('light_tiny'), None)['segmentation'].train()
    target = torch.from_numpy(np.random.default_rng(0).integers(0, 19, (2, 64, 128)))
    pairs = trainers._cascade_outputs(net, torch.zeros(2, 3, 64, 128), target)
    assert [tuple(o.shape[-2:]) for o, _ in pairs] == [(64, 128), (8, 16), (5, 9)]
    assert pairs[0][1] is target
    # Each label sits where align_corners upsampling of that output puts its pixel.
    for logits, labels in pairs[1:]:
        h, w = logits.shape[-2:]
        rows, cols = [round(i * 63 / (h - 1)) for i in range(h)], [0, 127]
        assert torch.equal(labels[:, :, [0, -1]], target[:, rows][:, :, cols])
    assert [round(i * 63 / 4) for i in range(5)] == [0, 16, 32, 47, 63]


def test_trainers_build_their_networks_channels_last(light):
    # The fixture's trainers saved such networks: safetensors takes contiguous tensors only,
    # so the bundle writer's copy is what let them write the bundle at all.
    bundle = load_bundle(light[0])
    networks = build_from(bundle.spec, bundle.component_state_dicts())
    kernels = [p for n in networks.values() for p in n.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    assert not all(p.is_contiguous() for p in kernels)


def test_anomalymix_pastes_into_the_whole_frame_before_the_crop(world):
    # Pasted into a 32x64 crop, an object could be at most 0.6 x 32 rows tall and would have
    # the crop's perspective; pasted into the 128x256 frame first, it has the camera's.
    ds = tdata.CityscapesTrainSet(world, crop=(32, 64), scales=(1.0,), flip=False)
    frames = []

    def mix(frame, rng):
        frames.append(frame['image'].shape)
        frame['image'], frame['train_ids'], _ = tdata.anomaly_mix(frame['image'],
                                                                  frame['train_ids'], rng)
        return frame

    batch = tdata.sample_batch(ds, 40, np.random.default_rng(0), before_crop=mix)
    assert frames == [(128, 256, 3)] * 40
    assert {s['image'].shape for s in batch} == {(32, 64, 3)}
    heights = [np.ptp(np.nonzero((s['train_ids'] == 254).any(1))[0]) + 1 for s in batch
               if (s['train_ids'] == 254).any()]
    assert heights and max(heights) > 0.6 * 32
    # Without an edit the batch is the one the samples alone give (runs stay reproducible).
    plain = tdata.sample_batch(ds, 3, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    for s in plain:
        alone = ds.sample(int(rng.integers(0, len(ds))), rng)
        assert all(np.array_equal(s[k], alone[k]) for k in s)


def test_light_trainers_write_a_runnable_bundle(light):
    out, summaries = light
    for summary in summaries.values():
        assert np.isfinite(summary['final_loss'])
    spec = load_bundle(out).spec
    assert set(spec.provenance['training']) == {'segmentation', 'synthesis', 'dissimilarity'}
    assert spec.provenance['training']['segmentation']['seed'] == 0
    log = out.parent / 'light.train' / 'segmentation' / 'log.jsonl'
    assert [json.loads(line)['step'] for line in log.read_text().splitlines()] == [1, 2]
    _run(out)


def test_resume_matches_straight_run(world, tmp_path):
    def weights(out):
        return load_bundle(out).component_state_dicts()['segmentation']

    def cfg(out, steps, resume=False, **options):
        return TrainConfig(data=str(world), out=str(out), steps=steps, resume=resume,
                           schedule_steps=4, checkpoint_every=2, progress=False,
                           preset='pebal_icnet_tiny', extra={'mix_prob': 1.0}, lr=1e-3,
                           **options)

    def record(out):
        return load_bundle(out).spec.provenance['training']['pebal']

    trainers.train_pebal(cfg(tmp_path / 'a', 4))
    trainers.train_pebal(cfg(tmp_path / 'b', 2))
    summary = trainers.train_pebal(cfg(tmp_path / 'b', 4, resume=True))
    assert summary['resumed_from'] == 2 and summary['steps_run'] == 2
    # Resuming with fewer --steps than the checkpoint holds is refused, the bundle untouched.
    before = (tmp_path / 'b' / 'bundle.yaml').read_text()
    with pytest.raises(CheckpointError, match='at step 4, past --steps 3; pass --steps 4'):
        trainers.train_pebal(cfg(tmp_path / 'b', 3, resume=True))
    assert (tmp_path / 'b' / 'bundle.yaml').read_text() == before
    # The resumed run's record replaces the one its first part wrote instead of chaining it.
    assert 'previous' not in record(tmp_path / 'b')
    a, b = weights(tmp_path / 'a'), weights(tmp_path / 'b')
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)

    # A run interrupted before it saved (a checkpoint in its work directory, the bundle as the
    # run before left it), then resumed in place, keeps that earlier run's record.
    first = record(tmp_path / 'a')
    trainers.train_pebal(cfg(tmp_path / 'elsewhere', 2, init=str(tmp_path / 'a'),
                             work=str(tmp_path / 'second')))
    trainers.train_pebal(cfg(tmp_path / 'a', 4, resume=True, work=str(tmp_path / 'second')))
    second = record(tmp_path / 'a')
    assert second['resumed_from'] == 2 and second['previous'] == first


def test_dissimilarity_learns_from_anomalymix_objects_when_asked(light, world, tmp_path):
    # With --mix-prob every sample carries a pasted object that is anomalous in the target,
    # so anomalous pixels are more frequent and their class weight drops.
    cfg = TrainConfig(data=str(world), out=str(tmp_path / 'mix'), init=str(light[0]),
                      steps=1, progress=False, crop=(128, 256),
                      extra={'semantic': 'predicted', 'mix_prob': 1.0})
    summary = trainers.train_dissimilarity(cfg)
    plain = light[1]['dissimilarity_predicted']['class_weights']
    assert np.isfinite(summary['final_loss'])
    assert summary['class_weights'][1] < plain[1]


def test_segmentation_class_weights_favour_rare_classes(world, tmp_path):
    def cfg(kind):
        return TrainConfig(data=str(world), out=str(tmp_path / kind), steps=1, progress=False,
                           crop=(128, 256), extra={'class_weights': kind})

    weights = trainers.train_segmentation(cfg('enet'))['class_weights']
    road, pole = weights[0], weights[5]  # road covers far more pixels than poles
    assert len(weights) == 19 and 1.0 < road < pole <= 1 / np.log(1.02)
    assert 'class_weights' not in trainers.train_segmentation(cfg('none'))
    with pytest.raises(ValueError, match='choose none or enet'):
        trainers.train_segmentation(cfg('median'))


def test_segmentation_outlier_exposure_adds_its_loss_on_pasted_objects(world, tmp_path):
    def run(name, **extra):
        cfg = TrainConfig(data=str(world), out=str(tmp_path / name), steps=2, progress=False,
                          crop=(64, 128), batch_size=2, extra=extra)
        summary = trainers.train_segmentation(cfg)
        log = tmp_path / f'{name}.train' / 'segmentation' / 'log.jsonl'
        return summary, [json.loads(line) for line in log.read_text().splitlines()]

    plain, plain_log = run('plain')
    _, zero_log = run('zero', mix_prob=0.0)
    mixed, mixed_log = run('mixed', mix_prob=1.0, outlier_weight=0.5)
    # Off by default, and off leaves the data and the loss of a plain run unchanged.
    assert all(set(r) == {'step', 'loss', 'lr', 'seconds'} for r in plain_log)
    assert [r['loss'] for r in zero_log] == [r['loss'] for r in plain_log]
    # On: every frame has an object; the cross-entropy leaves its pixels out and the
    # uniform-target loss on them (at least ln 19 per cascade output) is added with its weight.
    for record in mixed_log:
        assert record['outlier'] >= math.log(19) * sum(trainers.ICNET_AUX_WEIGHTS) - 1e-4
        assert record['loss'] == pytest.approx(record['ce'] + 0.5 * record['outlier'])
    assert np.isfinite(mixed['final_loss'])
    # PEBAL's energy hinge instead: a squared hinge, also on the inlier pixels.
    _, energy_log = run('energy', mix_prob=1.0, outlier_loss='energy', outlier_weight=0.1)
    for record in energy_log:
        assert record['outlier'] > 0
        assert record['loss'] == pytest.approx(record['ce'] + 0.1 * record['outlier'])
    with pytest.raises(ValueError, match='choose entropy or energy'):
        run('kl', mix_prob=1.0, outlier_loss='kl')


def test_input_size_keeps_the_synthesis_ratio(light):
    spec = load_bundle(light[0]).spec
    record = spec.provenance['training']['dissimilarity']
    assert record['command'] == 'second run' and record['previous']['command'] != 'second run'
    assert spec.input_size == (128, 256) and spec.synthesis_size == (64, 128)
    assert trainers.synthesis_scale(spec) == 2
    assert preset_at_size('light_tiny', (256, 512)).synthesis_size == (128, 256)
    assert preset_at_size('pebal_icnet_tiny', (256, 512)).input_size == (256, 512)
    assert preset_at_size('light_tiny', None) == preset_spec('light_tiny')


def test_synthesis_crop_that_cannot_be_downscaled_is_refused(light, world, tmp_path):
    cfg = TrainConfig(data=str(world), out=str(tmp_path / 'x'), init=str(light[0]), steps=1,
                      crop=(64, 128), progress=False)
    with pytest.raises(ValueError, match=r'--crop 128x64 does not fit.*multiples of 128'):
        trainers.train_synthesis(cfg)
    assert not (tmp_path / 'x').exists()


def test_pebal_from_segmentation_bundle_and_calibrate(light, world, tmp_path):
    out = tmp_path / 'pebal'
    cfg = TrainConfig(data=str(world), out=str(out), init=str(light[0]), steps=2,
                      progress=False, preset='pebal_icnet_tiny')
    before = load_bundle(light[0]).component_state_dicts()['segmentation']
    summary = trainers.train_pebal(cfg)
    assert np.isfinite(summary['final_loss'])
    after = load_bundle(out).component_state_dicts()['segmentation']
    # the backbone is frozen (only BN statistics move); the classifier grew an abstention row
    assert np.array_equal(before['head.conv_cls.weight'].numpy(),
                          after['head.conv_cls.weight'][:19].numpy()) is False
    assert after['head.conv_cls.weight'].shape[0] == 20
    assert np.array_equal(before['conv_sub1.0.conv.weight'].numpy(),
                          after['conv_sub1.0.conv.weight'].numpy())
    # The same command again starts from --init, not from the bundle the first run left.
    trainers.train_pebal(cfg)
    again = load_bundle(out).component_state_dicts()['segmentation']
    assert all(np.array_equal(after[k].numpy(), again[k].numpy()) for k in after)
    parser = build_parser()
    args = parser.parse_args(['calibrate', '--bundle', str(out), '--data', str(world),
                              '--quiet'])
    assert args.func(args) == 0
    doc = yaml.safe_load((out / 'bundle.yaml').read_text())
    assert doc['score']['hi'] > doc['score']['lo'] and 0 <= doc['score']['threshold'] <= 1
    assert 'calibration' in doc['provenance']
    _run(out)


def test_pebal_inlier_cross_entropy_is_added_with_its_weight(light, world, tmp_path):
    def run(name, **extra):
        cfg = TrainConfig(data=str(world), out=str(tmp_path / name), init=str(light[0]),
                          steps=2, progress=False, preset='pebal_icnet_tiny', extra=extra)
        trainers.train_pebal(cfg)
        log = tmp_path / f'{name}.train' / 'pebal' / 'log.jsonl'
        return [json.loads(line) for line in log.read_text().splitlines()]

    published = run('published')
    weighted = run('weighted', inlier_ce_weight=0.5)
    assert all('ce' not in record for record in published)
    for record in weighted:
        pebal = record['pal'] + 0.1 * (record['hinge'] + record['sparsity']
                                       + record['smoothness'])
        assert record['ce'] > 0
        assert record['loss'] == pytest.approx(pebal + 0.5 * record['ce'], rel=1e-5)
    # the first step sees the same weights and data, so the same PEBAL terms
    assert weighted[0]['pal'] == pytest.approx(published[0]['pal'], rel=1e-6)
    args = build_parser().parse_args(['train', 'pebal', '--data', 'd', '--out', 'o',
                                      '--inlier-ce-weight', '0.5'])
    assert args.inlier_ce_weight == 0.5
    with pytest.raises(SystemExit):
        build_parser().parse_args(['train', 'pebal', '--data', 'd', '--out', 'o',
                                   '--inlier-ce-weight', '-1'])


def test_calibrate_synboost_weights(light, world, tmp_path):
    from pixel_anomaly_ros.training.score_calibration import calibrate, weight_grid
    assert len(weight_grid(0.25)) == 35
    result = calibrate(str(light[0]), str(world), out=str(tmp_path / 'cal'), progress=False)
    doc = yaml.safe_load((tmp_path / 'cal' / 'bundle.yaml').read_text())
    assert doc['ensemble'] == result['ensemble']
    assert sum(doc['ensemble'].values()) == pytest.approx(1.0)
    smoothing = {'smoothing': result['smoothing']} if result['smoothing'] else {}
    assert doc['score'] == {'lo': result['score_lo'], 'hi': result['score_hi'],
                            'threshold': result['threshold'], **smoothing,
                            'operating_points': result['operating_points'],
                            'default_operating_point': result['operating_point']}
    assert result['smoothing'] in SMOOTHING_CANDIDATES
    assert doc['provenance']['calibration']['smoothing_candidates'] == list(SMOOTHING_CANDIDATES)
    assert list(result['operating_points']) == ['tpr95', 'best_f1', 'fpr1', 'fpr5']
    default = result['operating_points'][result['operating_point']]
    assert default['threshold'] == result['threshold']
    assert result['operating_point'] == ('best_f1' if result['operating_points']['best_f1'][
        'fpr'] <= 0.05 else 'fpr5')
    assert doc['provenance']['calibration']['objective'] == 'ap_fpr95'
    with pytest.raises(ValueError, match='unknown objective'):
        calibrate(str(light[0]), str(world), objective='auroc', progress=False)


def test_calibrate_with_one_smoothing_keeps_it(light, world, tmp_path):
    from pixel_anomaly_ros.training.score_calibration import calibrate
    for sigma in (0.0, 1.5):
        result = calibrate(str(light[0]), str(world), out=str(tmp_path / f'cal{sigma}'),
                           smoothing=[sigma], progress=False)
        assert result['smoothing'] == sigma
        assert load_bundle(tmp_path / f'cal{sigma}').spec.smoothing == sigma
    for bad in ([], [-1.0], [float('nan')], [MAX_SMOOTHING + 1]):
        with pytest.raises(ValueError, match='smoothing sigmas must lie in'):
            calibrate(str(light[0]), str(world), smoothing=bad, progress=False)


def _blob_maps(seed: int, noisy: bool):
    """Return one image's label and score map: two square objects on a road, above it."""
    rng = np.random.default_rng(seed)
    label = np.zeros((64, 96), np.uint8)
    label[10:26, 20:36] = label[36:52, 60:76] = 1
    score = 0.5 * label + rng.uniform(0.0, 0.3, label.shape)  # apart: AP 1, FPR95 0
    if noisy:
        score[rng.uniform(size=label.shape) < 0.05] = 1.0  # lone false alarms above all
        score[(label == 1) & (rng.uniform(size=label.shape) < 0.3)] = 0.0  # holes in objects
    return label, score.astype(np.float32)


@pytest.mark.parametrize('noisy', [False, True])
def test_the_search_smooths_lone_false_alarms_away(noisy):
    from pixel_anomaly_ros.training.score_calibration import _search, OBJECTIVES
    pairs = [_blob_maps(seed, noisy) for seed in range(4)]
    labels = [lab for lab, _ in pairs]
    label = np.concatenate([lab.ravel() for lab in labels])
    valid = [lab != 255 for lab in labels]
    sigma, weights, raw = _search([[score] for _, score in pairs], valid, label,
                                  list(SMOOTHING_CANDIDATES), np.ones((1, 1)),
                                  OBJECTIVES['ap_fpr95'], progress=False)
    assert (sigma > 0) == noisy  # a clean map keeps its sharp edges
    expected = np.concatenate([smooth_score(score, sigma).ravel() for _, score in pairs])
    np.testing.assert_allclose(raw, expected, rtol=1e-6)
    assert weights.tolist() == [1.0]


def test_the_default_objective_does_not_buy_ap_with_false_alarms():
    from pixel_anomaly_ros.training.score_calibration import OBJECTIVES
    metrics = collections.namedtuple('metrics', 'ap fpr95')
    # noisy: what the AP-only grid chose for the v3 demo Light on its calibration set
    noisy, sharp = metrics(ap=0.274, fpr95=0.602), metrics(ap=0.22, fpr95=0.17)
    assert OBJECTIVES['ap'](noisy) > OBJECTIVES['ap'](sharp)
    assert OBJECTIVES['ap_fpr95'](sharp) > OBJECTIVES['ap_fpr95'](noisy)


def test_calibrate_takes_the_dataset_kinds_and_options_of_evaluate(light, world, tmp_path,
                                                                   capsys):
    parser = build_parser()
    # The same anomaly set through --dataset/--root/--option (labels as a 0/1/255 folder).
    args = parser.parse_args(['calibrate', '--bundle', str(light[0]), '--dataset', 'folder',
                              '--root', str(world / 'anomaly'), '--option',
                              'anomaly_values=1', '--option', 'semantic=semantic',
                              '--out', str(tmp_path / 'a'), '--quiet'])
    assert args.func(args) == 0
    by_kind = json.loads(capsys.readouterr().out)
    args = parser.parse_args(['calibrate', '--bundle', str(light[0]), '--data', str(world),
                              '--out', str(tmp_path / 'b'), '--quiet'])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)['operating_points'] == \
        by_kind['operating_points']
    doc = yaml.safe_load((tmp_path / 'a' / 'bundle.yaml').read_text())
    assert doc['provenance']['calibration']['dataset'] == 'folder'
    assert doc['provenance']['calibration']['options']['semantic'] == 'semantic'
    for argv, message in (([], 'say which data'),
                          (['--data', str(world), '--dataset', 'folder'], 'not both'),
                          (['--dataset', 'folder', '--root', str(world), '--option', 'x=1'],
                           "unknown option 'x'")):
        from pixel_anomaly_ros.cli import main
        assert main(['calibrate', '--bundle', str(light[0]), *argv]) == 2
        assert message in capsys.readouterr().err


def test_cli_help_and_parsing(capsys):
    parser = build_parser()
    for argv in (['train', '--help'], ['train', 'pebal', '--help'], ['calibrate', '--help']):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert 'examples:' in capsys.readouterr().out
    args = parser.parse_args(['train', 'segmentation', '--data', 'd', '--out', 'o',
                              '--crop', '256x128', '--steps', '3'])
    assert args.crop == (128, 256) and args.trainer == 'segmentation'
    assert args.input_size is None
    args = parser.parse_args(['train', 'pebal', '--data', 'd', '--out', 'o',
                              '--input-size', '512x256'])
    assert args.input_size == (256, 512)
    # Outlier exposure: every loss the trainer knows, and probabilities checked at parsing.
    segmentation = _subparser(parser, 'train', 'segmentation')
    action = next(a for a in segmentation._actions if a.dest == 'outlier_loss')
    assert set(action.choices) == set(trainers.SEGMENTATION_OUTLIER_LOSSES)
    for trainer in ('segmentation', 'dissimilarity', 'pebal'):
        for bad in ('1.5', '-0.1', 'half'):
            with pytest.raises(SystemExit):
                parser.parse_args(['train', trainer, '--data', 'd', '--out', 'o',
                                   '--mix-prob', bad])
            assert '--mix-prob' in capsys.readouterr().err


def _subparser(parser, *names):
    for name in names:
        sub = next(a for a in parser._actions if a.__class__.__name__ == '_SubParsersAction')
        parser = sub.choices[name]
    return parser


def test_pebal_fine_tunes_the_decoder_block_or_the_classifier_alone():
    from pixel_anomaly_ros.networks import create_network
    icnet = create_network('icnet_pebal_tiny')
    assert trainers.final_block(icnet) is icnet.head  # cascade fusions + classifier
    assert trainers.final_block(icnet, 'classifier') is icnet.head.conv_cls
    wide = create_network('pebal_wrn38_tiny')
    official = dict(wide.named_modules())
    final = official.get('branch1.final', official.get('final'))
    assert trainers.final_block(wide) is final  # PEBAL's own choice: the whole final block
    assert trainers.final_block(wide, 'classifier') is final[6]
    assert trainers.final_block(icnet, 'all') is icnet
    with pytest.raises(ValueError, match='unknown block'):
        trainers.final_block(icnet, 'backbone')
    args = build_parser().parse_args(['train', 'pebal', '--data', 'd', '--out', 'o',
                                      '--block', 'classifier'])
    assert args.block == 'classifier'
