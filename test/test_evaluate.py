# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: baseline scores, metrics, report files, atomic output and the CLI."""

import json

from conftest import assert_raw_close, assert_varies, make_random_bundle
import cv2
import numpy as np
from pixel_anomaly_ros import cli, scoring
from pixel_anomaly_ros.cli.args import dataset_options, parse_option
from pixel_anomaly_ros.evaluation.components import ComponentEvaluator
from pixel_anomaly_ros.evaluation.datasets.folder import open_folder
from pixel_anomaly_ros.evaluation.datasets.samples import DatasetError
from pixel_anomaly_ros.evaluation.evaluate import evaluate
from pixel_anomaly_ros.evaluation.evaluator import BASELINES
from pixel_anomaly_ros.evaluation.metrics import ExactPixelMetrics
from pixel_anomaly_ros.evaluation.report import (EvaluationResult, REPORT_FILE, ReportError,
                                                 write_report)
from pixel_anomaly_ros.evaluation.semantic_metrics import SemanticConfusion
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.runtime import BackendError
from pixel_anomaly_ros.stages.graphs import build_networks, InputNormaliser
import pytest
import torch

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
PLOTS = ('pr_curves.png', 'roc_curves.png', 'latency_histogram.png', 'examples.png')
TABLE_HEADER = '| method | AP % | FPR95 % | AUROC % |'


def write_folder_dataset(root, frames: int = 5, size=(96, 160), seed: int = 0):
    """
    Write images, 0/1/255 masks and train-id masks with one bright anomaly box per frame.

    :return: the dataset root.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    for sub in ('images', 'labels', 'semantic'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        image = rng.integers(0, 200, (h, w, 3), np.uint8)
        label = np.zeros((h, w), np.uint8)
        y, x = int(rng.integers(8, h - 40)), int(rng.integers(8, w - 50))
        label[y:y + 30, x:x + 40] = 1
        label[:4] = 255
        image[label == 1] = (255, 0, 255)
        semantic = rng.integers(0, 19, (h, w)).astype(np.uint8)
        semantic[label == 1] = 255
        cv2.imwrite(str(root / 'images' / f'frame{i}.png'), image[..., ::-1])
        cv2.imwrite(str(root / 'labels' / f'frame{i}.png'), label)
        cv2.imwrite(str(root / 'semantic' / f'frame{i}.png'), semantic)
    return root


class RecordingPipeline:
    """Wrap a pipeline and keep every result it returns."""

    def __init__(self, pipeline):
        """Wrap ``pipeline``."""
        self.pipeline = pipeline
        self.results = []

    def __getattr__(self, name):
        """Forward attributes (executor, threshold, ...)."""
        return getattr(self.pipeline, name)

    def __call__(self, image, output_size=None, return_maps=False):
        """Run and record."""
        result = self.pipeline(image, output_size, return_maps)
        self.results.append(result)
        return result


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Give a tiny Light bundle, a folder dataset and a report written by the CLI."""
    from pixel_anomaly_ros.evaluation import evaluate as evaluate_module
    root = tmp_path_factory.mktemp('evaluate')
    bundle = make_random_bundle('light_tiny', root / 'bundle', input_size=(64, 128))
    data = write_folder_dataset(root / 'data')
    out = root / 'report'
    pipelines = []

    def recording(*args, **kwargs):
        pipelines.append(RecordingPipeline(create_pipeline(*args, **kwargs)))
        return pipelines[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_module, 'create_pipeline', recording)
        status = cli.main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'folder',
                           '--root', str(data), '--option', 'semantic=semantic',
                           '--baselines', '--out', str(out), '--no-progress'])
    assert status == 0
    # The first frame runs twice (an untimed warm-up run first).
    return {'bundle': bundle, 'data': data, 'out': out, 'results': pipelines[0].results[1:],
            'metrics': json.loads((out / 'metrics.json').read_text())}


def _logits(bundle, image: np.ndarray) -> torch.Tensor:
    spec = bundle.spec
    network = build_networks(spec, bundle.component_state_dicts())['segmentation']
    normaliser = InputNormaliser(spec.mean, spec.std, bgr=spec.channel_order == 'bgr')
    x = torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32))
    with torch.inference_mode():
        return network(normaliser(x))


