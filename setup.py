# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Install pixel_anomaly_ros as an ament_python package (colcon build or pip install)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'pixel_anomaly_ros'


def model_data_files() -> list:
    """Install every shipped model bundle under share/<package>/models/<bundle>/."""
    files = []
    for bundle_dir in sorted(glob('models/*/')):
        payload = [f for f in glob(os.path.join(bundle_dir, '*')) if os.path.isfile(f)]
        if payload:
            files.append((os.path.join('share', PACKAGE, bundle_dir.rstrip('/')), payload))
    return files


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['data/*.txt']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', sorted(glob('launch/*.launch.py'))),
        ('share/' + PACKAGE + '/config', sorted(glob('config/*.yaml') + glob('config/*.rviz')
                                                + glob('config/*.xml'))),
        ('share/' + PACKAGE + '/models', glob('models/*.md')),
    ] + model_data_files(),
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='pixel_anomaly_ros developers',
    maintainer_email='pixel-anomaly@example.com',
    description='Real-time pixel-wise anomaly detection (SynBoost Light, PEBAL) for ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'pixel-anomaly = pixel_anomaly_ros.cli:main',
            'detector_node = pixel_anomaly_ros.ros.detector_node:main',
        ],
    },
)
