# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Your own ONNX segmentation network as a bundle: convert, calibrate (SML), evaluate, the node.

The models are built here (random-weight convnets exported by torch at two opsets): 7 classes
with logits at 1/4 resolution reading BGR 0..255 pixels (dynamic input size), and 19 classes
at full resolution with ImageNet normalisation (static size). Every score is checked against a
numpy re-computation from the model's raw logits (``scorer_reference``).
"""

import json
from pathlib import Path
import time
import warnings

import numpy as np
import onnx
from onnx import helper
import onnxruntime as ort
from pixel_anomaly_ros.bundle import BundleError, BundleSpec, load_bundle
from pixel_anomaly_ros.cli import main
from pixel_anomaly_ros.evaluation.datasets import open_dataset
from pixel_anomaly_ros.export.onnx_ops import allowed_op_types
from pixel_anomaly_ros.external_segmentation import ExternalSegmentation
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.resizing import resize_linear, resize_nearest
from pixel_anomaly_ros.runtime import BackendError, choose_backend
from pixel_anomaly_ros.stages.external_graph import compose_stage_graph, load_network
from pixel_anomaly_ros.training.sml_statistics import ClassStatistics
import pytest
import scorer_reference as reference
from test_evaluate import write_folder_dataset
import torch
from torch import nn

SIZE = (64, 128)  # network input (H, W)
#: case -> (classes, opset, logits stride, dynamic input size)
CASES = {'bgr7_quarter_opset13': (7, 13, 4, True), 'bgr7_quarter_opset18': (7, 18, 4, True),
         'rgb19_full_opset13': (19, 13, 1, False), 'rgb19_full_opset18': (19, 18, 1, False)}
#: What the user says about each model on the command line.
BGR7 = ['--num-classes', '7', '--channel-order', 'bgr', '--input-scale', '255',
        '--mean', '120,110,100', '--std', '60,55,50', '--input-size', f'{SIZE[1]}x{SIZE[0]}']
RGB19 = ['--classes', 'cityscapes']  # defaults: RGB 0..1, ImageNet mean and std


class TinySegmenter(nn.Module):
    """Two convolutions; ``stride`` 4 gives logits at 1/4 of the input."""

    def __init__(self, classes: int, stride: int):
        super().__init__()
        step = 2 if stride == 4 else 1
        self.stem = nn.Conv2d(3, 16, 3, step, 1)
        self.head = nn.Conv2d(16, classes, 3, step, 1)

    def forward(self, x):
        return 4.0 * self.head(torch.relu(self.stem(x)))


def export_model(path: Path, classes: int, opset: int, stride: int, dynamic: bool,
                 seed: int = 0) -> Path:
    """Export a random :class:`TinySegmenter` with the legacy exporter at ``opset``."""
    torch.manual_seed(seed)
    model = TinySegmenter(classes, stride).eval()
    axes = {'image': {2: 'height', 3: 'width'}, 'logits': {2: 'h', 3: 'w'}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, torch.rand(1, 3, *SIZE), str(path), opset_version=opset,
                          input_names=['image'], output_names=['logits'], dynamic_axes=axes,
                          dynamo=False)
    return path


def raw_logits(spec, model_path: Path, image: np.ndarray) -> np.ndarray:
    """Run the user's model alone on an (H, W, 3) RGB image at the network size: (C, h, w)."""
    x = image.transpose(2, 0, 1)[None].astype(np.float32)
    if spec.channel_order == 'bgr':
        x = x[:, ::-1]
    mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)
    session = ort.InferenceSession(str(model_path), providers=['CPUExecutionProvider'])
    return session.run(None, {'image': np.ascontiguousarray((x - mean) / std)})[0][0]


