# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The keys each mapping of ``bundle.yaml`` may hold, and the message that names a misspelt one."""

import difflib
from typing import Optional

#: Weights of the SynBoost ensemble, in the order of the graphs' ``weights`` input.
ENSEMBLE_TERMS = ('p_anomaly', 'entropy', 'perceptual', 'distance')
#: Keys each mapping of ``bundle.yaml`` may hold ('' = the top level).
YAML_KEYS = {
    '': ('format_version', 'name', 'variant', 'description', 'networks', 'input', 'num_classes',
         'score', 'ensemble', 'stages', 'provenance', 'validation', 'synthesis_size',
         'segmentation_onnx', 'uint8_round_trips', 'coarse_scores', 'coarse_resize'),
    'networks.*': ('builder', 'args'),
    'input': ('size', 'channel_order', 'mean', 'std'),
    'score': ('lo', 'hi', 'threshold', 'smoothing', 'operating_points',
              'default_operating_point'),
    'ensemble': ENSEMBLE_TERMS,
    'stages': ('run', 'graph_inputs'),
}


def unknown_key(doc: dict) -> Optional[str]:
    """
    Name the first key of a ``bundle.yaml`` document that its mapping may not hold.

    :param doc: the parsed YAML (a mapping).
    :return: e.g. ``unknown key score.smothing (did you mean smoothing?); score holds ...``, or
        None when every key is known.
    """
    networks = doc.get('networks') if isinstance(doc.get('networks'), dict) else {}
    sections = {'': doc, **{k: doc.get(k) for k in YAML_KEYS if k and '.' not in k},
                **{f'networks.{k}': v for k, v in networks.items()}}
    for section, mapping in sections.items():
        known = YAML_KEYS['networks.*' if section.startswith('networks.') else section]
        for key in mapping if isinstance(mapping, dict) else ():
            if key not in known:
                close = difflib.get_close_matches(str(key), known, 1)
                return (f'unknown key {section + "." if section else ""}{key}'
                        + (f' (did you mean {close[0]}?)' if close else '')
                        + f'; {section or "the top level"} holds {", ".join(known)}')
    return None
