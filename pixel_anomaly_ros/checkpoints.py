# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Reading official checkpoint files safely and loading them strictly into our networks.

Checkpoints are opened with ``torch.load(weights_only=True)``: a pickle can run arbitrary code,
so a file that needs full unpickling is refused unless the caller explicitly trusts it.
The usual wrappers are removed: ``state_dict`` / ``model`` nesting, DataParallel ``module.``
prefixes, NVIDIA's extra criterion weight; BatchNorm ``num_batches_tracked`` counters missing
from old files are filled in, as torch's own loader tolerates.
"""

from pathlib import Path
import pickle
from typing import Dict, Iterable, List

from pixel_anomaly_ros.errors import PixelAnomalyError
import torch
from torch import nn

#: Keys some official files carry that belong to no network (NVIDIA's loss weight).
EXTRA_KEYS = ('criterion.nll_loss.weight',)
_NESTING_KEYS = ('state_dict', 'model', 'state_dict_ema', 'net')


class CheckpointError(PixelAnomalyError, ValueError):
    """A checkpoint file cannot be read or does not fit the expected network."""


def read_state_dict(path, trust_pickle: bool = False) -> Dict[str, torch.Tensor]:
    """
    Read a checkpoint file and unwrap it to a flat state_dict of tensors.

    :param path: ``.pth``/``.pt``/``.ckpt`` (torch) or ``.safetensors`` file.
    :param trust_pickle: allow full unpickling (runs code from the file) when the safe loader
        refuses it. Only for files from a source you trust.
    :return: ``{key: tensor}`` with wrappers and ``module.`` prefixes removed.
    :raises CheckpointError: naming the file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: file not found')
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: B902 - safetensors raises several types
            raise CheckpointError(f'{path}: not a readable safetensors file ({exc})') from exc
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickler_reason(exc)
        if not reason.startswith('Unsupported global'):
            raise CheckpointError(f'{path}: not a readable PyTorch checkpoint ({reason}); '
                                  f'expected a file written by torch.save') from exc
        if not trust_pickle:
            raise CheckpointError(
                f'{path}: the safe loader (torch.load weights_only=True) refused this file: '
                f'{reason.split(" was not")[0]}. Unpickling it can run arbitrary code; if you '
                f'trust its source, pass --trust-pickle.') from exc
        obj = _load_trusted(path)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f'{path}: not a readable PyTorch checkpoint ({exc}); expected a '
                              f'file written by torch.save') from exc
    return unwrap_state_dict(obj, path)


def _unpickler_reason(exc: Exception) -> str:
    text = str(exc)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _load_trusted(path: Path):
    try:
        return torch.load(path, map_location='cpu', weights_only=False)
    except Exception as exc:  # noqa: B902 - arbitrary unpickling can raise anything
        raise CheckpointError(f'{path}: could not be unpickled ({exc})') from exc


def unwrap_state_dict(obj, path='checkpoint') -> Dict[str, torch.Tensor]:
    """
    Remove ``state_dict``/``model`` nesting and ``module.`` prefixes from a loaded checkpoint.

    :param obj: what ``torch.load`` returned.
    :param path: file name for error messages.
    :return: flat ``{key: tensor}``.
    :raises CheckpointError: if no tensor dictionary is found.
    """
    for _ in range(3):
        if isinstance(obj, dict) and not _is_tensor_dict(obj):
            nested = [k for k in _NESTING_KEYS if isinstance(obj.get(k), dict)]
            if not nested:
                break
            obj = obj[nested[0]]
    if not isinstance(obj, dict) or not _is_tensor_dict(obj):
        found = sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f'{path}: no state_dict found (top-level entries: {found}); '
                              f'expected a dict of tensors, possibly under "state_dict" or '
                              f'"model"')
    state = {}
    for key, value in obj.items():
        while key.startswith('module.'):
            key = key[len('module.'):]
        if key not in EXTRA_KEYS:
            state[key] = value
    return state


def _is_tensor_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def load_strict(network: nn.Module, state: Dict[str, torch.Tensor], path,
                expected: str) -> None:
    """
    Load a state_dict with ``strict=True`` after checking names and shapes.

    Missing BatchNorm ``num_batches_tracked`` counters are filled with zeros (old files).

    :param network: target network (our key-compatible re-implementation).
    :param state: state_dict from :func:`read_state_dict`.
    :param path: checkpoint file name for error messages.
    :param expected: human description of the expected file, e.g. "SPADE latest_net_G.pth".
    :raises CheckpointError: listing the first missing, unexpected and mis-shaped keys.
    """
    target = network.state_dict()
    state = dict(state)
    for key, value in target.items():
        if key.endswith('num_batches_tracked') and key not in state:
            state[key] = torch.zeros_like(value, device='cpu')
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mis_shaped = [f'{k} {tuple(state[k].shape)} != {tuple(v.shape)}'
                  for k, v in target.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or mis_shaped:
        raise CheckpointError(
            f'{path}: does not look like {expected}. '
            + _listing('missing', missing) + _listing('unexpected', unexpected)
            + _listing('shape mismatch', mis_shaped)
            + f'({len(state)} keys in the file, {len(target)} expected)')
    network.load_state_dict(state, strict=True)


def _listing(label: str, keys: List[str], limit: int = 5) -> str:
    if not keys:
        return ''
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return f'{label}: {", ".join(keys[:limit])}{more}; '


def select_prefix(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """
    Keep the keys under ``prefix`` (e.g. torchvision VGG's ``features.``), dropping the others.

    :param state: a state_dict.
    :param prefix: key prefix to keep, including the trailing dot.
    :return: the filtered state_dict (keys unchanged).
    """
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def has_prefix(keys: Iterable[str], prefix: str) -> bool:
    """Return whether any key starts with ``prefix``."""
    return any(k.startswith(prefix) for k in keys)
