"""Segmentation tuning: the run's :class:`SegmentationConfig` as magicgui spin boxes (µm).

The widget only edits values; the QC widget re-segments the shown field with them
through the library (:func:`screening.measure.field.measure_field`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from magicgui.widgets import (
    CheckBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
)
from pydantic import ValidationError

from screening.config import RunConfig
from screening.config.segmentation import SegmentationConfig


def _bounds(info) -> tuple[float, float]:
    """Spin-box minimum from the field's ``gt``/``ge`` constraint."""
    low = 0.0
    for meta in info.metadata:
        if getattr(meta, "ge", None) is not None:
            low = float(meta.ge)
        if getattr(meta, "gt", None) is not None:
            low = float(meta.gt) + 0.01
    return low, 1e5


def tuned_config(config: RunConfig, segmentation: SegmentationConfig, run_dir: Path) -> dict:
    """The run's config with new segmentation values, as a YAML-ready mapping.

    The copy writes to its own run folder (``<run>-tuned`` beside the original),
    so running it never overwrites the run being inspected.
    """
    tuned = config.model_copy(update={"segmentation": segmentation})
    data = tuned.model_dump(mode="json", exclude_none=True)
    data["output"] = str(Path(run_dir).resolve().parent / f"{Path(run_dir).name}-tuned")
    return data


def save_tuned_config(config: RunConfig, segmentation: SegmentationConfig, run_dir: Path, path: Path) -> Path:
    """Write :func:`tuned_config` to ``path`` as YAML (loadable by ``screening run``)."""
    from screening.io.atomic import write_text_atomic

    text = yaml.safe_dump(tuned_config(config, segmentation, run_dir), sort_keys=False)
    return write_text_atomic(path, text)


def readable_label(name: str) -> str:
    """A config key as a label: ``min_soma_area_um2`` -> ``min soma area (µm²)``."""
    for suffix, unit in (("_um2", "µm²"), ("_um", "µm")):
        if name.endswith(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} ({unit})"
    return name.replace("_", " ")


class SegmentationTuner(Container):
    """Spin boxes for every :class:`SegmentationConfig` field, a live switch and a save button.

    Parameters
    ----------
    on_change : callable
        Called with the new :class:`SegmentationConfig` when values change (live)
        or when "Re-segment" is pressed.
    on_save : callable
        Called with (SegmentationConfig, path) when "Save config copy" is pressed.
    """

    def __init__(self, on_change: Callable[[SegmentationConfig], None],
                 on_save: Callable[[SegmentationConfig, Path], None]):
        self._on_change, self._on_save = on_change, on_save
        self.spins: dict[str, FloatSpinBox] = {}
        for name, info in SegmentationConfig.model_fields.items():
            low, high = _bounds(info)
            spin = FloatSpinBox(
                value=float(info.default), min=low, max=high, step=0.5, name=name,
                label=readable_label(name), tooltip=info.description or "",
            )
            spin.changed.connect(self._changed)
            self.spins[name] = spin
        self.live = CheckBox(value=True, text="re-segment live")
        self.apply = PushButton(text="Re-segment field")
        self.apply.changed.connect(lambda *_: self._emit())
        self.path = FileEdit(mode="w", label="save as", filter="*.yaml")
        self.save = PushButton(text="Save config copy")
        self.save.changed.connect(lambda *_: self._save())
        self.message = Label(value="")
        super().__init__(widgets=[*self.spins.values(), self.live, self.apply, self.path, self.save, self.message])

    def values(self) -> SegmentationConfig:
        """The spin boxes as a validated :class:`SegmentationConfig` (raises ValidationError)."""
        return SegmentationConfig(**{name: spin.value for name, spin in self.spins.items()})

    def set_values(self, segmentation: SegmentationConfig) -> None:
        """Show ``segmentation`` without triggering a re-segmentation."""
        for name, spin in self.spins.items():
            with spin.changed.blocked():
                spin.value = float(getattr(segmentation, name))

    def _changed(self, *_):
        if self.live.value:
            self._emit()

    def _emit(self):
        try:
            values = self.values()
        except ValidationError as exc:
            self.message.value = f"invalid: {exc.errors()[0]['msg']}"
            return
        self.message.value = ""
        self._on_change(values)

    def _save(self):
        try:
            values = self.values()
        except ValidationError as exc:
            self.message.value = f"invalid: {exc.errors()[0]['msg']}"
            return
        self._on_save(values, Path(self.path.value))


__all__ = ["SegmentationTuner", "save_tuned_config", "tuned_config"]
