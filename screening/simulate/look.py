"""The appearance of a simulated screen, drawn per seed: the ``varied`` preset.

The fixed presets (``small``, ``hard`` ...) all show one look of culture: 10 µm nuclei at
0.65 µm/px, bright neurites, condensed bright dead nuclei. Defaults fitted to that look can be
far off on another. A :class:`Look` names what varies between labs, lines and microscopes
(sizes, brightness spreads, contrasts, optics, noise); :func:`draw_look` draws one from wide
ranges (:data:`LOOK_RANGES`) with the seed, and :func:`look_preset` turns it into a small
:class:`~screening.simulate.presets.Preset` (1 plate, 2 patients, 3 arms, 2 sites, 4
timepoints, ~0.11 mm² fields). Truth stays exact for every look: it is computed from the
geometric model, which the look only scales.

- ``screening simulate OUT --preset varied --seed N``: the look drawn from seed N.
- ``varied_preset(seed, **overrides)``: the same, with chosen look values overridden, and
  ``varied_preset(None, **overrides)``: the :class:`Look` defaults (a middle look) with
  overrides, so a benchmark can sweep a grid of looks.

The written screen records its look in ``truth/look.json`` (:func:`look_record`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from screening.simulate.model import stream
from screening.simulate.presets import (
    KENPAULLONE,
    PATIENTS,
    Compound,
    Culture,
    Design,
    Imaging,
    Preset,
)

STREAM_LOOK = 9  # the look's own random stream (model streams are 1-5, rendering 6-8)

FIELD_SIDE_UM = 333.0  # ~0.11 mm² of culture per field, whatever the pixel size
PSF_SIGMA_UM = 0.58  # optics blur (sigma), µm: 0.9 px at 0.65 µm/px as in the fixed presets
CONDENSED_RADIUS = 0.5  # condensed dead nucleus radius, fraction of the live nucleus radius
CONDENSED_BRIGHTNESS = 2.5  # ... and its brightness, relative to the live nucleus
FADED_BRIGHTNESS = 0.35  # faded dead nuclei keep their shape at this brightness
DOMED_PROFILE = 0.6  # a domed soma's rim is this much dimmer than its centre


@dataclass(frozen=True)
class Look:
    """The appearance of a simulated screen. Defaults: a look in the middle of the ranges.

    Attributes
    ----------
    pixel_size_um : float
        Pixel size (µm); the field has ``FIELD_SIDE_UM / pixel_size_um`` px a side.
    nucleus_diameter_um : float
        Nucleus diameter (µm; ellipse semi-axes 0.95-1.2 and 0.75-0.95 of its half).
    nucleus_soma_ratio : float
        Nucleus diameter / soma diameter.
    nucleus_brightness_sd : float
        Lognormal sd of the brightness of live nuclei, drawn apart from their size (0.25: 95 %
        of nuclei within 0.6-1.6x the median).
    dead_nucleus : str
        Nuclei of dead neurons: ``condensed`` (small, bright), ``faded`` (live shape, dim) or
        ``like_live`` (indistinguishable from a live nucleus).
    soma : str
        ``domed`` (bright centre, dim rim) or ``flat``.
    nucleus_texture : str
        ``fine`` (a chromatin grain about a pixel across), ``chromocentres`` (bright foci, as
        mouse nuclei in Hoechst) or ``nucleoli`` (dark holes, as nuclei marked by a GFP fusion).
        Not drawn by :func:`draw_look` (drawn looks keep ``fine``, so the looks of seeds stay
        what they were); a look sets it explicitly.
    neurite_profile : str
        ``smooth`` or ``beaded`` (varicosities along every neurite, as on axons and on
        degenerating neurites: brightness swinging 0.3-1.7x of the smooth line's every few µm,
        same mean). Not drawn by :func:`draw_look`, as ``nucleus_texture``.
    reporter_contrast : float
        Median motor-neuron soma brightness / reporter-negative cell brightness.
    neurite_snr : float
        Peak of a primary neurite at the soma of a median-brightness neuron, in units of the
        reporter background's pixel noise (sd). Neurites dim by up to 40 % towards their tips.
    neurite_width_um : float
        Primary neurite width (µm); branches are half as wide.
    soma_adu, nucleus_adu : float
        Median soma (reporter) and nucleus brightness above background, camera counts.
    reporter_background_adu, nuclei_background_adu : float
        Background level of each channel, counts above the camera offset.
    gain_adu_per_e, read_noise_adu : float
        Camera: counts per photo-electron (shot noise) and read noise sd (counts).
    vignetting, gradient : float
        Fractional illumination loss in the corners; fractional linear change across the field.
    """

    pixel_size_um: float = 0.65
    nucleus_diameter_um: float = 9.0
    nucleus_soma_ratio: float = 0.6
    nucleus_brightness_sd: float = 0.2
    dead_nucleus: str = "condensed"
    soma: str = "domed"
    nucleus_texture: str = "fine"
    neurite_profile: str = "smooth"
    reporter_contrast: float = 10.0
    neurite_snr: float = 6.0
    neurite_width_um: float = 2.0
    soma_adu: float = 1000.0
    nucleus_adu: float = 800.0
    reporter_background_adu: float = 60.0
    nuclei_background_adu: float = 25.0
    gain_adu_per_e: float = 0.2
    read_noise_adu: float = 3.0
    vignetting: float = 0.2
    gradient: float = 0.2

    def __post_init__(self):
        for name, (low, high, _) in NUMERIC_RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"look {name}={value!r} is outside its range {low}-{high}")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"look {name}={getattr(self, name)!r}; use one of {', '.join(choices)}")

    @property
    def reporter_noise_adu(self) -> float:
        """Pixel noise sd of the reporter background (shot noise and read noise), counts."""
        return math.sqrt(self.gain_adu_per_e * self.reporter_background_adu + self.read_noise_adu**2)


# Ranges of the numeric look values: (low, high, scale of the draw).
NUMERIC_RANGES: dict[str, tuple[float, float, str]] = {
    "pixel_size_um": (0.3, 1.3, "log"),
    "nucleus_diameter_um": (5.0, 14.0, "linear"),
    "nucleus_soma_ratio": (0.4, 0.8, "linear"),
    "nucleus_brightness_sd": (0.05, 0.25, "linear"),
    "reporter_contrast": (3.0, 30.0, "log"),
    "neurite_snr": (1.5, 20.0, "log"),
    "neurite_width_um": (1.0, 3.0, "linear"),
    "soma_adu": (300.0, 3000.0, "log"),
    "nucleus_adu": (300.0, 2000.0, "log"),
    "reporter_background_adu": (20.0, 200.0, "log"),
    "nuclei_background_adu": (10.0, 100.0, "log"),
    "gain_adu_per_e": (0.05, 0.5, "log"),
    "read_noise_adu": (1.0, 8.0, "log"),
    "vignetting": (0.0, 0.4, "linear"),
    "gradient": (0.0, 0.4, "linear"),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "dead_nucleus": ("condensed", "faded", "like_live"),
    "soma": ("domed", "flat"),
    "nucleus_texture": ("fine", "chromocentres", "nucleoli"),
    "neurite_profile": ("smooth", "beaded"),
}
# Look values draw_look leaves at their default (added after the drawn looks were in use).
NOT_DRAWN = ("nucleus_texture", "neurite_profile")
LOOK_RANGES = {**NUMERIC_RANGES, **CHOICES}


def draw_look(seed: int) -> Look:
    """A look drawn from :data:`LOOK_RANGES` with its own random stream (same seed, same look).

    Numeric values are uniform on their range (log-uniform where the scale is ``log``),
    choices uniform over their options.
    """
    rng = stream(seed, STREAM_LOOK)
    values = {}
    for f in fields(Look):
        if f.name in NOT_DRAWN:
            continue
        if f.name in CHOICES:
            options = CHOICES[f.name]
            values[f.name] = options[int(rng.integers(len(options)))]
            continue
        low, high, scale = NUMERIC_RANGES[f.name]
        u = rng.random()
        value = math.exp(math.log(low) + u * math.log(high / low)) if scale == "log" else low + u * (high - low)
        values[f.name] = float(np.clip(round(value, 4), low, high))
    return Look(**values)


DESIGN = Design(
    patients=PATIENTS[:2],
    compounds=(Compound("cpd01", (10.0,), hr_max=0.4, neurite_factor_max=1.15),),
    positive_control=KENPAULLONE,
    replicate_wells=3,
    vehicle_wells=3,
    patients_per_plate=2,
)


def look_preset(look: Look) -> Preset:
    """The small screen of :data:`DESIGN` shown with ``look``.

    Sizes follow the look: the field keeps ~0.11 mm² of culture, cells are spaced, clumped
    and plated more sparsely as they grow (so large cells do not cover the field), and the
    optics blur (PSF, focus drift, defocus) is a fixed size in µm.
    """
    px = look.pixel_size_um
    side = int(round(FIELD_SIDE_UM / px / 8)) * 8
    nucleus_um = look.nucleus_diameter_um
    soma_um = nucleus_um / look.nucleus_soma_ratio
    base = Culture()
    culture = replace(
        base,
        neurons_per_mm2=base.neurons_per_mm2 * min(1.0, 2 * base.soma_radius_um / soma_um),
        clump_radius_um=base.clump_radius_um * soma_um / (2 * base.soma_radius_um),
        min_nucleus_distance_um=0.8 * nucleus_um,
        soma_radius_um=soma_um / 2,
        nucleus_radius_um=nucleus_um / 2,
        nucleus_offset_um=base.nucleus_offset_um * soma_um / (2 * base.soma_radius_um),
        nucleus_brightness_sd=look.nucleus_brightness_sd,
    )
    dead_um, dead_brightness = {
        "condensed": (CONDENSED_RADIUS * nucleus_um / 2, CONDENSED_BRIGHTNESS),
        "faded": (None, FADED_BRIGHTNESS),
        "like_live": (None, 1.0),
    }[look.dead_nucleus]
    legacy = Imaging()
    um_per_legacy_px = legacy.pixel_size_um / px  # µm sizes of the fixed presets, in this look's px
    imaging = replace(
        legacy,
        field_shape=(side, side),
        pixel_size_um=px,
        sites=2,
        days=(0, 3, 7, 14),
        defocus_fraction=0.04,
        defocus_blur_px=tuple(b * um_per_legacy_px for b in legacy.defocus_blur_px),
        psf_sigma_px=max(0.5, PSF_SIGMA_UM / px),
        focus_drift_px=legacy.focus_drift_px * um_per_legacy_px,
        gain_adu_per_e=look.gain_adu_per_e,
        read_noise_adu=look.read_noise_adu,
        reporter_background_adu=look.reporter_background_adu,
        nuclei_background_adu=look.nuclei_background_adu,
        soma_adu=look.soma_adu,
        negative_cell_adu=look.soma_adu / look.reporter_contrast,
        neurite_fraction=look.neurite_snr * look.reporter_noise_adu / look.soma_adu,
        fragment_adu=legacy.fragment_adu / legacy.soma_adu * look.soma_adu,
        nucleus_adu=look.nucleus_adu,
        vignetting=look.vignetting,
        gradient=look.gradient,
        soma_profile=DOMED_PROFILE if look.soma == "domed" else 0.0,
        neurite_width_um=look.neurite_width_um,
        dead_nucleus_um=dead_um,
        dead_nucleus_brightness=dead_brightness,
        nucleus_texture=look.nucleus_texture,
        neurite_profile=look.neurite_profile,
    )
    description = (
        f"1 plate, 2 patients, vehicle + kenpaullone + 1 compound, 3 wells, 2 sites, 4 timepoints, "
        f"{side}x{side} px fields; look: {describe(look)}"
    )
    return Preset("varied", description, DESIGN, culture, imaging, look)


def varied_preset(seed: int | None = None, **overrides) -> Preset:
    """The ``varied`` preset: the look drawn from ``seed`` (the middle look if None), overridden.

    Parameters
    ----------
    seed : int or None
        Seed of the look (``screening simulate --preset varied --seed N`` uses the screen's
        seed); None starts from the :class:`Look` defaults.
    **overrides
        :class:`Look` fields to set, e.g. ``nucleus_diameter_um=5.0`` (checked against
        :data:`LOOK_RANGES`).

    Examples
    --------
    >>> preset = varied_preset(None, pixel_size_um=1.3, dead_nucleus="like_live")
    >>> preset.imaging.field_shape, preset.look.nucleus_diameter_um
    ((256, 256), 9.0)
    """
    look = Look() if seed is None else draw_look(seed)
    unknown = set(overrides) - {f.name for f in fields(Look)}
    if unknown:
        raise ValueError(f"unknown look value(s) {sorted(unknown)}; use {', '.join(LOOK_RANGES)}")
    return look_preset(replace(look, **overrides))


def describe(look: Look) -> str:
    """One line with the look's key values."""
    return (
        f"{look.pixel_size_um:.2f} µm/px, nucleus {look.nucleus_diameter_um:.1f} µm "
        f"(soma ratio {look.nucleus_soma_ratio:.2f}, brightness sd {look.nucleus_brightness_sd:.2f}), "
        f"dead {look.dead_nucleus}, soma {look.soma}, reporter contrast {look.reporter_contrast:.1f}x, "
        f"neurites {look.neurite_snr:.1f}x noise, {look.neurite_width_um:.1f} µm wide"
        + ("" if look.nucleus_texture == "fine" else f", nuclei with {look.nucleus_texture}")
        + ("" if look.neurite_profile == "smooth" else f", {look.neurite_profile} neurites")
    )


def look_record(preset: Preset) -> dict:
    """What ``truth/look.json`` holds: the look's values and what the preset made of them."""
    look = preset.look
    imaging, culture = preset.imaging, preset.culture
    return {
        **asdict(look),
        "derived": {
            "field_shape_px": list(imaging.field_shape),
            "soma_diameter_um": 2 * culture.soma_radius_um,
            "neurons_per_mm2": culture.neurons_per_mm2,
            "reporter_noise_adu": look.reporter_noise_adu,
            "negative_cell_adu": imaging.negative_cell_adu,
            "neurite_fraction": imaging.neurite_fraction,
            "psf_sigma_px": imaging.psf_sigma_px,
        },
    }
