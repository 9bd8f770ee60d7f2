"""Synthetic longitudinal screens of iPSC motor-neuron cultures, with known answers.

- :data:`PRESETS`: named presets (``demo``, ``small``, ``screen``, ``null``, ``hard``);
  :mod:`.presets` holds their typed records. ``varied`` (:data:`PRESET_NAMES`) draws the
  screen's look from the seed; :func:`varied_preset` and :class:`Look` (:mod:`.look`) build
  one for a chosen point of the look space.
- :func:`simulate_screen`: write a whole screen (ImageXpress TIFFs, plate maps, a run config,
  ``truth/``), the ``screening simulate`` command.
- :func:`simulate_truth`: the same truth tables without rendering (fast, for statistics).
- :func:`build_screen`, :func:`render_field`, :func:`sample_fields`: fields rendered in memory
  with their truth (for segmentation benchmarks).
- :func:`write_example`: regenerate ``example_plates/`` and ``configs/example.yaml``.
"""

from screening.simulate.look import LOOK_RANGES, Look, draw_look, look_preset, varied_preset
from screening.simulate.model import SimulatedScreen, build_screen
from screening.simulate.presets import (
    PRESET_NAMES,
    PRESETS,
    Compound,
    Culture,
    Design,
    Imaging,
    Patient,
    Preset,
    get_preset,
)
from screening.simulate.render import RenderedField, render_field, sample_fields
from screening.simulate.truth import simulate_truth
from screening.simulate.write import (
    read_truth,
    run_config,
    simulate_screen,
    write_example,
)

__all__ = [
    "LOOK_RANGES",
    "PRESETS",
    "PRESET_NAMES",
    "Look",
    "Compound",
    "Culture",
    "Design",
    "Imaging",
    "Patient",
    "Preset",
    "RenderedField",
    "SimulatedScreen",
    "build_screen",
    "draw_look",
    "get_preset",
    "look_preset",
    "read_truth",
    "render_field",
    "run_config",
    "sample_fields",
    "simulate_screen",
    "simulate_truth",
    "varied_preset",
    "write_example",
]
