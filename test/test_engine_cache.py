# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT engine cache logic, without a GPU: keys, stale/foreign/corrupt plans, atomicity."""

from pixel_anomaly_ros.runtime.base import BackendError
from pixel_anomaly_ros.runtime.engine_cache import EngineCache, EngineKey
import pytest


@pytest.fixture
def graph(tmp_path):
    path = tmp_path / 'bundle' / 'energy.onnx'
    path.parent.mkdir()
    path.write_bytes(b'onnx graph v1')
    return path


def _key(graph, gpu='NVIDIA H100 80GB HBM3', trt='10.13.0', precision='fp16'):
    return EngineKey.for_graph(graph, trt, gpu, precision)


def test_key_depends_on_graph_gpu_version_and_precision(graph):
    base = _key(graph)
    assert base.folder.startswith('trt10.13.0_nvidia-h100-80gb-hbm3_fp16_')
    others = [_key(graph, gpu='NVIDIA H200'), _key(graph, trt='10.14.1'),
              _key(graph, precision='fp32')]
    graph.write_bytes(b'onnx graph v2')
    others.append(_key(graph))
    assert len({base.folder} | {k.folder for k in others}) == 5


def test_build_once_then_reuse(graph):
    cache, key, builds = EngineCache(graph.parent), _key(graph), []
    build = lambda: builds.append(1) or b'plan-bytes'  # noqa: E731
    messages = []
    assert cache.get(key, 'energy', build, log=messages.append) == b'plan-bytes'
    assert cache.get(key, 'energy', build) == b'plan-bytes'
    assert len(builds) == 1
    assert 'building TensorRT engine for energy (no cached plan)' in messages[0]
    assert cache.plan_path(key, 'energy').parent.parent == graph.parent / 'engines'
    cache.get(key, 'energy', build, force=True)
    assert len(builds) == 2


def test_stale_graph_is_rebuilt_or_refused(graph):
    cache = EngineCache(graph.parent)
    old = _key(graph)
    cache.get(old, 'energy', lambda: b'old plan')
    graph.write_bytes(b'onnx graph v2')
    new = _key(graph)
    with pytest.raises(BackendError, match='allow rebuilding'):
        cache.get(new, 'energy', lambda: b'new plan', rebuild=False)
    assert cache.get(new, 'energy', lambda: b'new plan') == b'new plan'


def test_foreign_record_and_corrupt_plan_are_detected(graph):
    cache = EngineCache(graph.parent)
    key = _key(graph)
    cache.get(key, 'energy', lambda: b'good plan')
    path = cache.plan_path(key, 'energy')
    path.write_bytes(b'good plaN')  # bit rot or a truncated copy
    assert 'corrupt' in cache.check(key, 'energy')
    assert cache.get(key, 'energy', lambda: b'good plan') == b'good plan'
    (path.parent / 'engine.json').write_text('{"stages": {"energy": {"key": {}}}}')
    assert 'another graph, GPU' in cache.check(key, 'energy')
    (path.parent / 'engine.json').unlink()
    assert 'missing' in cache.check(key, 'energy')


def test_failed_or_interrupted_build_leaves_nothing(graph):
    cache, key = EngineCache(graph.parent), _key(graph)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get(key, 'energy', interrupted)
    with pytest.raises(BackendError, match='no engine'):
        cache.get(key, 'energy', lambda: b'')
    assert not cache.plan_path(key, 'energy').exists()
    leftovers = list((graph.parent / 'engines').rglob('*')) if cache.root.exists() else []
    assert not [p for p in leftovers if p.is_file()]


def test_write_is_atomic(graph, monkeypatch):
    cache, key = EngineCache(graph.parent), _key(graph)
    cache.get(key, 'energy', lambda: b'first plan')
    import os
    real_replace = os.replace

    def crash(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(OSError):
        cache.store(key, 'energy', b'second plan')
    monkeypatch.setattr(os, 'replace', real_replace)
    assert cache.plan_path(key, 'energy').read_bytes() == b'first plan'
    assert cache.check(key, 'energy') is None
    assert not list(cache.plan_path(key, 'energy').parent.glob('.*.tmp'))
