# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament linters over the whole package: flake8, pep257 and XML checks."""

from pathlib import Path
import xml.etree.ElementTree as ElementTree

from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main
import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_PATHS = [str(ROOT / p) for p in ('pixel_anomaly_ros', 'test', 'launch', 'setup.py')
                if (ROOT / p).exists()]


@pytest.mark.linter
@pytest.mark.flake8
def test_flake8():
    rc, errors = flake8_main(argv=PYTHON_PATHS)
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = pep257_main(argv=PYTHON_PATHS)
    assert rc == 0, 'Found code style errors / warnings'


def _xml_files():
    files = [ROOT / 'package.xml']
    files += sorted((ROOT / 'config').glob('*.xml'))
    return files


@pytest.mark.linter
@pytest.mark.xmllint
@pytest.mark.parametrize('path', _xml_files(), ids=lambda p: p.name)
def test_xmllint(path):
    # ament_xmllint is not published on PyPI and its schemas are fetched over the network;
    # offline this checks that every XML file is well-formed and that package.xml is a valid
    # format-3 manifest (catkin_pkg, the parser colcon uses, validates names, versions,
    # dependencies and the export section).
    ElementTree.parse(path)
    if path.name == 'package.xml':
        from catkin_pkg.package import parse_package
        package = parse_package(str(path.parent))
        package.validate()
        assert package.package_format == 3
        assert package.name == 'pixel_anomaly_ros'
        assert [(e.tagname, e.content) for e in package.exports] == [
            ('build_type', 'ament_python')]
