# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Writing model bundles: nothing half-written, nothing deleted that the writer does not own.

``convert`` and the trainers write weights and ``bundle.yaml`` (:func:`write_bundle`); score
calibration and other spec changes rewrite ``bundle.yaml`` alone (:func:`write_bundle_spec`).
A new bundle appears by one rename of a complete hidden sibling directory; in an existing
bundle each file is replaced by a rename, weights before ``bundle.yaml``, so a crash at any
point leaves a loadable bundle, and exported graphs, engines and a user's notes stay. A
directory that is not a bundle is never written into.
"""

import copy
import logging
import os
from pathlib import Path
import shutil
import tempfile
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from pixel_anomaly_ros.atomic_files import (default_mode, remove_leftovers, replace_files,
                                            replace_text, sha256_file, sync_directory)
from pixel_anomaly_ros.bundle import (Bundle, BUNDLE_FILE, BundleError, BundleSpec, load_bundle,
                                      WEIGHTS_FILE)
import yaml


def check_bundle_target(out_dir, overwrite: bool = False) -> bool:
    """
    Check that a bundle may be written to ``out_dir``, before any long work starts.

    :param out_dir: the target directory.
    :param overwrite: an existing bundle there may be updated.
    :return: True when ``out_dir`` is an existing directory (a bundle, or empty).
    :raises BundleError: for a file, a directory that is not a bundle (never written into),
        or an existing bundle without ``overwrite``.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise BundleError(f'{out_dir}: is a file, not a bundle directory; choose another --out')
    if (out_dir / BUNDLE_FILE).is_file():
        if not overwrite:
            raise BundleError(f'{out_dir}: already exists; choose another --out or pass --force')
        return True
    entries = sorted(p.name for p in out_dir.iterdir())
    if entries:
        raise BundleError(f'{out_dir}: not a model bundle (no {BUNDLE_FILE}; holds '
                          f'{", ".join(entries[:3])}{", ..." if len(entries) > 3 else ""}); '
                          f'refusing to write into it: choose a new or empty directory')
    return True


