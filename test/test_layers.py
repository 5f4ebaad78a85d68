# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The package's layers (DESIGN §1): imports flow downwards only, no cycles, ROS only in ros/.

Imports are read from the source (module level and inside functions alike), so an import
hidden in a function cannot bring a cycle or an upward arrow back.
"""

import ast
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

PACKAGE = 'pixel_anomaly_ros'
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Floors from the bottom up; a module may import from its own floor or below. Modules on one
#: floor may use each other as long as no cycle forms.
FLOORS = (
    ('errors', 'networks', 'atomic_files'),
    ('scoring', 'coarse_resize'),
    ('bundle', 'bundle_keys', 'bundle_writer', 'external_segmentation', 'operating_point',
     'presets', 'checkpoints', 'imaging', 'resizing', 'score_smoothing', 'visualisation'),
    ('stages',),
    ('runtime',),
    ('pipelines',),
    ('export', 'evaluation', 'synthetic', 'training', 'bench', 'convert', 'convert_onnx',
     'inference'),
    ('ros',),
    ('demo', 'demo_report'),
    ('cli',),
)
#: Import roots that only ros/ may use.
ROS_ROOTS = ('rclpy', 'launch', 'launch_ros', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs',
             'rcl_interfaces', 'lifecycle_msgs', 'builtin_interfaces', 'visualization_msgs')
MAX_LINES = 500


def _modules():
    """Return ``{dotted module name: path}`` of every module of the package."""
    modules = {}
    for path in sorted(ROOT.rglob('*.py')):
        parts = path.relative_to(ROOT.parent).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path):
    """Yield ``(imported name, line)`` for every import statement of a module."""
    is_package = path.name == '__init__.py'
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split('.')[:len(name.split('.')) - node.level + is_package]
                module = '.'.join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module, node.lineno
            for alias in node.names:  # `from package import module`
                yield f'{module}.{alias.name}', node.lineno


def _edges():
    """Return ``{module: {(imported package module, line)}}`` inside the package."""
    edges = {}
    for name, path in MODULES.items():
        own_ancestors = {'.'.join(name.split('.')[:i]) for i in range(1, name.count('.') + 1)}
        targets = set()
        for imported, line in _imports(name, path):
            if not imported or not imported.startswith(PACKAGE):
                continue
            # Importing a.b.c runs a and a.b first; a module's own ancestors already run.
            parts = imported.split('.')
            for i in range(2, len(parts) + 1):
                target = '.'.join(parts[:i])
                if target in MODULES and target != name and target not in own_ancestors:
                    targets.add((target, line))
        edges[name] = targets
    return edges


def _floor(module: str) -> int:
    part = module.split('.')[1] if module.count('.') else ''
    for index, names in enumerate(FLOORS):
        if part in names:
            return index
    raise AssertionError(f'{module} is on no floor of test_layers.FLOORS: add it')


def test_every_module_is_on_a_floor():
    for module in MODULES:
        if module != PACKAGE:
            _floor(module)


def test_no_import_points_upwards():
    upwards = [f'{source}:{line} imports {target} (floor {_floor(target)} > {_floor(source)})'
               for source, targets in _edges().items() if source != PACKAGE
               for target, line in targets if _floor(target) > _floor(source)]
    assert not upwards, '\n'.join(upwards)


def test_no_import_cycle():
    graph = {source: {t for t, _ in targets} for source, targets in _edges().items()}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 'open':
                cycles.append(' -> '.join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, '\n'.join(cycles)


def test_cycle_detection_sees_imports_inside_functions(tmp_path, monkeypatch):
    package = tmp_path / PACKAGE
    (package / 'runtime').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'runtime' / '__init__.py').write_text('')
    (package / 'runtime' / 'a.py').write_text('def f():\n    from . import b\n')
    (package / 'runtime' / 'b.py').write_text(f'from {PACKAGE}.runtime.a import f\n')
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', package)
    monkeypatch.setattr(sys.modules[__name__], 'MODULES', _modules())
    with pytest.raises(AssertionError, match='runtime.a -> .*runtime.b -> .*runtime.a'):
        test_no_import_cycle()


def test_upward_detection_sees_a_low_module_importing_a_high_one(tmp_path, monkeypatch):
    package = tmp_path / PACKAGE
    (package / 'cli').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'cli' / '__init__.py').write_text('')
    (package / 'scoring.py').write_text(f'def f():\n    from {PACKAGE}.cli import main\n')
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', package)
    monkeypatch.setattr(sys.modules[__name__], 'MODULES', _modules())
    with pytest.raises(AssertionError, match='scoring.py|scoring:2 imports .*cli'):
        test_no_import_points_upwards()


def test_only_ros_imports_ros():
    offenders = []
    for name, path in MODULES.items():
        if name.startswith(f'{PACKAGE}.ros'):
            continue
        for imported, line in _imports(name, path):
            if imported and imported.split('.')[0] in ROS_ROOTS:
                offenders.append(f'{path.relative_to(ROOT.parent)}:{line} imports {imported}')
    assert not offenders, '\n'.join(offenders)


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT.parent)): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f'modules over {MAX_LINES} lines: {long}'


def test_every_help_answers_without_heavy_imports():
    script = textwrap.dedent(f"""
        import contextlib, io, sys
        from {PACKAGE}.cli import build_parser, COMMANDS, main
        helps = [['--help']] + [[c, '--help'] for c in COMMANDS] + [['train', 'pebal', '--help']]
        for argv in helps:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                try:
                    main(argv)
                except SystemExit as exit:
                    assert exit.code == 0, argv
            assert 'usage: pixel-anomaly' in out.getvalue(), argv
        heavy = ('torch', 'onnxruntime', 'onnx', 'rosbags', 'rclpy', 'cv2', 'matplotlib',
                 'scipy')
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]', f'--help imported {done.stdout.strip()}'