@pytest.mark.parametrize('preset', ['light_tiny', 'pebal_tiny'])
def test_baselines_are_the_scoring_functions_of_the_logits(tmp_path, preset):
    bundle = make_random_bundle(preset, tmp_path / preset, input_size=(64, 128))
    image = np.random.default_rng(1).integers(0, 256, (64, 128, 3), np.uint8)
    plain = create_pipeline(bundle)(image, return_maps=True)
    result = create_pipeline(bundle, baselines=True)(image, return_maps=True)
    assert not any(k.startswith('baseline_') for k in plain.maps)
    # CPU BLAS may round differently from one pipeline instance (and machine load) to another.
    assert_raw_close(result.maps['raw_score'], plain.maps['raw_score'], rel=1e-4)
    logits = _logits(bundle, image)
    n = bundle.spec.num_classes
    expected = {'baseline_max_softmax': scoring.max_softmax_score(logits, n),
                'baseline_max_logit': scoring.max_logit_score(logits, n),
                'baseline_entropy': scoring.normalised_entropy_score(logits, n),
                'baseline_energy': scoring.free_energy(logits, n)}
    assert set(result.maps) >= set(BASELINES)
    for name, value in expected.items():
        assert result.maps[name].shape == (64, 128), name
        assert_varies(result.maps[name])
        # Same network and weights; convolution kernels may differ in float rounding.
        np.testing.assert_allclose(result.maps[name], value[0, 0].numpy(), rtol=1e-4,
                                   atol=1e-4, err_msg=name)
    assert 0.0 <= result.maps['baseline_max_softmax'].min()
    assert result.maps['baseline_entropy'].max() <= 1.0 + 1e-6


def test_baselines_need_the_torch_backend(setup):
    with pytest.raises(BackendError, match='torch backend'):
        create_pipeline(setup['bundle'], backend='onnxruntime', baselines=True)


def test_report_structure(setup):
    metrics, out = setup['metrics'], setup['out']
    assert metrics['frames'] == 5
    assert list(metrics['pixel']) == ['bundle', *BASELINES]
    for method in metrics['pixel'].values():
        assert {'ap', 'auroc', 'fpr95', 'best_f1', 'best_f1_threshold', 'positives',
                'negatives'} <= set(method)
        assert 0.0 <= method['ap'] <= 1.0 and 0.0 <= method['auroc'] <= 1.0
        assert method['positives'] == 5 * 30 * 40
    assert metrics['components']['gt_components'] == 5
    assert metrics['components']['score_threshold'] == \
        metrics['pixel']['bundle']['best_f1_threshold']
    assert 0.0 <= metrics['semantic']['miou'] <= 1.0
    assert {'preprocess', 'segmentation', 'synthesis', 'dissimilarity', 'postprocess',
            'total'} <= set(metrics['latency_ms'])
    assert metrics['latency_ms']['total']['count'] == 5
    assert metrics['info']['mode'] == 'exact' and metrics['info']['dataset'] == 'folder'
    assert sorted(metrics['frame_names']) == [f'frame{i}' for i in range(5)]
    report = (out / REPORT_FILE).read_text().splitlines()
    assert report[0].startswith('# ') and report[1] == ''
    assert report[2] == TABLE_HEADER
    assert [row.split('|')[1].strip() for row in report[4:9]] == \
        ['bundle', 'max softmax', 'max logit', 'entropy', 'energy']
    text = '\n'.join(report)
    for section in ('## Component metrics', '## Semantic segmentation', '## Latency',
                    '## Mask (operating point)'):
        assert section in text
    assert 'is the strictest' in text and '**FPR95** (lower is better' in text
    assert 'Machine load while timing: one-minute load average' in text
    assert metrics['info']['load_average']['cores'] >= 1
    # The title names the dataset (a generic folder name with its parent), not just 'data'.
    assert report[0] == f"# Anomaly evaluation: {setup['bundle'].spec.name} on " \
        f"{setup['data'].parent.name}/data"
    # The masks' operating point, and what the masks flagged, counted here directly.
    point = metrics['operating_point']
    assert point['name'] == 'threshold' and point['threshold'] == setup['bundle'].spec.threshold
    labels = [cv2.imread(str(setup['data'] / 'labels' / f'frame{i}.png'), 0) for i in range(5)]
    flagged = {name: sum(np.count_nonzero(r.mask & (lab == value))
                         for r, lab in zip(setup['results'], labels)) for name, value in
               (('tpr', 1), ('fpr', 0))}
    assert point['tpr'] == pytest.approx(flagged['tpr'] / metrics['pixel']['bundle']['positives'])
    assert point['fpr'] == pytest.approx(flagged['fpr'] / metrics['pixel']['bundle']['negatives'])
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
        assert f']({name})' in text
    assert not [p for p in out.parent.iterdir() if p.name.startswith('.')]