def write_bundle(spec: BundleSpec, state_dicts: Dict[str, dict], out_dir,
                 overwrite: bool = False, files: Optional[Mapping[str, Path]] = None
                 ) -> Bundle:
    """
    Write a bundle's weights and ``bundle.yaml``; nothing half-written, nothing else touched.

    A new bundle is built in a hidden sibling directory and renamed into place. In an existing
    bundle (``overwrite``) the complete new files, then ``bundle.yaml``, are renamed over the
    old ones; every other file (exported graphs, engines, notes) stays, and a crash leaves the
    previous bundle loadable (the new weights fit the old ``bundle.yaml`` unless the networks
    changed). Files get the permissions of any file the user creates.

    :param spec: the bundle description (validated first; the caller's object is not changed).
    :param state_dicts: ``{component: state_dict}`` for every network of the variant (none for
        a segmentation that is an ONNX model).
    :param out_dir: target directory: new, empty, or (with ``overwrite``) a bundle.
    :param overwrite: update an existing bundle.
    :param files: further files of the bundle, ``{name in the bundle: source path}`` (e.g. a
        user's ONNX model); a source that already is that file of the bundle is left alone.
    :return: the written bundle.
    :raises BundleError: if the spec is invalid or the target may not be written.
    """
    spec = copy.deepcopy(spec)
    spec.validate()
    out_dir = Path(out_dir)
    exists = check_bundle_target(out_dir, overwrite)
    if sorted(state_dicts) != sorted(spec.networks):
        raise BundleError(f'weights for {sorted(state_dicts)} do not match the networks '
                          f'{sorted(spec.networks)}')
    flat = {f'{c}.{k}': v.detach().cpu().contiguous()
            for c, sd in state_dicts.items() for k, v in sd.items()}
    if flat:
        from safetensors.torch import save_file
    else:  # no network weights (the segmentation is an ONNX model): no torch needed
        from safetensors.numpy import save_file

    def save_weights(path: Path) -> None:
        save_file(flat, str(path))
        spec.provenance['weights_sha256'] = sha256_file(path)

    writes = _copies(files, out_dir if exists else None) + [
        (WEIGHTS_FILE, save_weights), (BUNDLE_FILE, lambda path: path.write_text(_yaml(spec)))]
    if exists:
        exports = _exports_of_other_weights(out_dir)
        remove_leftovers(out_dir, [name for name, _ in writes])
        replace_files([(out_dir / name, write) for name, write in writes])
        if exports and exports[1] != spec.provenance['weights_sha256']:
            logging.getLogger(__name__).warning(
                '%s: new weights; kept %s, exported from the previous ones: run `pixel-anomaly '
                'export --bundle %s` again', out_dir, ', '.join(exports[0]), out_dir)
        return Bundle(out_dir, spec)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.', dir=out_dir.parent))
    try:
        for name, write in writes:
            write(tmp / name)
            os.chmod(tmp / name, default_mode())
        os.chmod(tmp, default_mode(directory=True))
        os.rename(tmp, out_dir)
        sync_directory(out_dir.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(out_dir, spec)


def write_bundle_spec(spec: BundleSpec, bundle_dir,
                      files: Optional[Mapping[str, Path]] = None) -> Bundle:
    """
    Replace a bundle's ``bundle.yaml`` atomically and touch nothing else.

    For score calibration, operating points, descriptions: any change that keeps the networks,
    and so the weights and the exported graphs.

    :param spec: the new description (validated first; the caller's object is not changed).
    :param bundle_dir: an existing bundle.
    :param files: files the new description needs, ``{name in the bundle: source path}`` (e.g.
        a stage graph with new constants), each replaced atomically before ``bundle.yaml``.
    :return: the updated bundle.
    :raises BundleError: if the spec is invalid or changes the variant or the networks.
    """
    current = load_bundle(bundle_dir)
    spec = copy.deepcopy(spec)
    spec.validate()
    if spec.variant != current.spec.variant or spec.networks != current.spec.networks:
        raise BundleError(f'{current.path}: the new {BUNDLE_FILE} changes the variant or the '
                          f'networks, so the weights would not fit; write a new bundle instead')
    if 'weights_sha256' in current.spec.provenance:
        spec.provenance['weights_sha256'] = current.spec.provenance['weights_sha256']
    copies = _copies(files, current.path)
    remove_leftovers(current.path, [name for name, _ in copies] + [WEIGHTS_FILE, BUNDLE_FILE])
    if copies:
        replace_files([(current.path / name, write) for name, write in copies])
    replace_text(current.path / BUNDLE_FILE, _yaml(spec))
    return Bundle(current.path, spec)


def _copies(files: Optional[Mapping[str, Path]], bundle_dir: Optional[Path]
            ) -> List[Tuple[str, Callable[[Path], None]]]:
    """Return ``(name, write)`` of the files to copy in, skipping those already in place."""
    copies = []
    for name, source in (files or {}).items():
        if bundle_dir is not None and (bundle_dir / name).exists() and \
                os.path.samefile(source, bundle_dir / name):
            continue
        copies.append((name, lambda path, s=source: shutil.copyfile(s, path)))
    return copies


def _yaml(spec: BundleSpec) -> str:
    return yaml.safe_dump(spec.to_yaml_dict(), sort_keys=False, default_flow_style=None)


def _exports_of_other_weights(out_dir: Path) -> Optional[Tuple[List[str], str]]:
    # Exported graphs and engines in a bundle, with the sha256 of the weights they came from.
    derived = sorted(p.name for p in out_dir.iterdir()
                     if p.suffix == '.onnx' or p.name == 'engines')
    weights = out_dir / WEIGHTS_FILE
    return (derived, sha256_file(weights)) if derived and weights.is_file() else None
