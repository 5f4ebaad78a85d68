# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Run detector_node in a child process: start it, stop it, and give it a private ROS domain.

Shared by ``replay``, ``bench --node`` and the tests. The child runs with this interpreter
(the ROS wheels' re-exec needs that) in its own session, so stopping it stops its whole
process group.
"""

from contextlib import contextmanager
import os
import signal
import subprocess
import sys
from typing import Dict, Iterator, Optional


def detector_command(parameters: Dict[str, object], params_file: Optional[str] = None,
                     namespace: str = '') -> list:
    """
    Build the command line of a detector_node child.

    :param parameters: ``{name: value}`` passed as ``-p name:=value``.
    :param params_file: optional ``--params-file`` (applied before ``parameters``).
    :param namespace: optional node namespace.
    :return: the argument list.
    """
    args = [sys.executable, '-m', 'pixel_anomaly_ros.ros.detector_node', '--ros-args']
    if params_file:
        args += ['--params-file', str(params_file)]
    for name, value in parameters.items():
        args += ['-p', f'{name}:={value}']
    if namespace:
        args += ['-r', f'__ns:={namespace}']
    return args


def start_process(args: list, env: Dict[str, str], stdout=subprocess.PIPE) -> subprocess.Popen:
    """
    Start a child in its own session (process group), stderr merged into stdout.

    :param args: the command line.
    :param env: its environment.
    :param stdout: where its output goes.
    :return: the process.
    """
    return subprocess.Popen(args, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def stop_process_group(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """
    Stop a child started by :func:`start_process`: SIGINT to its group, SIGKILL if it hangs.

    :param proc: the process.
    :param timeout: seconds to wait for a clean exit.
    """
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def ros_environment(domain_id: int, **extra: str) -> Iterator[Dict[str, str]]:
    """
    Set a private ROS domain on localhost (plus ``extra`` variables) in ``os.environ``.

    The previous values come back on exit.

    :param domain_id: the ``ROS_DOMAIN_ID``.
    :param extra: further variables, e.g. ``FASTDDS_DEFAULT_PROFILES_FILE``.
    :return: a copy of the environment for children.
    """
    values = dict(extra, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield dict(os.environ)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
