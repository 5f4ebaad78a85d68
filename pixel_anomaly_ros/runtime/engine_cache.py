# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
TensorRT engine cache: ``<bundle>/engines/<key>/<stage>.plan``, written atomically.

A plan is only valid for the exact ONNX graph, TensorRT version, GPU model and precision it was
built with, so those four make the key. A plan whose recorded key does not match (stale graph,
foreign GPU, other TensorRT) is rebuilt, or refused when rebuilding is not allowed. No
half-written plan is ever left behind: plans go to a temporary file renamed into place.
"""

from dataclasses import asdict, dataclass
import hashlib
import json
import os
from pathlib import Path
import re
from typing import Callable, Optional

from pixel_anomaly_ros.bundle import sha256_file
from pixel_anomaly_ros.runtime.base import BackendError

META_FILE = 'engine.json'


@dataclass(frozen=True)
class EngineKey:
    """What a TensorRT plan depends on."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    precision: str

    @classmethod
    def for_graph(cls, onnx_path, tensorrt_version: str, gpu_name: str, precision: str
                  ) -> 'EngineKey':
        """
        Key of the plan built from an ONNX file.

        :param onnx_path: the stage graph.
        :param tensorrt_version: ``tensorrt.__version__``.
        :param gpu_name: e.g. ``NVIDIA H100 80GB HBM3``.
        :param precision: ``fp32``, ``fp16`` or ``int8``.
        :return: the key.
        """
        return cls(sha256_file(onnx_path), tensorrt_version, gpu_name, precision)

    @property
    def folder(self) -> str:
        """Folder name: readable parts plus a digest of the whole key."""
        gpu = re.sub(r'[^A-Za-z0-9]+', '-', self.gpu_name).strip('-').lower()
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f'trt{self.tensorrt_version}_{gpu}_{self.precision}_{digest[:12]}'


class EngineCache:
    """Finds, validates, builds and stores the plans of one bundle."""

    def __init__(self, bundle_dir):
        """
        Use ``<bundle_dir>/engines`` as the cache.

        :param bundle_dir: the bundle directory.
        """
        self.root = Path(bundle_dir) / 'engines'

    def plan_path(self, key: EngineKey, stage: str) -> Path:
        """Where the plan of ``stage`` for ``key`` lives."""
        return self.root / key.folder / f'{stage}.plan'

    def get(self, key: EngineKey, stage: str, build: Callable[[], bytes],
            rebuild: bool = True, force: bool = False,
            log: Optional[Callable[[str], None]] = None) -> bytes:
        """
        Return a valid plan, building and storing it when needed.

        :param key: the engine key of the stage graph.
        :param stage: stage name.
        :param build: builds the serialised plan (minutes for large graphs).
        :param rebuild: build when no valid plan exists; otherwise refuse with a message.
        :param force: ignore any cached plan and build anew.
        :param log: receives progress messages.
        :return: the serialised plan.
        :raises BackendError: when no valid plan exists and rebuilding is not allowed.
        """
        log = log or (lambda message: None)
        path = self.plan_path(key, stage)
        problem = None if force else self.check(key, stage)
        if not force and problem is None:
            return path.read_bytes()
        if not rebuild:
            raise BackendError(f'{path}: {problem or "rebuild forced"}; allow rebuilding to '
                               f'build the engine on this machine (plans are specific to the '
                               f'graph, GPU, TensorRT version and precision)')
        log(f'building TensorRT engine for {stage} ({problem or "forced"}); this can take '
            f'minutes')
        plan = build()
        if not plan:
            raise BackendError(f'TensorRT returned no engine for {stage}; run with verbose '
                               f'logging to see why the builder failed')
        self.store(key, stage, plan)
        log(f'wrote {path}')
        return plan

    def check(self, key: EngineKey, stage: str) -> Optional[str]:
        """
        Say why the cached plan cannot be used, or ``None`` when it can.

        :param key: the expected key.
        :param stage: stage name.
        :return: the reason, or ``None``.
        """
        path = self.plan_path(key, stage)
        meta_path = path.parent / META_FILE
        if not path.is_file():
            return 'no cached plan'
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return f'{meta_path.name} missing or unreadable'
        recorded = meta.get('stages', {}).get(stage, {})
        if recorded.get('key') != asdict(key):
            return 'the cached plan was built for another graph, GPU, TensorRT or precision'
        if recorded.get('plan_sha256') != sha256_file(path):
            return 'the cached plan is corrupt (checksum mismatch)'
        return None

    def store(self, key: EngineKey, stage: str, plan: bytes) -> Path:
        """
        Write a plan and its record atomically.

        :param key: the key it was built for.
        :param stage: stage name.
        :param plan: the serialised plan.
        :return: the plan path.
        """
        path = self.plan_path(key, stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, plan)
        meta_path = path.parent / META_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {'stages': {}}
        meta['stages'][stage] = {'key': asdict(key),
                                 'plan_sha256': hashlib.sha256(plan).hexdigest()}
        _write_atomic(meta_path, (json.dumps(meta, indent=2) + '\n').encode())
        return path


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
