# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Every entry of the network registry: builds, runs, round-trips its state_dict strictly.

Parametrised over :data:`pixel_anomaly_ros.networks.NETWORKS`, so a new entry is tested without
touching this file; a new family needs one row in :data:`FAMILIES` (its example inputs). The
official key lists of each family are checked in ``test_network_<family>.py``.
"""

from collections import defaultdict
from typing import Callable, Dict, NamedTuple, Tuple

from pixel_anomaly_ros.networks import create_network, NETWORKS
from pixel_anomaly_ros.networks.spade import label_map_to_spade_input
import pytest
import torch
import torch.nn.functional as F

BATCH, SIZE = 2, (64, 128)  # SPADE needs multiples of 64, the dissimilarity net of 8


class Family(NamedTuple):
    """What the parametrised tests need to know about a network family."""

    #: ``(batch, height, width, generator) -> forward arguments``.
    inputs: Callable[[int, int, int, torch.Generator], Tuple[torch.Tensor, ...]]
    #: ``registry name -> output channels``.
    channels: Callable[[str], int]


def _image(batch, h, w, gen):
    return (torch.randn(batch, 3, h, w, generator=gen),)


def _segmentation_channels(name: str) -> int:
    return 20 if 'pebal' in name else 19  # PEBAL: 19 inlier classes + 1 abstention


def _spade_inputs(batch, h, w, gen):
    return (label_map_to_spade_input(torch.randint(0, 35, (batch, 1, h, w), generator=gen)),)


def _vgg_inputs(batch, h, w, gen):
    return (torch.randn(batch, 3, h, w, generator=gen), torch.randn(batch, 3, h, w, generator=gen))


def _dissimilarity_inputs(batch, h, w, gen):
    labels = torch.randint(0, 20, (batch, h, w), generator=gen)
    semantic = F.one_hot(labels, 20)[..., :19].permute(0, 3, 1, 2).float()  # 19 = ignore
    priors = [torch.rand(batch, 1, h, w, generator=gen) for _ in range(3)]
    return (torch.randn(batch, 3, h, w, generator=gen),
            torch.randn(batch, 3, h, w, generator=gen), semantic, *priors)


#: Families by module name (``pixel_anomaly_ros.networks.<family>``).
FAMILIES: Dict[str, Family] = {
    'icnet': Family(_image, _segmentation_channels),
    'deepwv3': Family(_image, _segmentation_channels),
    'spade': Family(_spade_inputs, lambda name: 3),
    'vgg': Family(_vgg_inputs, lambda name: 1),
    'dissimilarity': Family(_dissimilarity_inputs, lambda name: 2),
}


def _family(name: str) -> str:
    return NETWORKS[name].__module__.rsplit('.', 1)[-1]


def _by_family() -> Dict[str, list]:
    families = defaultdict(list)
    for name in NETWORKS:
        families[_family(name)].append(name)
    return dict(families)


TINY = sorted(name for name in NETWORKS if name.endswith('_tiny'))
FULL = sorted(name for name in NETWORKS if not name.endswith('_tiny'))
#: Tiny networks run on every test run; full-size ones at a small input are marked slow.
EVERY = [pytest.param(name, id=name) for name in TINY] + [
    pytest.param(name, id=name, marks=pytest.mark.slow) for name in FULL]


def _random_state_dict(network: torch.nn.Module, seed: int = 0) -> dict:
    """Return the network's state_dict with every value changed (positive variances)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in network.state_dict().items():
        if not value.is_floating_point():
            state[key] = value + 3  # e.g. num_batches_tracked
        elif key.endswith('running_var'):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
    return state


def test_every_family_has_a_tiny_entry_and_example_inputs():
    for family, names in _by_family().items():
        assert family in FAMILIES, (f'network family {family!r} ({names}) has no row in '
                                    f'test_networks.FAMILIES: add its example inputs')
        assert any(n.endswith('_tiny') for n in names), f'{family}: no *_tiny entry in {names}'


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match='unknown network .* known networks'):
        create_network('resnet_huge')


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_builds_on_meta_and_loads_its_own_state_dict_strictly(name):
    with torch.device('meta'):
        network = create_network(name)
        state = network.state_dict()
    assert state and all(t.is_meta for t in state.values())
    network.load_state_dict(state, strict=True, assign=True)
    missing = dict(state)
    missing.pop(next(iter(missing)))
    with pytest.raises(RuntimeError, match='Missing key'):
        network.load_state_dict(missing, strict=True, assign=True)
    with pytest.raises(RuntimeError, match='Unexpected key'):
        network.load_state_dict({**state, 'not_a_layer.weight': next(iter(state.values()))},
                                strict=True, assign=True)


@pytest.mark.parametrize('name', TINY)
def test_tiny_keys_are_named_like_the_full_size_ones(name):
    """A tiny network's keys are official key names: a subset of its full-size siblings'."""
    siblings = [n for n in FULL if _family(n) == _family(name)]
    full_keys = set()
    with torch.device('meta'):
        for sibling in siblings:
            full_keys |= set(create_network(sibling).state_dict())
        keys = set(create_network(name).state_dict())
    assert keys <= full_keys, sorted(keys - full_keys)[:5]


@pytest.mark.parametrize('name', EVERY)
def test_forward_shape_dtype_finite_and_strict_round_trip(name):
    family = FAMILIES[_family(name)]
    tiny = name.endswith('_tiny')
    torch.manual_seed(0)
    source = create_network(name).eval()
    if tiny:  # random buffers too; a full-size copy differs by its own initialisation
        source.load_state_dict(_random_state_dict(source), strict=True)
    batch = BATCH if tiny else 1
    inputs = family.inputs(batch, *SIZE, torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = source(*inputs)
    assert out.shape == (batch, family.channels(name), *SIZE)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.std() > 0  # not a constant map
    # Strict round trip into a fresh instance: same tensors, same outputs.
    copy = create_network(name).eval()
    copy.load_state_dict(source.state_dict(), strict=True)
    copied = copy.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(copied[key], value), key
    if tiny:  # a full-size second forward pass would only double the time
        with torch.no_grad():
            assert torch.equal(copy(*inputs), out)
