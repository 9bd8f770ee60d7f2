"""Per-plate calibration: sizes and intensity rules read off a plate's own images.

The segmentation's sizes are fractions of a nucleus and a soma diameter, and its dead-cell and
reporter rules compare a nucleus with the live population around it. Defaults fitted to one
look of culture (10 µm nuclei, bright reporter) are far off on another, so each plate is
measured first, on a sample of its first-timepoint fields (:func:`calibrate`):

1. **Nucleus diameter**: the scale of the strongest blobs of the nuclear stain (scale-space
   LoG, :func:`screening.segment.scale.blob_diameters`), then the median LoG scale at the
   centroids of the nuclei segmented at it.
2. **Soma diameter**: the LoG scale of the reporter at the nuclei where it responds most (the
   reporter-positive somata); without a nuclear channel, at the reporter's strongest blobs.
3. **Live population**: the spread (robust sd of the logarithm) of nucleus area and of nucleus
   brightness relative to its field: a dead (pyknotic) nucleus must stand outside both at once.
4. **Reporter cut-off**: a two-population (log-normal mixture) fit to the pooled per-nucleus
   reporter levels of the sample; the cut-off lies halfway between the two populations in log
   (:func:`two_population_cutoff`). Every field applies it after its own background and
   flat-field correction.
5. **Cytoplasmic reporter**: the share of the sample's nuclei with a bright cell round them that
   are darker than that cell (:func:`screening.segment.dark_nuclei.dark_nuclei`); from a quarter up
   the reporter is cytoplasmic, such nuclei are filled in every field of the plate, and the
   levels of item 4 are read filled.

Every size is bounded by the config's value (the prior): within a factor
``calibration_range`` of it; with too few nuclei or blobs the prior is
kept and the record says why (``source``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from skimage.filters import threshold_otsu

from screening.config.segmentation import SEGMENTATION_DEFAULTS, SegmentationConfig
from screening.plate import MAD_TO_SD
from screening.segment import filters
from screening.segment.background import subtract_background
from screening.segment.dark_nuclei import CYTOPLASMIC_SHARE
from screening.segment.nuclei import border_labels, noise_sigma, segment_nuclei
from screening.segment.scale import blob_diameters

# Fewer sized blobs (or nuclei) than this: the size stays at its prior.
_MIN_SIZED = 20
# A soma is between these multiples of the nucleus diameter (the nucleus/soma ratio of motor
# neurons and of the cells of every validated set is 0.4-0.8).
_SOMA_PER_NUCLEUS = (1.1, 3.0)
# Somata sized: nuclei whose reporter LoG response is at least this fraction of the
# _SOMA_STRONG_PERCENTILE th percentile of the responses at all nuclei (reporter-positive cells
# respond far more; the percentile, not the maximum, so one bright cell does not set the bar).
_SOMA_STRONG_FRACTION = 0.5
_SOMA_STRONG_PERCENTILE = 90
# Background radius: at least this many soma diameters (the config's 50 µm is 3.3 x 15 µm).
_BACKGROUND_SOMATA = 3.3
# Robust spreads of ln(area) and ln(brightness) when a plate gives too few nuclei.
_DEFAULT_SPREAD = 0.25
# Reporter mixture: the two populations count as separated when Ashman's D is at least this
# and the smaller holds at least _MIN_POPULATION of the nuclei.
_MIN_SEPARATION = 2.0
_MIN_POPULATION = 0.03
# Fraction of the lowest and highest levels left out of the mixture fit (outliers in log space).
_TRIM = (0.02, 0.005)
# Smallest sd (of ln level) a mixture component may take: narrower, it is one repeated level
# and its density would grow without bound.
_MIN_LOG_SD = 1e-3


@dataclass(frozen=True)
class Calibration:
    """What a plate's own images decided. Sizes in µm, areas in µm², levels in ADU.

    Attributes
    ----------
    nucleus_diameter_um : float
        Typical nucleus diameter (the scale of every nucleus rule); the config's value
        without a nuclear channel.
    nucleus_area_um2 : float
        Median area of the nuclei segmented in the sample (not at the border): the unit of the
        merged-pair, cut-by-size (:func:`screening.segment.nuclei.segment_nuclei`) and dead-nucleus size
        tests; NaN without a nuclear channel.
    soma_diameter_um : float
        Typical motor-neuron soma diameter.
    background_radius_um : float
        Radius of the smooth background estimate (several soma diameters).
    min_soma_area_um2 : float
        Smallest soma (the config's value scaled with the soma area).
    nucleus_area_spread : float
        Robust sd of ln(nucleus area) of the plate's nuclei.
    nucleus_brightness_spread : float
        Robust sd of ln(nucleus brightness / its field's median).
    reporter_cutoff : float
        Reporter level (background-subtracted, flat-field corrected, ADU) between the plate's
        reporter-negative and -positive nuclei; NaN when the sample shows no two populations
        (each field then decides alone).
    reporter_negative_level : float
        Median level of the reporter-negative population, ADU (NaN as above).
    reporter_hole_share : float
        Of the sample's nuclei with a bright cell round them, the share darker than that cell
        (:func:`screening.segment.dark_nuclei.dark_nuclei`): at 0.25 or more the reporter is cytoplasmic
        and every nucleus darker than the cell round it is filled before counting; NaN without a nuclear channel or with too
        few such nuclei (each field then decides alone).
    n_fields, n_nuclei : int
        Fields sampled and nuclei sized.
    source : str
        ``"images"`` or what was kept from the config and why.
    """

    nucleus_diameter_um: float
    soma_diameter_um: float
    background_radius_um: float
    min_soma_area_um2: float
    nucleus_area_um2: float = math.nan
    nucleus_area_spread: float = _DEFAULT_SPREAD
    nucleus_brightness_spread: float = _DEFAULT_SPREAD
    reporter_cutoff: float = math.nan
    reporter_negative_level: float = math.nan
    reporter_hole_share: float = math.nan
    n_fields: int = 0
    n_nuclei: int = 0
    source: str = "config"

    def sizes(self) -> dict[str, float]:
        """The calibrated sizes, as the keywords the segmentation functions take (µm, µm²)."""
        return {
            "nucleus_diameter_um": self.nucleus_diameter_um,
            "soma_diameter_um": self.soma_diameter_um,
            "background_radius_um": self.background_radius_um,
            "min_soma_area_um2": self.min_soma_area_um2,
        }

    def segmentation(self, seg: SegmentationConfig) -> SegmentationConfig:
        """``seg`` with its sizes replaced by the calibrated ones."""
        return seg.model_copy(update=self.sizes())

    def row(self) -> dict:
        """Flat record (column names with units), values rounded to 4 significant digits."""
        return {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_row(cls, row: Mapping) -> Calibration:
        """The record of :meth:`row` (extra keys, e.g. ``plate``, are ignored)."""
        kinds = {f.name: f.type for f in fields(cls)}
        out = {}
        for name, kind in kinds.items():
            if name not in row:  # a column added since the row was written: its default
                continue
            value = row[name]
            out[name] = int(value) if kind == "int" else str(value) if kind == "str" else float(value)
        return cls(**out)

    @classmethod
    def prior(cls, seg: SegmentationConfig, reason: str = "config") -> Calibration:
        """The config's own values (no calibration)."""
        return cls(seg.nucleus_diameter_um, seg.soma_diameter_um, seg.background_radius_um, seg.min_soma_area_um2,
                   source=reason)


def _bounded(value: float, prior: float, factor: float) -> float:
    return float(np.clip(value, prior / factor, prior * factor))


def calibrate(
    fields_: Sequence[Mapping[str, np.ndarray | None]],
    *,
    pixel_size_um: float,
    nucleus_diameter_um: float = SEGMENTATION_DEFAULTS.nucleus_diameter_um,
    soma_diameter_um: float = SEGMENTATION_DEFAULTS.soma_diameter_um,
    background_radius_um: float = SEGMENTATION_DEFAULTS.background_radius_um,
    min_soma_area_um2: float = SEGMENTATION_DEFAULTS.min_soma_area_um2,
    reporter_positive_ratio: float = SEGMENTATION_DEFAULTS.reporter_positive_ratio,
    calibration_range: float = SEGMENTATION_DEFAULTS.calibration_range,
) -> Calibration:
    """Calibrate the segmentation on a sample of a plate's fields.

    Parameters
    ----------
    fields_ : sequence of dict
        Role -> image (``"reporter"`` and optionally ``"nuclei"``), e.g. the first-timepoint
        fields of a plate (a few are enough; each must have a reporter).
    pixel_size_um : float
        Pixel size, µm.
    nucleus_diameter_um, soma_diameter_um, background_radius_um : float
        The priors, µm: every calibrated size stays within ``calibration_range`` of its prior.
    min_soma_area_um2 : float
        Smallest soma of the prior, µm² (scaled with the calibrated soma area).
    reporter_positive_ratio : float
        As for :func:`screening.segment.somata.count_motor_neurons` (the sample's counts give
        the reporter levels).
    calibration_range : float
        Factor (≥ 1) a calibrated size may differ from its prior by.

    Returns
    -------
    Calibration
        See the module docstring for how each value is decided.
    """
    from screening.segment.somata import count_motor_neurons, reporter_holes

    reasons = []
    fields_ = [f for f in fields_ if f.get("reporter") is not None]
    if not fields_:
        return Calibration(nucleus_diameter_um, soma_diameter_um, background_radius_um, min_soma_area_um2,
                           source="config: no fields to calibrate on")
    with_nuclei = all(f.get("nuclei") is not None for f in fields_)
    nuclei_d, labels, n_sized = nucleus_diameter_um, None, 0
    if with_nuclei:
        nuclei_d, labels, n_sized, why = _nucleus_diameter(
            [f["nuclei"] for f in fields_], pixel_size_um, prior=nucleus_diameter_um,
            factor=calibration_range, background_radius_um=background_radius_um,
        )
        reasons += why
    soma_d, why = _soma_diameter(
        fields_, labels, nuclei_d, pixel_size_um, prior=soma_diameter_um, factor=calibration_range,
        nucleus_prior=nucleus_diameter_um,
    )
    reasons += why
    cal = Calibration(
        nucleus_diameter_um=nuclei_d,
        soma_diameter_um=soma_d,
        background_radius_um=max(background_radius_um, _BACKGROUND_SOMATA * soma_d),
        min_soma_area_um2=min_soma_area_um2 * (soma_d / soma_diameter_um) ** 2,
        n_fields=len(fields_),
        n_nuclei=n_sized,
    )
    if with_nuclei:
        def counts(hole_share: float):
            # The plate decides whether its reporter is cytoplasmic, not each field: first nothing is
            # filled, and the pooled hole share decides whether the levels are read again filled.
            return [count_motor_neurons(
                f["reporter"], f["nuclei"], pixel_size_um=pixel_size_um, nuclei_labels=lab,
                reporter_positive_ratio=reporter_positive_ratio,
                calibration=replace(cal, reporter_hole_share=hole_share), **cal.sizes(),
            ) for f, lab in zip(fields_, labels, strict=True)]

        sample = counts(0.0)
        ringed = holes = 0
        for f, lab, count in zip(fields_, labels, sample, strict=True):
            _, r, darker = reporter_holes(count.reporter_smooth, lab, noise_sigma(f["reporter"]),
                                          soma_diameter_px=soma_d / pixel_size_um,
                                          nucleus_diameter_px=nuclei_d / pixel_size_um)
            ringed, holes = ringed + int(r.sum()), holes + int((r & darker).sum())
        share = holes / ringed if ringed >= _MIN_SIZED else math.nan
        if share >= CYTOPLASMIC_SHARE:
            sample = counts(share)
        levels = [c.candidate_levels for c in sample]
        areas, brightness = [], []
        for f, lab in zip(fields_, labels, strict=True):
            a, b = _area_brightness(f["nuclei"], lab)
            areas.append(a)
            brightness.append(b / np.median(b) if b.size else b)
        areas = np.concatenate(areas)
        cutoff, negative = two_population_cutoff(np.concatenate(levels))
        if not np.isfinite(cutoff):
            reasons.append("reporter: one population in the sample, each field decides")
        cal = replace(
            cal,
            nucleus_area_um2=float(np.median(areas)) * pixel_size_um**2 if areas.size >= _MIN_SIZED else math.nan,
            nucleus_area_spread=_log_spread(areas), nucleus_brightness_spread=_log_spread(np.concatenate(brightness)),
            reporter_cutoff=cutoff, reporter_negative_level=negative,
            reporter_hole_share=share,
        )
    return replace(cal, source="images" if not reasons else "images; " + "; ".join(reasons))


def _nucleus_diameter(images, px: float, *, prior: float, factor: float, background_radius_um: float):
    """(diameter µm, nuclei labels per image at it, nuclei sized, reasons).

    Two looks at the LoG scale: the median over the strongest blobs of the stain gives a first
    diameter; the nuclei segmented at it are then sized at their centroids, whose median is
    the plate's diameter. At a centroid the scale of a large textured nucleus is its own, while
    the strongest blobs include its texture (U2OS: 0.79x the truth's median among blobs, 0.88x
    at centroids). Not the segmented areas themselves: the nuclei that segment confidently
    single are the larger ones (1.15x the truth's median on dsb2018).
    """
    low_px, high_px = prior / factor / px, prior * factor / px
    corrected = [subtract_background(im, radius_um=background_radius_um * factor, pixel_size_um=px)
                 for im in images]
    blobs = np.concatenate([blob_diameters(c, min_diameter_px=low_px, max_diameter_px=high_px,
                                           noise_sigma=noise_sigma(im)) for c, im in zip(corrected, images, strict=True)])
    if blobs.size < _MIN_SIZED:
        labels = [segment_nuclei(im, pixel_size_um=px, nucleus_diameter_um=prior,
                                 background_radius_um=background_radius_um) for im in images]
        return prior, labels, 0, [f"nucleus diameter: {blobs.size} blobs, prior kept"]
    d = _bounded(float(np.median(blobs)) * px, prior, factor)
    labels = [segment_nuclei(im, pixel_size_um=px, nucleus_diameter_um=d, background_radius_um=background_radius_um)
              for im in images]
    sized = np.concatenate([
        blob_diameters(c, min_diameter_px=low_px, max_diameter_px=high_px, at=_centroids(lab))
        for c, lab in zip(corrected, labels, strict=True)
    ])
    if sized.size < _MIN_SIZED:
        return d, labels, int(blobs.size), [f"nucleus diameter: {sized.size} nuclei sized, blob scale kept"]
    d = _bounded(float(np.median(sized)) * px, prior, factor)
    labels = [segment_nuclei(im, pixel_size_um=px, nucleus_diameter_um=d, background_radius_um=background_radius_um)
              for im in images]
    return d, labels, int(sized.size), []


def _centroids(labels: np.ndarray) -> np.ndarray:
    """(K, 2) centroids (row, col) of labels 1..K (absent labels dropped)."""
    area, row, col = filters.label_centroids(labels)
    return np.column_stack([row, col])[area > 0]


def _soma_diameter(fields_, labels, nucleus_d: float, px: float, *, prior: float, factor: float,
                   nucleus_prior: float):
    """(soma diameter µm, reasons): LoG scale of the reporter at the strongly responding nuclei.

    Without enough sized somata, ``prior`` (µm) scaled with the calibrated nucleus
    (``nucleus_d`` over its prior ``nucleus_prior``) is kept.
    """
    if labels is not None:
        low, high = (k * nucleus_d for k in _SOMA_PER_NUCLEUS)
    else:
        low, high = prior / factor, prior * factor
    sizes, responses = [], []
    for i, f in enumerate(fields_):
        corrected = subtract_background(f["reporter"], radius_um=_BACKGROUND_SOMATA * high, pixel_size_um=px)
        at = None
        if labels is not None:
            at = _centroids(labels[i])
            if at.size == 0:
                continue
        d, r = blob_diameters(corrected, min_diameter_px=low / px, max_diameter_px=high / px, at=at,
                              noise_sigma=noise_sigma(f["reporter"]), with_responses=True)
        sizes.append(d)
        responses.append(r)
    sizes = np.concatenate(sizes) if sizes else np.zeros(0)
    responses = np.concatenate(responses) if responses else np.zeros(0)
    if sizes.size:
        strong = responses >= _SOMA_STRONG_FRACTION * np.percentile(responses, _SOMA_STRONG_PERCENTILE)
        sizes = sizes[strong]
    default = prior * nucleus_d / nucleus_prior if labels is not None else prior
    if sizes.size < _MIN_SIZED:
        return _bounded(default, prior, factor), [f"soma diameter: {sizes.size} somata sized, scaled prior kept"]
    return _bounded(float(np.median(sizes)) * px, prior, factor), []


def _area_brightness(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area (px) and mean brightness of each nucleus not touching the border."""
    n = int(labels.max())
    if n == 0:
        return np.zeros(0), np.zeros(0)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    total = np.bincount(flat, weights=np.asarray(image, np.float64).ravel(), minlength=n + 1)[1:]
    keep = (area > 0) & ~border_labels(labels, n)[1:]
    return area[keep].astype(float), total[keep] / area[keep]


def _log_spread(values: np.ndarray) -> float:
    values = values[np.isfinite(values) & (values > 0)]
    if values.size < _MIN_SIZED:
        return _DEFAULT_SPREAD
    logs = np.log(values)
    return float(MAD_TO_SD * np.median(np.abs(logs - np.median(logs))))


def two_population_cutoff(levels: np.ndarray, *, iterations: int = 100) -> tuple[float, float]:
    """Cut-off between two log-normal populations of levels, and the lower one's median.

    Parameters
    ----------
    levels : array of float
        Per-nucleus reporter levels (ADU); non-positive and non-finite values are ignored.
    iterations : int
        EM iterations of the two-component Gaussian mixture on ln(level), started from
        Otsu's split.

    Returns
    -------
    cutoff, negative : float
        The geometric mean of the two populations' medians (halfway in log space), and the
        lower population's median; both NaN when the levels do not form two
        populations (Ashman's D under ``_MIN_SEPARATION`` or a component under
        ``_MIN_POPULATION`` of the levels, or fewer than ``_MIN_SIZED`` levels).
    """
    x = np.sort(np.log(np.asarray(levels, float)[np.isfinite(levels) & (np.asarray(levels, float) > 0)]))
    if x.size < _MIN_SIZED:
        return math.nan, math.nan
    # Nuclei with almost no reporter sit far out in log space and would widen the negative
    # population: the extreme 2 % (low) and 0.5 % (high) are left out of the fit.
    x = x[int(_TRIM[0] * x.size): x.size - int(_TRIM[1] * x.size)]
    split = threshold_otsu(x)
    mu = np.array([x[x <= split].mean(), x[x > split].mean()])
    sd = np.array([x[x <= split].std(), x[x > split].std()]).clip(_MIN_LOG_SD)
    w = np.array([np.mean(x <= split), np.mean(x > split)])
    for _ in range(iterations):
        dens = w / sd * np.exp(-0.5 * ((x[:, None] - mu) / sd) ** 2)
        resp = dens / np.maximum(dens.sum(axis=1, keepdims=True), 1e-300)
        nk = resp.sum(axis=0)
        if (nk < 1).any():
            return math.nan, math.nan
        w = nk / x.size
        mu = (resp * x[:, None]).sum(axis=0) / nk
        sd = np.sqrt((resp * (x[:, None] - mu) ** 2).sum(axis=0) / nk).clip(_MIN_LOG_SD)
    order = np.argsort(mu)
    mu, sd, w = mu[order], sd[order], w[order]
    separation = abs(mu[1] - mu[0]) * np.sqrt(2) / np.sqrt(sd[0] ** 2 + sd[1] ** 2)
    if separation < _MIN_SEPARATION or w.min() < _MIN_POPULATION:
        return math.nan, math.nan
    # Halfway between the two populations in log space (their geometric mean): where they
    # overlap, as many negatives lie above it as positives below within a few % of the count
    # on every look tried (the density's valley moves towards the smaller population and
    # undercounts by up to 9 %); where they do not, any level in the gap is as good.
    cross = 0.5 * (mu[0] + mu[1])
    return float(np.exp(cross)), float(np.exp(mu[0]))
