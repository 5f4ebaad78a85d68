# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The shipped demo bundles: how they were made, their ONNX graphs, and what they score."""

from pathlib import Path
import re
import shlex

import numpy as np
from pixel_anomaly_ros.bundle import load_bundle
from pixel_anomaly_ros.pipelines import create_pipeline
from pixel_anomaly_ros.synthetic.writer import generate
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Options that do not change the result: no progress bar; continue from the checkpoint (the
#: same result as a straight run).
UNRECORDED = ('--quiet', '--resume')
DEMO = {'demo_light': ('synboost_light', ('segmentation', 'synthesis', 'dissimilarity')),
        'demo_pebal': ('pebal', ('pebal',))}


def _makefile_commands() -> list:
    """Return every ``pixel-anomaly`` command of the ``demo-bundles`` rules as argument lists."""
    text = (ROOT / 'Makefile').read_text().replace('\\\n', ' ')
    section = text.split('\ndemo-bundles:', 1)[1].split('\n\n', 1)[0]
    variables = dict(re.findall(r'^(\w+) := (.+)$', text, re.M))
    commands = []
    for line in section.splitlines():
        if not line.startswith('\t$(PA) '):
            continue
        while re.search(r'\$\((\w+)\)', line):  # variables may name variables
            line = re.sub(r'\$\((\w+)\)', lambda m: variables[m.group(1)], line)
        words = shlex.split(line.replace('.venv/bin/pixel-anomaly', 'pixel-anomaly'))
        commands.append([word for word in words if word not in UNRECORDED])
    return commands


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    """Return one held-out synthetic anomaly image and its label (seed 1, as the demo)."""
    out = tmp_path_factory.mktemp('world') / 'w'
    generate(out, seed=1, train=0, val=0, anomalies=1, size=(256, 512), progress=False)
    from pixel_anomaly_ros.evaluation.datasets import open_dataset
    return next(iter(open_dataset('folder', out / 'anomaly')))


@pytest.mark.parametrize('name', sorted(DEMO))
def test_demo_bundle_records_the_commands_of_the_makefile(name):
    variant, components = DEMO[name]
    bundle = load_bundle(ROOT / 'models' / name)
    assert bundle.spec.variant == variant
    recipe = _makefile_commands()
    training = bundle.spec.provenance['training']
    for component in components:
        record = training[component]
        while record:  # the run that made the weights, then the runs it continued
            typed = [arg for arg in shlex.split(record['command']) if arg not in UNRECORDED]
            assert typed in recipe, record['command']
            seed = typed[typed.index('--seed') + 1]  # the seed the run reports is the one typed
            assert record['seed'] == int(seed) and np.isfinite(record['final_loss'])
            record = record.get('previous')
    calibration = bundle.spec.provenance['calibration']
    assert shlex.split(calibration['command']) in recipe
    for stage in bundle.spec.stage_inputs():
        assert (bundle.path / f'{stage}.onnx').is_file(), f'{name}: {stage}.onnx not exported'
    size = sum(f.stat().st_size for f in bundle.path.iterdir() if f.is_file())
    assert size < 30 * 2**20, f'{name} is {size / 2**20:.1f} MiB'


@pytest.mark.parametrize('name', sorted(DEMO))
def test_demo_bundle_onnx_graphs_match_pytorch_and_find_the_anomaly(name, scene):
    bundle = load_bundle(ROOT / 'models' / name)
    results = {}
    for backend in ('torch', 'onnxruntime'):
        pipeline = create_pipeline(bundle, backend=backend)
        try:
            results[backend] = pipeline(scene.image, output_size=scene.anomaly.shape)
        finally:
            pipeline.executor.close()
    np.testing.assert_allclose(results['onnxruntime'].score, results['torch'].score, atol=1e-3)
    score, label = results['torch'].score, scene.anomaly
    # A trained detector scores the anomaly above the inlier pixels of the same image.
    assert score[label == 1].mean() > score[label == 0].mean()
