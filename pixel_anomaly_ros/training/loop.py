# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The common training loop: seeding, poly learning rate, resumable checkpoints, log, bundles.

The poly schedule spans ``schedule_steps`` (default ``steps``): keep it fixed when a run is
split into resumed parts. Each step's data come from ``numpy.random.default_rng([seed, step])``
and the torch RNG state is checkpointed, so ``--steps 2`` then ``--resume --steps 4`` gives
the same weights as ``--steps 4`` in one go (with ``--schedule-steps 4`` both times).
Checkpoints and the JSONL log live in a work directory next to the bundle (``<out>.train`` by
default), not in it: only the weights and ``bundle.yaml`` of a bundle are written.
"""

from dataclasses import dataclass, field
import json
from pathlib import Path
import random
import sys
import time
from typing import Callable, Dict, Optional, Tuple

import numpy as np
from pixel_anomaly_ros.bundle import BundleError, BundleSpec, load_bundle
from pixel_anomaly_ros.bundle_writer import check_bundle_target, write_bundle
from pixel_anomaly_ros.checkpoints import CheckpointError
from pixel_anomaly_ros.presets import preset_spec
from pixel_anomaly_ros.stages.graphs import build_networks
import torch
from torch import nn
from tqdm import tqdm

CHECKPOINT_FILE = 'checkpoint.pt'
LOG_FILE = 'log.jsonl'


@dataclass
class TrainConfig:
    """Options shared by every trainer (the CLI fills it from its arguments)."""

    data: str
    out: str
    preset: str = 'light_tiny'
    input_size: Optional[Tuple[int, int]] = None
    steps: int = 100
    schedule_steps: Optional[int] = None
    batch_size: int = 2
    crop: Tuple[int, int] = (64, 128)
    seed: int = 0
    lr: Optional[float] = None
    checkpoint_every: int = 50
    resume: bool = False
    init: Optional[str] = None
    work: Optional[str] = None
    device: str = 'cpu'
    progress: bool = True
    command: str = field(default_factory=lambda: ' '.join(sys.argv))
    extra: Dict[str, object] = field(default_factory=dict)

    def work_dir(self, name: str) -> Path:
        """
        Return the directory of a trainer's checkpoint and log.

        :param name: trainer name.
        :return: ``<work>/<name>`` (default work: ``<out>.train``).
        """
        out = Path(self.out)
        base = Path(self.work) if self.work else out.with_name(out.name + '.train')
        return base / name


def seed_everything(seed: int) -> None:
    """
    Seed Python, NumPy and torch.

    :param seed: the seed.
    """
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def poly_lr(base: float, step: int, total: int, power: float = 0.9,
            floor: float = 1e-8) -> float:
    """
    Return the poly learning rate ``base * (1 - step / total) ** power`` (at least ``floor``).

    :param base: initial learning rate.
    :param step: current step (0-based).
    :param total: number of steps.
    :param power: poly power (0.9).
    :param floor: minimum.
    :return: the learning rate.
    """
    return max(floor, base * max(0.0, 1.0 - step / max(1, total)) ** power)


def open_bundle(cfg: TrainConfig, preset: Optional[str] = None, variant: Optional[str] = None,
                trainer: str = '') -> Tuple[BundleSpec, Optional[Dict[str, dict]]]:
    """
    Return the spec and weights to start from: ``--init``, an existing ``--out``, the preset.

    :param cfg: the training options.
    :param preset: preset overriding ``cfg.preset``.
    :param variant: the bundle variant the trainer needs (None: any).
    :param trainer: the trainer's name, for messages.
    :return: ``(spec, {component: state_dict} or None)``.
    :raises BundleError: when ``--out`` may not be written, or the start is another variant.
    """
    check_bundle_target(cfg.out, overwrite=True)
    for option, source in (('--init', cfg.init), ('--out', cfg.out)):
        if source and (Path(source) / 'bundle.yaml').is_file():
            bundle = load_bundle(source)
            _check_variant(bundle.spec, variant, trainer, f'{option} {source}')
            return bundle.spec, bundle.component_state_dicts()
    spec = preset_at_size(preset or cfg.preset, cfg.input_size)
    _check_variant(spec, variant, trainer, f'--preset {preset or cfg.preset}')
    return spec, None


def _check_variant(spec: BundleSpec, variant: Optional[str], trainer: str, source: str) -> None:
    if variant is not None and spec.variant != variant:
        raise BundleError(f'train {trainer} needs a {variant} bundle, but {source} is a '
                          f'{spec.variant} bundle; start from a {variant} one (e.g. --preset '
                          f'light_tiny, or the bundle of `train segmentation`)')


def preset_at_size(preset: str, input_size: Optional[Tuple[int, int]]) -> BundleSpec:
    """
    Return a preset's spec, optionally at another network input size.

    The SPADE synthesis size keeps the preset's ratio to the input size.

    :param preset: preset name.
    :param input_size: ``(height, width)`` or ``None`` for the preset's own.
    :return: the spec.
    """
    spec = preset_spec(preset)
    if input_size is not None:
        if spec.synthesis_size is not None:
            scale = synthesis_scale(spec)
            spec.synthesis_size = (input_size[0] // scale, input_size[1] // scale)
        spec.input_size = tuple(input_size)
    return spec


def synthesis_scale(spec: BundleSpec) -> int:
    """
    Return how many times smaller the synthesis (and dissimilarity) resolution is.

    :param spec: a ``synboost_light`` bundle spec.
    :return: input height // synthesis height (1 when they are equal).
    """
    return max(1, spec.input_size[0] // spec.synthesis_size[0])


def save_bundle(cfg: TrainConfig, spec: BundleSpec, networks: Dict[str, nn.Module],
                component: str, summary: Dict[str, object]) -> Path:
    """
    Write (or replace) the output bundle, recording the training run in its provenance.

    :param cfg: the training options.
    :param spec: the bundle spec.
    :param networks: ``{component: network}`` of every network of the variant.
    :param component: the component this run trained (provenance key).
    :param summary: run summary to record (steps, final loss, ...).
    :return: the bundle directory.
    """
    spec.provenance = dict(spec.provenance)
    spec.provenance.setdefault('source', 'trained with pixel_anomaly_ros.training')
    training = dict(spec.provenance.get('training') or {})
    record = {'command': cfg.command, 'seed': cfg.seed, 'data': str(cfg.data),
              'steps': cfg.steps, 'batch_size': cfg.batch_size, 'crop': list(cfg.crop),
              'work': str(cfg.work_dir(component)), **summary}
    previous = training.get(component)
    if previous and _resumes(record, previous):
        previous = previous.get('previous')  # a resumed run supersedes its earlier part
    if previous:  # a run continuing earlier ones keeps their records
        record['previous'] = previous
    training[component] = record
    spec.provenance['training'] = training
    states = {c: {k: v.detach().cpu() for k, v in n.state_dict().items()}
              for c, n in networks.items()}
    return write_bundle(spec, states, cfg.out, overwrite=True).path


def _resumes(record: Dict[str, object], previous: Dict[str, object]) -> bool:
    """
    Tell whether a run continued the very run that wrote the previous record.

    Only a run that finished and saved its bundle leaves a record, so a run resumed after an
    interruption continues the checkpoint of a part that wrote none: the previous record is
    then an earlier, separate run and stays.

    :param record: the record of the run that just ended.
    :param previous: the bundle's record for the same component.
    :return: True when ``previous`` was written from the checkpoint this run resumed.
    """
    resumed_from = record.get('resumed_from') or 0
    ended_at = (previous.get('resumed_from') or 0) + (previous.get('steps_run') or 0)
    return bool(resumed_from) and previous.get('work') == record['work'] \
        and ended_at == resumed_from


def build_from(spec: BundleSpec, states: Optional[Dict[str, dict]]) -> Dict[str, nn.Module]:
    """
    Build the bundle's networks with its weights (or random ones).

    The networks are kept in channels-last memory format: on CPU, oneDNN's convolutions then
    skip the layout reorders around each layer, so a dissimilarity or synthesis step takes
    about 0.8x the time and a segmentation step 0.9x (``benchmarks/README.md``). Inputs may
    stay in the default layout, and a bundle's weights are written contiguous as before.

    :param spec: the bundle spec.
    :param states: ``{component: state_dict}`` or ``None``.
    :return: ``{component: network}``.
    """
    networks = build_networks(spec, states)
    for network in networks.values():
        network.to(memory_format=torch.channels_last)
    return networks


StepFn = Callable[[int, np.random.Generator], Dict[str, torch.Tensor]]


def train_loop(cfg: TrainConfig, name: str, modules: Dict[str, nn.Module],
               optimizer: torch.optim.Optimizer, step_fn: StepFn, base_lr: float,
               schedule: str = 'poly') -> Dict[str, object]:
    """
    Run ``cfg.steps`` optimisation steps with checkpoints, resume and a JSONL log.

    :param cfg: the training options.
    :param name: trainer name (work sub-directory).
    :param modules: the modules whose state is checkpointed (trained ones).
    :param optimizer: their optimiser.
    :param step_fn: ``step_fn(step, rng)`` returns losses, ``'loss'`` is optimised.
    :param base_lr: initial learning rate.
    :param schedule: ``'poly'`` (power 0.9) or ``'constant'``.
    :return: ``{'final_loss', 'first_loss', 'steps_run', 'resumed_from'}``.
    """
    work = cfg.work_dir(name)
    work.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = work / CHECKPOINT_FILE, work / LOG_FILE
    start = 0
    if cfg.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location='cpu', weights_only=True)
        if int(state['step']) > cfg.steps:
            raise CheckpointError(
                f'{ckpt_path}: the run there is at step {state["step"]}, past --steps '
                f'{cfg.steps}; pass --steps {state["step"]} or more to continue it, or leave '
                'out --resume (or pass another --work) to start over')
        for key, module in modules.items():
            module.load_state_dict(state['modules'][key])
        optimizer.load_state_dict(state['optimizer'])
        torch.set_rng_state(state['torch_rng'])
        start = int(state['step'])
    elif log_path.exists():
        log_path.unlink()
    total = cfg.schedule_steps or cfg.steps
    first = last = None
    bar = tqdm(range(start, cfg.steps), desc=f'train {name}', disable=not cfg.progress,
               initial=start, total=cfg.steps)
    with open(log_path, 'a') as log:
        for step in bar:
            lr = poly_lr(base_lr, step, total) if schedule == 'poly' else base_lr
            for group in optimizer.param_groups:
                group['lr'] = lr
            tic = time.perf_counter()
            losses = step_fn(step, np.random.default_rng([cfg.seed, step]))
            optimizer.zero_grad(set_to_none=True)
            losses['loss'].backward()
            optimizer.step()
            values = {k: float(v.detach()) for k, v in losses.items()}
            if not np.isfinite(values['loss']):
                raise FloatingPointError(f'{name}: loss is {values["loss"]} at step {step}')
            first = values['loss'] if first is None else first
            last = values['loss']
            record = {'step': step + 1, **values, 'lr': lr,
                      'seconds': round(time.perf_counter() - tic, 4)}
            log.write(json.dumps(record) + '\n')
            log.flush()
            bar.set_postfix(loss=f'{last:.4f}')
            done = step + 1
            if done % max(1, cfg.checkpoint_every) == 0 or done == cfg.steps:
                _save_checkpoint(ckpt_path, modules, optimizer, done)
    return {'first_loss': first, 'final_loss': last, 'steps_run': cfg.steps - start,
            'resumed_from': start}


def _save_checkpoint(path: Path, modules: Dict[str, nn.Module],
                     optimizer: torch.optim.Optimizer, step: int) -> None:
    state = {'modules': {k: m.state_dict() for k, m in modules.items()},
             'optimizer': optimizer.state_dict(), 'step': step,
             'torch_rng': torch.get_rng_state()}
    tmp = path.with_suffix('.tmp')
    torch.save(state, tmp)
    tmp.replace(path)
