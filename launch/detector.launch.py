# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Start detector_node, and RViz if asked, with the shared-memory Fast DDS profile.

    ros2 launch pixel_anomaly_ros detector.launch.py image:=/front/image_raw use_rviz:=true

Arguments override the parameters file; leave ``backend``, ``device`` or ``precision`` empty
to keep the file's value (or the node's default). ``ros2 launch pixel_anomaly_ros
detector.launch.py --show-args`` lists every argument with its description. ``use_rviz:=true``
without RViz installed warns and starts the detector alone.
"""

import os
import shutil

from ament_index_python.packages import (get_package_prefix, get_package_share_directory,
                                         PackageNotFoundError)
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
import launch.logging
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'pixel_anomaly_ros'

#: Output topics of detector_node, relative to its namespace (config/detector.rviz shows them
#: from the root namespace, so RViz gets remappings when ``namespace`` is set).
OUTPUT_TOPICS = ('anomaly/score', 'anomaly/heatmap', 'anomaly/mask', 'anomaly/overlay',
                 'semantic/labels', 'semantic/color')
#: The camera topic that config/detector.rviz displays.
RVIZ_CAMERA_TOPIC = '/camera/image_raw'

_TRUE = ('true', '1', 'yes', 'on')
_FALSE = ('false', '0', 'no', 'off', '')


def _share_dir() -> str:
    # Installed: share/pixel_anomaly_ros. Run from the source tree (no ament index entry, or no
    # AMENT_PREFIX_PATH at all): the package root, which has the same config/ and models/ layout.
    try:
        return get_package_share_directory(PACKAGE)
    except (PackageNotFoundError, OSError):
        return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rviz_installed() -> bool:
    # launch_ros starts rviz2 from the ament index (<prefix>/lib/rviz2/rviz2); without an index
    # entry, an rviz2 on the PATH will do.
    try:
        prefix = get_package_prefix('rviz2')
    except (PackageNotFoundError, ValueError, KeyError, OSError):
        return shutil.which('rviz2') is not None
    return os.access(os.path.join(prefix, 'lib', 'rviz2', 'rviz2'), os.X_OK)


def _as_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"launch argument '{name}' must be true or false, got '{text}'")


def _absolute(namespace: str, topic: str) -> str:
    # The name a relative topic of a node in ``namespace`` resolves to.
    if topic.startswith('/'):
        return topic
    return (namespace + '/' + topic) if namespace else '/' + topic


def _launch_setup(context, *args, **kwargs) -> list:
    """
    Build the detector (and RViz) nodes from the evaluated launch arguments.

    :param context: the launch context holding the argument values.
    :param args: unused.
    :param kwargs: unused.
    :return: the actions to run.
    """
    def arg(name):
        return LaunchConfiguration(name).perform(context).strip()

    namespace = arg('namespace').strip('/')
    namespace = '/' + namespace if namespace else ''
    image = arg('image')
    compressed = _as_bool('compressed', arg('compressed'))
    use_sim_time = _as_bool('use_sim_time', arg('use_sim_time'))

    overrides = {'bundle': arg('bundle'), 'input.compressed': compressed,
                 'use_sim_time': use_sim_time}
    for name in ('backend', 'device', 'precision'):
        if arg(name):
            overrides[name] = arg(name)

    env = {}
    if _as_bool('use_shm', arg('use_shm')):
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = os.path.join(
            _share_dir(), 'config', 'fastdds_shm.xml')
    log_level = ['--log-level', arg('log_level') or 'info']

    detector = Node(
        package='pixel_anomaly_ros', executable='detector_node', name='detector_node',
        namespace=namespace,
        parameters=[arg('params_file'), overrides],
        remappings=[('image', image), ('image/compressed', image + '/compressed')],
        ros_arguments=log_level,
        output='screen', emulate_tty=True,
        additional_env=env)

    rviz_remappings = []
    camera = _absolute(namespace, image)
    if camera != RVIZ_CAMERA_TOPIC:
        rviz_remappings.append((RVIZ_CAMERA_TOPIC, camera))
    if namespace:
        rviz_remappings += [('/' + t, namespace + '/' + t) for t in OUTPUT_TOPICS]
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2', namespace=namespace,
        arguments=['-d', arg('rviz_config')],
        parameters=[{'use_sim_time': use_sim_time}],
        remappings=rviz_remappings,
        ros_arguments=log_level,
        output='screen',
        additional_env=env)
    if not _as_bool('use_rviz', arg('use_rviz')):
        return [detector]
    if not _rviz_installed():  # decided before anything starts, so nothing is left orphaned
        launch.logging.get_logger('launch').warning(
            'use_rviz:=true but rviz2 is not installed (e.g. apt install ros-$ROS_DISTRO-rviz2);'
            ' starting the detector without RViz')
        return [detector]
    return [detector, rviz]


def generate_launch_description() -> LaunchDescription:
    """
    Declare the launch arguments and the detector and RViz nodes.

    :return: the launch description.
    """
    share = _share_dir()
    arguments = [
        DeclareLaunchArgument(
            'bundle', default_value=os.path.join(share, 'models', 'demo_light'),
            description='Model bundle directory (bundle.yaml, weights, ONNX graphs); '
                        'overrides the parameters file.'),
        DeclareLaunchArgument(
            'backend', default_value='auto',
            description='Inference backend: auto (the fastest one available here) or a backend '
                        'of the runtime registry (`ros2 param describe` on "backend" lists '
                        'them); empty keeps the parameters file value.'),
        DeclareLaunchArgument(
            'device', default_value='',
            description='auto, cpu or cuda[:N]; empty keeps the parameters file value '
                        '(node default auto).'),
        DeclareLaunchArgument(
            'precision', default_value='',
            description='auto (fp16 on a GPU, fp32 on the CPU), fp32, fp16 (CUDA) or int8 '
                        '(tensorrt; onnxruntime on the CPU after export --int8; only when '
                        'asked); empty keeps the parameters file value (node default auto).'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the detector (and RViz); outputs become '
                        '<namespace>/anomaly/... . Empty: the root namespace.'),
        DeclareLaunchArgument(
            'image', default_value='/camera/image_raw',
            description='Input image topic (sensor_msgs/Image); the node\'s "image" input is '
                        'remapped to it. A relative name resolves inside the namespace.'),
        DeclareLaunchArgument(
            'compressed', default_value='false',
            description='true: subscribe to <image>/compressed (sensor_msgs/CompressedImage, '
                        'JPEG/PNG) instead of <image>.'),
        DeclareLaunchArgument(
            'params_file', default_value=os.path.join(share, 'config', 'detector.yaml'),
            description='Parameters file of detector_node (/**: ros__parameters:); the other '
                        'arguments override its values.'),
        DeclareLaunchArgument(
            'use_shm', default_value='true',
            description='true: run the detector and RViz with FASTDDS_DEFAULT_PROFILES_FILE='
                        '<share>/config/fastdds_shm.xml (Fast DDS shared memory only, 64 MiB '
                        'segments; same-host peers only). Start the camera driver with it too.'),
        DeclareLaunchArgument(
            'use_rviz', default_value='false',
            description='true: also start rviz2 with rviz_config (when rviz2 is not installed: '
                        'a warning, and the detector alone).'),
        DeclareLaunchArgument(
            'rviz_config', default_value=os.path.join(share, 'config', 'detector.rviz'),
            description='RViz2 config file: camera, heatmap, mask, overlay and semantic colour '
                        'displays (Reliable, depth 5).'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='true: use /clock (bag replay with --clock) for the detector and RViz.'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            choices=['debug', 'info', 'warn', 'error', 'fatal'],
            description='Log level of the detector and RViz.'),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_launch_setup)])