def test_0_255_masks_and_operating_points(setup, tmp_path, capsys):
    from pixel_anomaly_ros.bundle import load_bundle
    import yaml
    # A folder with 0/255 masks (as drawn in an image editor) is measured, not all void.
    data = tmp_path / 'masks'
    for sub in ('images', 'labels'):
        (data / sub).mkdir(parents=True)
    for i in range(2):
        image = cv2.imread(str(setup['data'] / 'images' / f'frame{i}.png'))
        label = cv2.imread(str(setup['data'] / 'labels' / f'frame{i}.png'), 0)
        cv2.imwrite(str(data / 'images' / f'{i}.jpg'), image)
        cv2.imwrite(str(data / 'labels' / f'{i}.png'), np.where(label == 1, 255, 0))
    bundle = tmp_path / 'bundle'
    import shutil
    shutil.copytree(setup['bundle'].path, bundle)
    doc = yaml.safe_load((bundle / 'bundle.yaml').read_text())
    doc['score'].update(threshold=0.25, default_operating_point='fpr5', operating_points={
        'fpr5': {'threshold': 0.25, 'tpr': 0.5, 'fpr': 0.05},
        'best_f1': {'threshold': 0.75, 'tpr': 0.2, 'fpr': 0.01}})
    (bundle / 'bundle.yaml').write_text(yaml.safe_dump(doc))
    load_bundle(bundle)
    status = cli.main(['evaluate', '--bundle', str(bundle), '--dataset', 'folder', '--root',
                       str(data), '--out', str(tmp_path / 'r'), '--no-progress',
                       '--operating-point', 'best_f1'])
    assert status == 0
    metrics = json.loads((tmp_path / 'r' / 'metrics.json').read_text())
    assert metrics['pixel']['bundle']['positives'] == 2 * 30 * 40
    assert metrics['info']['labels'].startswith('0/255 masks')
    assert metrics['operating_point']['name'] == 'best_f1'
    assert metrics['operating_point']['threshold'] == 0.75
    assert metrics['operating_point']['calibration_fpr'] == 0.01
    assert metrics['info']['operating_point'].startswith('best_f1 (score >= 0.75; calibration')
    text = (tmp_path / 'r' / 'report.md').read_text()
    assert "the bundle's operating point `best_f1`" in text and 'flagged 20.0 %' in text
    capsys.readouterr()
    for extra, message in ((['--operating-point', 'tpr95'], "no operating point 'tpr95'"),
                           (['--threshold', '1.5'], 'in [0, 1], got 1.5')):
        assert cli.main(['evaluate', '--bundle', str(bundle), '--dataset', 'folder', '--root',
                         str(data), '--no-progress', *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count('\n') == 1, err
    result = evaluate(bundle, 'folder', data, threshold=0.0, progress=False, examples=0)
    assert result.operating_point['name'] == 'given'
    assert result.operating_point['tpr'] == result.operating_point['fpr'] == 1.0


def test_metrics_equal_direct_computation(setup):
    exact = {m: ExactPixelMetrics() for m in ('bundle', *BASELINES)}
    semantic = SemanticConfusion()
    scores, labels = [], []
    samples = list(open_folder(setup['data'], semantic='semantic'))
    assert len(samples) == len(setup['results']) == 5
    for sample, result in zip(samples, setup['results']):
        assert result.score.shape == sample.anomaly.shape
        exact['bundle'].update(result.score, sample.anomaly)
        for name in BASELINES:
            resized = cv2.resize(result.maps[name], sample.anomaly.shape[::-1],
                                 interpolation=cv2.INTER_LINEAR)
            exact[name].update(resized, sample.anomaly)
        semantic.update(result.train_ids, sample.semantic)
        scores.append(result.score)
        labels.append(sample.anomaly)
    reported = setup['metrics']['pixel']
    for method, acc in exact.items():
        direct = acc.compute()
        for key in ('ap', 'auroc', 'fpr95', 'best_f1', 'best_f1_threshold'):
            assert reported[method][key] == pytest.approx(getattr(direct, key), abs=1e-12), \
                (method, key)
    components = ComponentEvaluator.for_track('anomaly', exact['bundle'].compute()
                                              .best_f1_threshold)
    for score, label in zip(scores, labels):
        components.update(score, label)
    direct = components.compute()
    assert setup['metrics']['components']['mean_f1'] == pytest.approx(direct.mean_f1)
    assert setup['metrics']['components']['siou'] == pytest.approx(direct.siou)
    assert setup['metrics']['semantic']['miou'] == pytest.approx(semantic.compute().miou)


def test_binned_is_close_to_exact(setup):
    binned = evaluate(setup['bundle'], 'folder', setup['data'], baselines=True, binned=True,
                      examples=0, progress=False)
    assert binned.info['mode'].startswith('binned')
    for method, exact in setup['metrics']['pixel'].items():
        got = binned.pixel[method]
        for key in ('ap', 'auroc', 'fpr95'):
            assert getattr(got, key) == pytest.approx(exact[key], abs=2e-3), (method, key)
        assert got.best_f1 == pytest.approx(exact['best_f1'], abs=2e-3), method
        if got.best_f1_threshold == -np.inf:
            # The first bin's threshold is -inf: flag every pixel, as the exact threshold at
            # (about) the smallest score does.
            continue
        # Unbounded baselines are binned after x / (1 + |x|): thresholds come back unsquashed.
        assert got.best_f1_threshold == pytest.approx(exact['best_f1_threshold'], abs=0.05)


def test_frames_and_limit_select_frames(setup):
    result = evaluate(setup['bundle'], 'folder', setup['data'], frames=['frame3', 'frame1'],
                      examples=1, progress=False)
    assert result.names == ['frame1', 'frame3']
    assert len(result.examples) == 1
    assert evaluate(setup['bundle'], 'folder', setup['data'], limit=1, examples=0,
                    progress=False).names == ['frame0']


def test_failed_runs_leave_no_output(setup, tmp_path):
    out = tmp_path / 'report'
    with pytest.raises(DatasetError):
        evaluate(setup['bundle'], 'folder', tmp_path / 'missing', out=out, progress=False)
    assert not out.exists()
    # A frame that cannot be read half-way: the run fails, nothing is left behind.
    data = write_folder_dataset(tmp_path / 'data', frames=3)
    (data / 'images' / 'frame1.png').write_bytes(b'not a png')
    with pytest.raises(DatasetError, match='frame1'):
        evaluate(setup['bundle'], 'folder', data, out=out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data']


def test_report_directory_is_replaced_or_refused(setup, tmp_path):
    acc = ExactPixelMetrics()
    acc.update(np.array([0.1, 0.9, 0.4], np.float32), np.array([0, 1, 0], np.uint8))
    result = EvaluationResult(title='t', info={}, names=['a'], pixel={'bundle': acc.compute()})
    out = tmp_path / 'report'
    write_report(result, out)
    (out / 'stale.txt').write_text('old')
    write_report(result, out)
    assert sorted(p.name for p in out.iterdir()) == ['metrics.json', 'pr_curves.png',
                                                     'report.md', 'roc_curves.png']
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'notes.txt').write_text('keep me')
    with pytest.raises(ReportError, match='not a report directory'):
        write_report(result, other)
    assert (other / 'notes.txt').read_text() == 'keep me'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['other', 'report']


def test_cli_help(capsys):
    for command in ('evaluate', 'dataset-to-bag', 'replay'):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, '--help'])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert 'Examples:' in text and f'pixel-anomaly {command}' in text