def upsampled(spec, model_path: Path, image: np.ndarray) -> np.ndarray:
    """Raw logits resized to the network size the way the bundle spec says."""
    logits = raw_logits(spec, model_path, image)
    align = spec.external.logits_resize == 'align_corners'
    return reference.resize_bilinear(logits, SIZE, align)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Four labelled frames (96x160, one anomaly box each)."""
    return write_folder_dataset(tmp_path_factory.mktemp('sml_data') / 'data', frames=4)


@pytest.fixture(scope='module')
def converted(tmp_path_factory, data):
    """Every case converted with the SML scorer and calibrated through the CLI."""
    root = tmp_path_factory.mktemp('segmentation_onnx')
    bundles = {}
    for case, (classes, opset, stride, dynamic) in CASES.items():
        model = export_model(root / f'{case}.onnx', classes, opset, stride, dynamic)
        out = root / case
        assert main(['convert', 'segmentation-onnx', '--model', str(model), '--out', str(out),
                     '--scorer', 'sml'] + (BGR7 if classes == 7 else RGB19)) == 0
        assert main(['calibrate', '--bundle', str(out), '--data', str(data), '--quiet']) == 0
        bundles[case] = (load_bundle(out), model)
    return bundles


@pytest.mark.parametrize('case', sorted(CASES))
def test_convert_records_the_model_and_what_it_expects(case, converted):
    bundle, model = converted[case]
    classes, opset, stride, _ = CASES[case]
    spec, external = bundle.spec, bundle.spec.external
    assert spec.variant == 'segmentation_onnx' and spec.num_classes == classes
    assert spec.input_size == SIZE and external.scorer == 'sml'
    assert external.logits_size == (SIZE[0] // stride, SIZE[1] // stride)
    assert external.boundary_suppression and external.dilated_smoothing  # SML's defaults
    assert (bundle.path / 'network.onnx').read_bytes() == model.read_bytes()
    if classes == 7:  # BGR 0..255: R,G,B values stored in the network's (BGR) order
        assert (spec.channel_order, spec.mean, spec.std) == ('bgr', (100, 110, 120),
                                                             (50, 55, 60))
    else:  # RGB 0..1 with ImageNet statistics = 0..255 units x 255
        assert spec.mean == pytest.approx((123.675, 116.28, 103.53))
        assert spec.std == pytest.approx((58.395, 57.12, 57.375))
    graph = onnx.load(str(bundle.onnx_path('posthoc')))
    assert graph.opset_import[0].version == opset
    assert {n.op_type for n in graph.graph.node} <= allowed_op_types()
    assert sorted(p.name for p in bundle.path.iterdir()) == [
        'bundle.yaml', 'network.onnx', 'posthoc.onnx', 'weights.safetensors']


@pytest.mark.parametrize('case', sorted(CASES))
def test_calibrate_records_the_sml_statistics_of_the_inlier_pixels(case, converted, data):
    bundle, model = converted[case]
    sml = bundle.spec.external.sml
    classes = bundle.spec.num_classes
    assert len(sml['mean']) == len(sml['std']) == len(sml['pixels']) == classes
    # The same statistics from the raw model: predicted class and max logit of every pixel
    # labelled inlier, at the network size, unbiased std (official calculate_statistics.py).
    values = {c: [] for c in range(classes)}
    for sample in open_dataset('folder', data):
        logits = upsampled(bundle.spec, model, resize_linear(sample.image, SIZE))
        inlier = resize_nearest(sample.anomaly, SIZE) == 0
        top, winner = logits.max(axis=0)[inlier], logits.argmax(axis=0)[inlier]
        for c in range(classes):
            values[c].extend(top[winner == c])
    measured = [c for c in range(classes) if len(values[c]) >= 2]
    assert len(measured) >= 3
    for c in measured:
        assert sml['pixels'][c] == pytest.approx(len(values[c]), abs=2)
        assert sml['mean'][c] == pytest.approx(np.mean(values[c]), abs=1e-4)
        assert sml['std'][c] == pytest.approx(np.std(values[c], ddof=1), abs=1e-4)
    assert sorted(sml['fallback']) == [c for c in range(classes) if c not in measured]
    assert 'calibration' in bundle.spec.provenance
    assert bundle.spec.score_hi > bundle.spec.score_lo


@pytest.mark.parametrize('case', sorted(CASES))
def test_onnx_runtime_score_equals_numpy_on_the_raw_logits(case, converted):
    bundle, model = converted[case]
    external = bundle.spec.external
    means, stds = external.sml_constants(bundle.spec.num_classes)
    image = np.random.default_rng(7).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    pipeline = create_pipeline(bundle, 'onnxruntime', baselines=True)
    result = pipeline(image, return_maps=True)
    logits = upsampled(bundle.spec, model, image)
    expected = reference.posthoc_score(logits, 'sml', means, stds, suppress=True, smooth=True)
    assert np.abs(result.maps['raw_score'] - expected).max() <= 1e-5
    assert np.array_equal(result.train_ids, logits.argmax(axis=0))
    assert expected.std() > 0.1 and len(np.unique(result.train_ids)) >= 3
    for name in ('max_logit', 'max_softmax', 'entropy', 'energy'):
        baseline = result.maps[f'baseline_{name}']
        assert np.abs(baseline - reference.posthoc_score(logits, name)).max() <= 1e-5, name


@pytest.mark.parametrize('case', sorted(CASES))
def test_evaluate_with_baselines_on_onnx_runtime(case, converted, data, tmp_path):
    bundle, _ = converted[case]
    out = tmp_path / 'report'
    assert main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'folder', '--root',
                 str(data), '--baselines', '--backend', 'onnxruntime', '--out', str(out),
                 '--no-progress']) == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert list(metrics['pixel']) == ['bundle', 'baseline_max_softmax', 'baseline_max_logit',
                                      'baseline_entropy', 'baseline_energy']
    assert metrics['info']['backend'] == 'onnxruntime'
    assert all(0 <= m['ap'] <= 1 for m in metrics['pixel'].values())


@pytest.mark.ros
@pytest.mark.parametrize('case', sorted(CASES))
def test_runs_in_the_node_over_dds(case, converted, start_detector, client):
    pytest.importorskip('rclpy')
    from ros_helpers import RELIABLE, rgb_message, spin_until, wait_for_subscriber
    from sensor_msgs.msg import Image
    bundle, _ = converted[case]
    proc = start_detector(bundle.path, 'backend:=onnxruntime')
    received = {}
    for topic in ('anomaly/score', 'semantic/labels'):
        client.create_subscription(Image, topic,
                                   lambda m, t=topic: received.setdefault(t, m), RELIABLE)
    pub = client.create_publisher(Image, 'image', RELIABLE)
    wait_for_subscriber(client, pub, proc)
    h, w, seed = 72, 100, 5
    for sent in range(50):
        pub.publish(rgb_message(h, w, time.time_ns(), seed=seed))
        if spin_until(client, lambda: len(received) == 2, 1.0, proc):
            break
    assert len(received) == 2, f'got {sorted(received)}'
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)
    expected = create_pipeline(bundle, 'onnxruntime')(image)
    score = np.frombuffer(received['anomaly/score'].data, np.float32).reshape(h, w)
    labels = np.frombuffer(received['semantic/labels'].data, np.uint8).reshape(h, w)
    np.testing.assert_allclose(score, expected.score, atol=1e-5)
    assert np.array_equal(labels, expected.train_ids)
    assert 0 < np.count_nonzero(score) and labels.max() < bundle.spec.num_classes


@pytest.fixture(scope='module')
def model7(tmp_path_factory):
    """Export a 7-class model with 1/4-resolution logits and a static input size."""
    return export_model(tmp_path_factory.mktemp('m7') / 'm7.onnx', 7, 17, 4, False, seed=3)


def _spec(scorer: str, resize: str, **flags) -> BundleSpec:
    rng = np.random.default_rng(1)
    external = ExternalSegmentation(
        input_name='image', logits_output='logits', logits_size=(16, 32), logits_resize=resize,
        scorer=scorer, sml={'mean': list(rng.normal(size=7)),
                            'std': list(rng.uniform(0.5, 2.0, size=7))}, **flags)
    return BundleSpec(name='s', variant='segmentation_onnx', networks={}, input_size=SIZE,
                      num_classes=7, channel_order='bgr', mean=(100, 110, 120),
                      std=(50, 55, 60), external=external)


@pytest.mark.parametrize('resize', ['align_corners', 'half_pixel'])
@pytest.mark.parametrize('scorer, flags', [
    ('energy', {'blur': True}), ('energy', {}), ('max_logit', {}), ('entropy', {}),
    ('max_softmax', {}), ('sml', {}), ('sml', {'boundary_suppression': True}),
    ('sml', {'boundary_suppression': True, 'dilated_smoothing': True}),
    ('max_logit', {'dilated_smoothing': True})])
def test_every_scorer_equals_numpy(model7, scorer, flags, resize):
    spec = _spec(scorer, resize, **flags)
    graph = compose_stage_graph(load_network(model7), spec)
    assert {n.op_type for n in graph.graph.node} <= allowed_op_types()
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    image = np.random.default_rng(2).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    score, ids = session.run(['score', 'train_ids'],
                             {'image': image.transpose(2, 0, 1)[None].astype(np.float32)})
    logits = upsampled(spec, model7, image)
    means, stds = spec.external.sml_constants(7)
    expected = reference.posthoc_score(logits, scorer, means, stds, flags.get('blur', False),
                                       flags.get('boundary_suppression', False),
                                       flags.get('dilated_smoothing', False))
    assert expected.std() > 1e-3
    assert np.abs(score[0, 0] - expected).max() <= 1e-5
    assert np.array_equal(ids[0, 0], logits.argmax(axis=0))


def _identity_model(classes: int = 2) -> onnx.ModelProto:
    """Build a 'network' whose logits are the first ``classes`` input channels (2x2)."""
    x = helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 3, 2, 2])
    y = helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, classes, 2, 2])
    consts = [helper.make_tensor(n, onnx.TensorProto.INT64, [1], [v])
              for n, v in (('s', 0), ('e', classes), ('a', 1))]
    node = helper.make_node('Slice', ['x', 's', 'e', 'a'], ['y'])
    graph = helper.make_graph([node], 'identity', [x], [y], consts)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)


def test_sml_standardises_with_the_class_statistics_by_hand():
    # Two classes: mean 1, std 0.5 (class 0) and mean 4, std 2 (class 1).
    external = ExternalSegmentation(input_name='x', logits_output='y', logits_size=(2, 2),
                                    scorer='sml', sml={'mean': [1.0, 4.0], 'std': [0.5, 2.0]})
    spec = BundleSpec(name='h', variant='segmentation_onnx', networks={}, input_size=(2, 2),
                      num_classes=2, mean=(0, 0, 0), std=(1, 1, 1), external=external)
    spec.validate()
    graph = compose_stage_graph(_identity_model(), spec)
    # Logits (class 0, class 1) of the four pixels = the image's R and G channels.
    logits = np.array([[[2.0, 0.0], [0.5, 1.0]],    # class 0 logits
                       [[0.0, 8.0], [0.0, 2.0]]])   # class 1 logits
    image = np.concatenate([logits, np.zeros((1, 2, 2))]).astype(np.float32)[None]
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    score, ids = session.run(['score', 'train_ids'], {'image': image})
    # (2 - 1) / 0.5 = 2, (8 - 4) / 2 = 2, (0.5 - 1) / 0.5 = -1, (2 - 4) / 2 = -1; negated.
    np.testing.assert_allclose(score[0, 0], [[-2.0, -2.0], [1.0, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(ids[0, 0], [[0, 1], [0, 1]])


def test_class_statistics_by_hand():
    statistics = ClassStatistics(3)
    # Class 0: 1, 3 -> mean 2, unbiased std sqrt(2). Class 1: 4, 6, 8 -> mean 6, std 2.
    # Class 2: one pixel (5) -> the statistics of all pixels: mean 4.5, std sqrt(29.5 / 5).
    statistics.update(np.array([[1.0, 4.0], [9.0, 5.0]]), np.array([[0, 1], [1, 2]]),
                      valid=np.array([[True, True], [False, True]]))
    statistics.update(np.array([[3.0, 6.0, 8.0]]), np.array([[0, 1, 1]]))
    result = statistics.compute()
    assert result['pixels'] == [2, 3, 1] and result['fallback'] == [2]
    np.testing.assert_allclose(result['mean'], [2.0, 6.0, 4.5])
    np.testing.assert_allclose(result['std'], [np.sqrt(2.0), 2.0, np.sqrt(29.5 / 5)])


def _two_input_model(path: Path) -> Path:
    a = helper.make_tensor_value_info('a', onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    b = helper.make_tensor_value_info('b', onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node('Add', ['a', 'b'], ['y'])], 'two', [a, b], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)],
                                ir_version=8), str(path))
    return path


def test_wrong_models_are_refused_in_one_line_leaving_nothing(model7, tmp_path, capsys):
    garbage = tmp_path / 'garbage.onnx'
    garbage.write_bytes(np.random.default_rng(0).bytes(3000))
    cases = [
        ([str(garbage), '--num-classes', '7'], 'garbage.onnx: not an ONNX model'),
        ([str(_two_input_model(tmp_path / 'two.onnx')), '--num-classes', '3'],
         'the model has 2 inputs (a (float 1x3x8x8), b (float 1x3x8x8))'),
        ([str(model7), '--num-classes', '19'],
         'output logits is 1x7x16x32: 7 classes, but the class count given is 19'),
        ([str(model7), '--num-classes', '7', '--logits-output', 'nope'], "no output 'nope'"),
        ([str(tmp_path / 'missing.onnx'), '--classes', 'cityscapes'], 'no such file'),
    ]
    parent = tmp_path / 'bundles'
    parent.mkdir()
    for args, message in cases:
        out = parent / 'b'
        assert main(['convert', 'segmentation-onnx', '--model', *args, '--out', str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and message in err, err
        assert list(parent.iterdir()) == [], 'something was left behind'


def test_torch_cannot_run_it_and_auto_picks_onnx_runtime(converted, data, tmp_path, capsys):
    bundle, _ = converted['bgr7_quarter_opset13']
    assert choose_backend(bundle, 'cpu', 'fp32')[0] == 'onnxruntime'
    with pytest.raises(BackendError, match='use backend onnxruntime or tensorrt'):
        create_pipeline(bundle, 'torch')
    assert main(['evaluate', '--bundle', str(bundle.path), '--dataset', 'folder', '--root',
                 str(data), '--out', str(tmp_path / 'r'), '--no-progress']) == 2
    assert 'which the torch backend cannot run' in capsys.readouterr().err


def test_a_bundle_yaml_without_its_model_section_is_refused(converted, tmp_path):
    bundle, _ = converted['rgb19_full_opset13']
    doc = bundle.spec.to_yaml_dict()
    del doc['segmentation_onnx']
    with pytest.raises(BundleError, match='needs its segmentation_onnx section'):
        BundleSpec.from_yaml_dict(doc)
    doc = bundle.spec.to_yaml_dict()
    doc['segmentation_onnx']['sml']['std'][0] = 0.0
    with pytest.raises(BundleError, match='stds finite and > 0'):
        BundleSpec.from_yaml_dict(doc)


def test_export_int8_quantises_the_users_graph(converted, tmp_path):
    import shutil
    bundle, _ = converted['rgb19_full_opset18']
    copy = tmp_path / 'b'
    shutil.copytree(bundle.path, copy)
    images = tmp_path / 'images'
    images.mkdir()
    rng = np.random.default_rng(4)
    import cv2
    for i in range(3):
        cv2.imwrite(str(images / f'{i}.png'), rng.integers(0, 256, (*SIZE, 3), np.uint8))
    assert main(['export', '--bundle', str(copy), '--int8', '--calibration', str(images)]) == 0
    quantised = onnx.load(str(copy / 'posthoc.int8.onnx'))
    assert any(n.op_type == 'DequantizeLinear' for n in quantised.graph.node)
    loaded = load_bundle(copy)
    assert loaded.has_onnx('int8')
    image = rng.integers(0, 256, (*SIZE, 3), np.uint8)
    int8 = create_pipeline(loaded, 'onnxruntime', precision='int8')(image, return_maps=True)
    fp32 = create_pipeline(loaded, 'onnxruntime')(image, return_maps=True)
    assert np.corrcoef(int8.maps['raw_score'].ravel(), fp32.maps['raw_score'].ravel())[0, 1] > 0.9
    assert choose_backend(loaded, 'cpu', 'int8')[:3] == ('onnxruntime', 'cpu', 'int8')


def test_everything_runs_without_torch(converted, data, tmp_path):
    import subprocess
    import sys
    import textwrap
    _, model = converted['bgr7_quarter_opset18']
    images = tmp_path / 'images'
    images.mkdir()
    import cv2
    for i in range(2):
        cv2.imwrite(str(images / f'{i}.png'),
                    np.random.default_rng(i).integers(0, 256, (*SIZE, 3), np.uint8))
    out = tmp_path / 'bundle'
    script = textwrap.dedent(f"""
        import sys
        sys.modules['torch'] = None  # any import of torch fails
        import numpy as np
        from pixel_anomaly_ros.cli import main
        from pixel_anomaly_ros.bundle import load_bundle
        from pixel_anomaly_ros.pipelines import create_pipeline
        args = {BGR7!r}
        assert main(['convert', 'segmentation-onnx', '--model', {str(model)!r}, '--out',
                     {str(out)!r}, '--scorer', 'sml'] + args) == 0
        assert main(['calibrate', '--bundle', {str(out)!r}, '--data', {str(data)!r},
                     '--quiet']) == 0
        assert main(['evaluate', '--bundle', {str(out)!r}, '--dataset', 'folder', '--root',
                     {str(data)!r}, '--baselines', '--backend', 'onnxruntime',
                     '--no-progress']) == 0
        assert main(['export', '--bundle', {str(out)!r}, '--int8', '--calibration',
                     {str(images)!r}]) == 0
        pipeline = create_pipeline(load_bundle({str(out)!r}), 'auto', precision='int8')
        result = pipeline(np.zeros((40, 60, 3), np.uint8))
        print('RESULT', pipeline.executor.describe()['precision'], result.score.shape)
    """)
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'RESULT int8 (40, 60)' in done.stdout


def test_a_float16_model_gets_casts_around_it(tmp_path):
    # image (float16) -> Cast -> 1x1 Conv (3 -> 5 classes) -> Cast -> logits (float16)
    rng = np.random.default_rng(0)
    weight = onnx.numpy_helper.from_array(rng.normal(size=(5, 3, 1, 1)).astype(np.float32), 'w')
    nodes = [helper.make_node('Cast', ['x'], ['xf'], to=onnx.TensorProto.FLOAT),
             helper.make_node('Conv', ['xf', 'w'], ['yf']),
             helper.make_node('Cast', ['yf'], ['y'], to=onnx.TensorProto.FLOAT16)]
    graph = helper.make_graph(
        nodes, 'half', [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT16,
                                                      [1, 3, 16, 24])],
        [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT16, [1, 5, 16, 24])],
        [weight])
    path = tmp_path / 'half.onnx'
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)],
                                ir_version=8), str(path))
    out = tmp_path / 'bundle'
    assert main(['convert', 'segmentation-onnx', '--model', str(path), '--num-classes', '5',
                 '--scorer', 'max_softmax', '--out', str(out)]) == 0
    bundle = load_bundle(out)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    result = create_pipeline(bundle, 'onnxruntime')(image, return_maps=True)
    mean = np.float32(bundle.spec.mean).reshape(1, 3, 1, 1)
    std = np.float32(bundle.spec.std).reshape(1, 3, 1, 1)
    x = ((image.transpose(2, 0, 1)[None].astype(np.float32) - mean) / std).astype(np.float16)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    logits = session.run(None, {'x': x})[0][0]
    assert logits.dtype == np.float16
    expected = reference.posthoc_score(logits.astype(np.float64), 'max_softmax')
    assert np.abs(result.maps['raw_score'] - expected).max() <= 1e-5
