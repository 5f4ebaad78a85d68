# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""package.xml declares every import; what has no rosdep key, the README installs with pip."""

import ast
from pathlib import Path
import sys
import xml.etree.ElementTree as ElementTree

ROOT = Path(__file__).resolve().parents[1]
#: Import root -> its rosdep key (checked in rosdistro's rosdep/python.yaml and base.yaml, or a
#: ROS package), or None: no key exists, the README's colcon section installs it with pip.
IMPORT_KEYS = {
    'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml',
    'tqdm': 'python3-tqdm', 'matplotlib': 'python3-matplotlib', 'scipy': 'python3-scipy',
    'PIL': 'python3-pil', 'psutil': 'python3-psutil', 'torch': 'python3-pytorch-pip',
    'onnxruntime': 'python3-onnxruntime-pip', 'rosbags': 'python3-rosbags-pip',
    'safetensors': None, 'onnx': None,
    'rclpy': 'rclpy', 'sensor_msgs': 'sensor_msgs', 'std_msgs': 'std_msgs',
    'diagnostic_msgs': 'diagnostic_msgs', 'rcl_interfaces': 'rcl_interfaces',
    'launch': 'launch', 'launch_ros': 'launch_ros', 'ament_index_python': 'ament_index_python',
}
#: Used without being imported by name: torch.onnx's exporter needs onnxscript.
INDIRECT = {'onnxscript': None}
#: Optional accelerators, imported only where they are installed, and Ray, which only
#: ``evaluate --ray`` needs (no rosdep key exists; the README says to pip install it).
OPTIONAL = {'tensorrt', 'torch_tensorrt', 'ray'}


def _import_roots():
    roots = set()
    files = list((ROOT / 'pixel_anomaly_ros').rglob('*.py')) + list((ROOT / 'launch').glob('*.py'))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots.add(node.module.split('.')[0])
    return roots - set(sys.stdlib_module_names) - {'pixel_anomaly_ros'}


def test_every_import_is_declared():
    depends = {e.text for e in ElementTree.parse(ROOT / 'package.xml').getroot()
               if e.tag in ('depend', 'exec_depend')}
    readme = (ROOT / 'README.md').read_text()
    unknown = _import_roots() - set(IMPORT_KEYS) - OPTIONAL
    assert not unknown, f'add these imports to IMPORT_KEYS and package.xml: {sorted(unknown)}'
    for module, key in {**IMPORT_KEYS, **INDIRECT}.items():
        if key is None:
            assert f' {module}' in readme.split('rosdep install')[1].split('```')[0], \
                f'{module}: no rosdep key, so the README colcon section must pip install it'
        else:
            assert key in depends, f'{module}: package.xml lacks <exec_depend>{key}'