@pytest.mark.parametrize('args, message', [
    (['--dataset', 'folder', '--root', 'MISSING'], 'does not exist'),
    (['--dataset', 'nonsense', '--root', 'DATA'], 'unknown dataset kind'),
    (['--dataset', 'folder', '--root', 'DATA', '--option', 'colour=red'], 'folder:'),
    (['--dataset', 'folder', '--root', 'DATA', '--option', 'labels=nope'], 'nope'),
    (['--dataset', 'folder', '--root', 'DATA', '--baselines', '--backend', 'onnxruntime'],
     'torch backend'),
    (['--dataset', 'bag', '--root', 'DATA'], 'holds no bag'),
])
def test_cli_errors_are_one_line(setup, tmp_path, capsys, args, message):
    args = [a.replace('MISSING', str(tmp_path / 'missing')).replace('DATA', str(setup['data']))
            for a in args]
    out = tmp_path / 'out'
    status = cli.main(['evaluate', '--bundle', str(setup['bundle'].path), '--out', str(out),
                       '--no-progress', *args])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith('pixel-anomaly evaluate: error: ') and '\n' not in err
    assert message in err
    assert not out.exists()


def test_cli_option_parsing_and_dataset_to_bag_errors(tmp_path, capsys):
    assert parse_option('tolerance_ns=5') == ('tolerance_ns', 5)
    assert parse_option('image_topic=/cam') == ('image_topic', '/cam')
    args = cli.build_parser().parse_args(
        ['evaluate', '--bundle', 'b', '--dataset', 'folder', '--root', 'r', '--option',
         'anomaly_values=1,2', '--option', 'void_values=0', '--option', 'inlier_values=null'])
    assert dataset_options(args) == \
        {'anomaly_values': [1, 2], 'void_values': [0], 'inlier_values': None}
    with pytest.raises(SystemExit):
        cli.main(['evaluate', '--bundle', 'b', '--dataset', 'folder', '--root', 'r',
                  '--option', 'novalue'])
    capsys.readouterr()
    status = cli.main(['dataset-to-bag', '--dataset', 'folder', '--root',
                       str(tmp_path / 'missing'), '--out', str(tmp_path / 'bag')])
    assert status == 2 and 'does not exist' in capsys.readouterr().err
    assert not (tmp_path / 'bag').exists()
