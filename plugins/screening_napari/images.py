"""Lazy image and overlay stacks of one well: (site, timepoint, y, x) dask arrays.

Nothing is read when a well is selected: each field is one dask chunk built from
a delayed read, so napari reads (and segments) only the field on screen. The
overlays are the library's own output (:func:`screening.measure.field.measure_field`
with ``return_images=True``), computed once per field and configuration and
kept in the widget's :class:`FieldCache`, shared by the label and skeleton layers.

Fields imaged in several focal planes are shown and segmented as the run measured
them: each role's plane files (:func:`screening.io.screen.field_planes`) reduced by
the plate's ``plates[].planes`` rule with the library's
:func:`screening.io.planes.read_planes`. A single-plane field is read from its one
file, cached under that path, exactly as before planes were kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import dask
import dask.array as da
import numpy as np
import pandas as pd

from screening.config import PlateConfig, RunConfig
from screening.io.planes import PlaneRule, is_plane_number, read_planes
from screening.io.screen import field_planes
from screening.io.tiff import check_tiff, read_image

#: Overlay image key of ``measure_field(...).images`` -> layer name.
OVERLAYS = {"soma_labels": "soma labels", "nuclei_labels": "nuclei labels", "neurite_skeleton": "neurite skeleton"}
#: Channel role -> colormap of its image layer.
CHANNEL_COLORMAPS = {"reporter": "green", "nuclei": "blue", "neurites": "yellow"}
#: What one role's image of a field is read from: its file (one plane), or
#: ``(plane rule, ((plane, file), ...))`` for a z-stack or a chosen plane; None: no file.
Source = str | tuple | None


class _LRU:
    """A tiny thread-safe least-recently-used cache (napari may slice off the main thread)."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, compute: Callable[[], object]):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = compute()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def peek(self, key, default=None):
        """The cached value (marked recently used), or ``default``; never computes."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return default

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class FieldCache:
    """One widget's images, segmentations and the problems met reading them.

    Owned by the :class:`~screening_napari.widget.QCWidget` that shows them (two viewers never
    share or leak state; closing the widget clears it) and handed to the stack builders.

    Parameters
    ----------
    n_images, n_segmentations : int
        Fields kept in memory (least recently used dropped first): an image is one field's
        channel (a 2048² uint16 plane is 8 MB); a segmentation is its label and skeleton images.
    """

    def __init__(self, n_images: int = 64, n_segmentations: int = 16):
        self._images = _LRU(n_images)
        self._segmentations = _LRU(n_segmentations)
        #: Last problem met while reading or segmenting a field, for the widget's status line.
        self.errors: dict[tuple, str] = {}

    def clear(self) -> None:
        """Forget cached images, segmentations and problems (e.g. after files changed on disk)."""
        self._images.clear()
        self._segmentations.clear()
        self.errors.clear()

    def __len__(self) -> int:
        """Images and segmentations held."""
        return len(self._images) + len(self._segmentations)

    def image(self, source: Source) -> np.ndarray:
        """One role's image of a field, cached by its :data:`Source`.

        A path is read with :func:`screening.io.tiff.read_image`; ``(rule, planes)`` with
        :func:`screening.io.planes.read_planes` (the run's projection or chosen plane).
        """
        if isinstance(source, tuple):
            rule, planes = source
            return self._images.get(source, lambda: read_planes(dict(planes), rule))
        return self._images.get(source, lambda: read_image(source))

    def cached_segmentation(self, paths: dict[str, Source], config: RunConfig, *, pixel_size_um: float,
                            calibration=None) -> dict | None:
        """The cached :meth:`segmentation` of a field, or None when not computed yet."""
        return self._segmentations.peek(segmentation_key(paths, config, pixel_size_um, calibration))

    def segmentation(self, paths: dict[str, Source], config: RunConfig, *, pixel_size_um: float,
                     calibration=None) -> dict[str, np.ndarray]:
        """The library's overlay images of one field, cached per field and measurement config.

        Parameters
        ----------
        paths : dict
            Channel role -> :data:`Source` of one field (:func:`field_sources`; a plain
            ``path_<role>`` for a single-plane field): the images segmented are those
            :meth:`image` shows, i.e. the plate's projection or chosen plane.
        config : RunConfig
            Its segmentation, QC and channels sections decide the result.
        pixel_size_um : float
            µm per pixel of the field.
        calibration : Calibration, optional
            The plate's, from the run's ``calibration.csv`` (:attr:`QCRun.calibrations`), so the
            overlays are what the run measured; None: the field calibrates itself (a tuned config).

        Returns
        -------
        dict
            ``measure_field(..., return_images=True).images``: ``soma_labels``,
            ``nuclei_labels`` (with a nuclear channel) and ``neurite_skeleton`` (y, x)
            arrays; empty when the field could not be read or measured (the reason
            is kept in :attr:`errors`). Never raises.
        """
        from screening.measure.field import measure_field
        from screening.run.tasks import read_field

        def compute():
            try:
                missing = {role: None for role, source in paths.items() if not source}
                if missing:
                    read_field(missing, config.channels.tokens())  # raises, naming the missing channel
                images = {role: self.image(p) for role, p in paths.items()}
                result = measure_field(images, config, pixel_size_um=pixel_size_um, calibration=calibration,
                                       return_images=True)
            except Exception as exc:  # noqa: BLE001 - shown in the widget; a bad field never stops browsing
                self.errors[("segmentation", *sorted(paths.items()))] = f"{type(exc).__name__}: {exc}"
                return {}
            if not result.images and result.row.get("qc_reason"):
                self.errors[("segmentation", *sorted(paths.items()))] = str(result.row["qc_reason"])
            return dict(result.images or {})

        return self._segmentations.get(segmentation_key(paths, config, pixel_size_um, calibration), compute)

    def safe(self, key: tuple, make: Callable[[], np.ndarray], shape, dtype) -> np.ndarray:
        """Run ``make``; on failure record the problem and return zeros, so one bad field never stops browsing."""
        try:
            return _fit(np.asarray(make()).astype(dtype, copy=False), shape)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into napari's slicer
            self.errors[key] = f"{type(exc).__name__}: {exc}"
            return np.zeros(shape, dtype)


def plane_rule(config: RunConfig, plate: str) -> PlaneRule:
    """The ``plates[].planes`` rule of ``plate`` in ``config`` (the config's default for an unknown plate)."""
    return config.plane_rules().get(plate, PlateConfig.model_fields["planes"].default)


def field_sources(rec, rule: PlaneRule = "max") -> dict[str, Source]:
    """Role -> :data:`Source` of one field row of ``fields.parquet`` under the plate's plane rule.

    A role with one file under ``"max"`` / ``"mean"`` gives that file (its
    ``path_<role>``, so single-plane plates keep their cache keys); otherwise the
    rule and every plane file, which :meth:`FieldCache.image` hands to
    :func:`screening.io.planes.read_planes`. Rows without ``plane_numbers`` /
    ``files_<role>`` (runs made before planes were kept) give each ``path_<role>``.
    """
    out: dict[str, Source] = {}
    for role, planes in field_planes(rec).items():
        if not planes:
            out[role] = None
        elif len(planes) == 1 and not is_plane_number(rule):
            out[role] = next(iter(planes.values()))
        else:
            out[role] = (int(rule) if is_plane_number(rule) else str(rule), tuple(sorted(planes.items())))
    return out


def segmentation_key(paths: dict[str, Source], config: RunConfig, pixel_size_um: float, calibration=None) -> tuple:
    """Cache key of one field's segmentation: its files (and plane rule), the measurement config, the
    pixel size and the plate's calibration."""
    cal = tuple(sorted(calibration.row().items())) if calibration is not None else None
    return (tuple(sorted(paths.items())), config.measurement_hash(), float(pixel_size_um), cal)


def _fit(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Crop or zero-pad a 2-D image to ``shape`` (fields of one well normally agree)."""
    if image.shape == tuple(shape):
        return image
    out = np.zeros(shape, image.dtype)
    h, w = min(shape[0], image.shape[0]), min(shape[1], image.shape[1])
    out[:h, :w] = image[:h, :w]
    return out


def field_grid(fields: pd.DataFrame) -> tuple[list[int], list[int], dict[tuple[int, int], dict]]:
    """Sites, timepoints and (site, timepoint) -> field row of one well's fields table."""
    sites = sorted(int(s) for s in fields["site"].unique())
    timepoints = sorted(int(t) for t in fields["timepoint"].unique())
    rows = {(int(r["site"]), int(r["timepoint"])): r for r in fields.to_dict("records")}
    return sites, timepoints, rows


def field_shape(
    fields: pd.DataFrame, role: str = "reporter", plane_rule: PlaneRule = "max"
) -> tuple[tuple[int, int], np.dtype]:
    """(y, x) shape and dtype of a well's ``role`` images from one TIFF header (no pixels decoded).

    The dtype is the files' own, except float64 under ``plane_rule="mean"`` when a
    field of the well has several planes for the role (what
    :func:`screening.io.planes.read_planes` returns); planes of a field share one shape.
    """
    for path in fields.get(f"path_{role}", pd.Series(dtype=object)).dropna():
        header = check_tiff(path)
        if header.shape is not None:
            dtype = np.dtype(header.dtype)
            if plane_rule == "mean" and _has_several_planes(fields, role):
                dtype = np.dtype(np.float64)
            return tuple(header.shape[-2:]), dtype
    raise FileNotFoundError(f"no readable {role} image among this well's {len(fields)} fields")


def _has_several_planes(fields: pd.DataFrame, role: str) -> bool:
    if "plane_numbers" not in fields:
        return False
    return any(len(planes.get(role) or ()) > 1 for planes in map(field_planes, fields.to_dict("records")))


def _stack(fields: pd.DataFrame, block: Callable[[dict], np.ndarray], shape, dtype) -> da.Array:
    """(site, timepoint, y, x) dask array with one delayed chunk per field (zeros where none)."""
    sites, timepoints, rows = field_grid(fields)
    planes = []
    for s in sites:
        row_planes = []
        for t in timepoints:
            rec = rows.get((s, t))
            if rec is None:
                row_planes.append(da.zeros(shape, dtype=dtype))
            else:
                delayed = dask.delayed(block, pure=False)(rec)
                row_planes.append(da.from_delayed(delayed, shape=shape, dtype=dtype))
        planes.append(da.stack(row_planes))
    return da.stack(planes)


def channel_stack(
    fields: pd.DataFrame, role: str, shape, dtype, plane_rule: PlaneRule = "max", *, cache: FieldCache
) -> da.Array:
    """Lazy (site, timepoint, y, x) stack of one channel role of a well.

    ``plane_rule`` is the plate's ``plates[].planes`` (:func:`plane_rule`): a field
    imaged in several planes shows its projection or chosen plane, as measured.
    """

    def block(rec):
        source = field_sources(rec, plane_rule).get(role)
        key = (rec["plate"], rec["well"], rec["site"], rec["timepoint"], role)
        if not source:
            cache.errors[key] = f"no {role} file for this field"
            return np.zeros(shape, dtype)
        return cache.safe(key, lambda: cache.image(source), shape, dtype)

    return _stack(fields, block, shape, dtype)


def overlay_stacks(
    fields: pd.DataFrame,
    config: RunConfig,
    shape,
    *,
    cache: FieldCache,
    request: Callable[..., None] | None = None,
    calibrations: dict | None = None,
) -> dict[str, da.Array]:
    """Lazy (site, timepoint, y, x) stacks of each overlay in :data:`OVERLAYS`.

    Soma and nuclei labels are int32 label images; the skeleton is uint8 (1 on
    the skeleton). All three come from one :meth:`FieldCache.segmentation` per field,
    on the images of the plate's plane rule in ``config`` (:func:`field_sources`).

    Parameters
    ----------
    cache : FieldCache
        The widget's images and segmentations.
    request : callable, optional
        Background mode: a field not segmented yet shows zeros and
        ``request(paths, config, pixel_size_um, calibration)`` is called, whose job is to
        run :meth:`FieldCache.segmentation` elsewhere and refresh the layers when it is done.
        Without it, reading a field segments it on the spot.
    calibrations : dict, optional
        Plate -> its :class:`~screening.segment.calibration.Calibration` (the run's); plates
        without one calibrate each field on itself.
    """
    calibrations = calibrations or {}
    dtypes = {"soma_labels": np.int32, "nuclei_labels": np.int32, "neurite_skeleton": np.uint8}

    def make(name):
        def block(rec):
            key = (rec["plate"], rec["well"], rec["site"], rec["timepoint"], "segmentation")
            paths = field_sources(rec, plane_rule(config, rec["plate"]))
            px = float(rec.get("pixel_size_um", np.nan))  # none recorded: measure_field names the problem
            cal = calibrations.get(str(rec["plate"]))

            def get():
                if request is None:
                    images = cache.segmentation(paths, config, pixel_size_um=px, calibration=cal)
                else:
                    images = cache.cached_segmentation(paths, config, pixel_size_um=px, calibration=cal)
                    if images is None:
                        request(paths, config, px, cal)
                        images = {}
                if images.get(name) is None:
                    return np.zeros(shape, dtypes[name])
                return images[name]

            return cache.safe(key, get, shape, dtypes[name])

        return block

    return {name: _stack(fields, make(name), shape, dtypes[name]) for name in OVERLAYS}


def layer_geometry(pixel_size_um: float | None) -> tuple[tuple, tuple[str, ...]]:
    """(scale, units) of the (site, timepoint, y, x) layers.

    y and x are scaled to µm when the run recorded the pixel size (the scale bar reads µm);
    without one they stay in px (the scale bar reads px), never a guessed µm per pixel.
    """
    if pixel_size_um is None:
        return (1, 1, 1, 1), ("pixel",) * 4
    return (1, 1, pixel_size_um, pixel_size_um), ("pixel", "pixel", "um", "um")


def contrast_limits(image: np.ndarray, percentiles=(0.5, 99.8)) -> tuple[float, float]:
    """Display range from low and high percentiles of one image (never an empty range)."""
    lo, hi = (float(v) for v in np.percentile(image, percentiles))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


__all__ = [
    "CHANNEL_COLORMAPS",
    "OVERLAYS",
    "FieldCache",
    "channel_stack",
    "contrast_limits",
    "field_grid",
    "field_shape",
    "field_sources",
    "layer_geometry",
    "overlay_stacks",
    "plane_rule",
    "segmentation_key",
]
