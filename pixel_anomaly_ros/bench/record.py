# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one benchmark record: machine, library versions, load, medians / p95, as JSON + Markdown.

Numbers from one machine are only comparable with the machine beside them, so every record
says where and when it was measured, and how loaded the machine was before and after.
"""

from datetime import datetime, timezone
from importlib import metadata
import json
import os
from pathlib import Path
import platform
import sys
from typing import Callable, Dict, Iterable, Tuple

import numpy as np

#: Libraries whose versions a record names (when installed).
LIBRARIES = ('numpy', 'torch', 'onnxruntime', 'opencv-python-headless', 'tensorrt')


def cpu_name() -> str:
    """Return the CPU model name (from /proc/cpuinfo where available)."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float:
    """Return the one-minute load average (0.0 where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return 0.0


def machine_info() -> Dict[str, object]:
    """
    Describe this machine: CPU, cores, load, Python, library versions, the GPU torch sees.

    :return: a JSON-ready mapping.
    """
    info = {'cpu': cpu_name(), 'cores': os.cpu_count(), 'load_average': load_average(),
            'python': platform.python_version(), 'platform': platform.platform()}
    for library in LIBRARIES:
        try:
            info[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            pass
    torch = sys.modules.get('torch')  # only when the benchmark itself uses torch
    if torch is not None:
        info['torch_threads'] = torch.get_num_threads()
        if torch.cuda.is_available():
            info['gpu'] = torch.cuda.get_device_name(0)
    return info


def latency_stats(values_ms: Iterable[float]) -> Dict[str, float]:
    """
    Summarise timings.

    :param values_ms: milliseconds, one per run.
    :return: ``{'median_ms', 'p95_ms', 'max_ms'}``.
    """
    values = np.asarray(list(values_ms), dtype=np.float64)
    return {'median_ms': float(np.median(values)), 'p95_ms': float(np.percentile(values, 95)),
            'max_ms': float(values.max())}


def write_record(record: Dict[str, object], render: Callable[[Dict[str, object]], str],
                 out_dir, stem: str) -> Tuple[Path, Path]:
    """
    Write one benchmark record as ``<stem>.json`` and ``<stem>.md``, each atomically.

    :param record: the figures; ``date`` and ``machine`` are added when missing.
    :param render: turns the completed record into Markdown (end it with
        :func:`machine_line`).
    :param out_dir: output directory (created if missing).
    :param stem: file name without extension.
    :return: paths of the JSON and Markdown files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {'date': datetime.now(timezone.utc).isoformat(timespec='seconds'),
              'machine': machine_info(), **record}
    json_path, md_path = out_dir / f'{stem}.json', out_dir / f'{stem}.md'
    write_text_atomic(json_path, json.dumps(record, indent=2) + '\n')
    write_text_atomic(md_path, render(record).rstrip('\n') + '\n')
    return json_path, md_path


def machine_line(machine: Dict[str, object]) -> str:
    """
    Render a :func:`machine_info` mapping as one Markdown line.

    :param machine: the mapping.
    :return: ``Machine: cpu ..., cores ..., ...``.
    """
    return 'Machine: ' + ', '.join(f'{k} {v}' for k, v in machine.items())


def write_text_atomic(path: Path, text: str) -> None:
    """
    Write a text file atomically (temporary sibling, then rename).

    :param path: destination.
    :param text: content.
    """
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
