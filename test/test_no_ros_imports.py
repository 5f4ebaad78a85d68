# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Everything below ros/ imports and runs with rclpy made unimportable."""

from pathlib import Path
import subprocess
import sys
import textwrap

PACKAGE_DIR = Path(__file__).resolve().parent.parent / 'pixel_anomaly_ros'
#: Every module outside ``ros/``, found on disk so a new module is checked automatically.
PURE_MODULES = sorted(
    '.'.join(('pixel_anomaly_ros',) + path.relative_to(PACKAGE_DIR).with_suffix('').parts)
    .replace('.__init__', '')
    for path in PACKAGE_DIR.rglob('*.py') if 'ros' not in path.relative_to(PACKAGE_DIR).parts)


def test_pure_layers_do_not_import_rclpy(tmp_path):
    script = textwrap.dedent(f"""
        import importlib, sys
        for name in ('rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs'):
            sys.modules[name] = None  # any import of these now raises ImportError
        for module in {PURE_MODULES!r}:
            importlib.import_module(module)
        from pixel_anomaly_ros.pipelines import create_pipeline
        from pixel_anomaly_ros.bundle import load_bundle
        from pixel_anomaly_ros.bundle_writer import write_bundle
        from pixel_anomaly_ros.stages.graphs import build_networks
        from pixel_anomaly_ros.presets import preset_spec
        import numpy as np
        spec = preset_spec('pebal_tiny')
        nets = build_networks(spec)
        bundle = write_bundle(spec, {{c: n.state_dict() for c, n in nets.items()}},
                              {str(tmp_path / 'b')!r})
        result = create_pipeline(load_bundle(bundle.path))(np.zeros((64, 64, 3), np.uint8))
        assert result.score.shape == (64, 64)
        loaded = sorted(m for m, v in sys.modules.items()
                        if v is not None and m.startswith(('rcl', 'rosidl', 'rmw')))
        print('OK', loaded)
        """)
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('OK []'), proc.stdout


def test_image_codec_needs_neither_rclpy_nor_rosbags():
    script = textwrap.dedent("""
        import sys
        from types import SimpleNamespace
        for name in ('rclpy', 'sensor_msgs', 'std_msgs', 'rosbags'):
            sys.modules[name] = None  # any import of these now raises ImportError
        import numpy as np
        from pixel_anomaly_ros.imaging import decode_image, image_fields
        fields = image_fields(np.arange(12, dtype=np.uint16).reshape(3, 4), 'mono16')
        rgb, encoding = decode_image(SimpleNamespace(**fields._asdict()), 'rgb8')
        assert encoding == 'rgb8' and rgb.shape == (3, 4, 3)
        loaded = sorted(m for m, v in sys.modules.items()
                        if v is not None and m.startswith(('rcl', 'rosidl', 'rmw', 'rosbags')))
        print('OK', loaded)
        """)
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('OK []'), proc.stdout
