"""Presets of the synthetic screen: the design, the biology and the microscope, as typed records.

A preset is plain data (frozen dataclasses); :mod:`.model` turns it and a seed into one
simulated screen. Units are in the field names: µm, days, px, ADU (camera counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from screening.simulate.look import Look

VEHICLE = "DMSO"


@dataclass(frozen=True)
class Compound:
    """A compound and its true effect, as a Hill curve in log-hazard.

    ``log HR(c) = log(hr_max) * c**hill / (c**hill + ec50_um**hill)`` and the same curve for
    the neurite factor, so a single concentration far above ``ec50_um`` has HR ``hr_max``.
    """

    name: str
    concentrations_um: tuple[float, ...]
    hr_max: float = 1.0
    neurite_factor_max: float = 1.0
    ec50_um: float = 1.0
    hill: float = 1.0
    responders: tuple[str, ...] | None = None  # patient ids that respond; None: all

    def response(self, concentration_um: float) -> float:
        """Fraction of the maximal log-effect reached at ``concentration_um`` (0..1)."""
        c = concentration_um**self.hill
        return c / (c + self.ec50_um**self.hill) if c > 0 else 0.0

    def hazard_ratio(self, concentration_um: float, patient: str) -> float:
        if self.responders is not None and patient not in self.responders:
            return 1.0
        return math.exp(math.log(self.hr_max) * self.response(concentration_um))

    def neurite_factor(self, concentration_um: float, patient: str) -> float:
        if self.responders is not None and patient not in self.responders:
            return 1.0
        return math.exp(math.log(self.neurite_factor_max) * self.response(concentration_um))


@dataclass(frozen=True)
class Patient:
    """A patient iPSC line; its vehicle motor neurons survive to the last day with this fraction."""

    id: str
    vehicle_survival_end: float = 0.5


@dataclass(frozen=True)
class Design:
    """Which arms go on which plates."""

    patients: tuple[Patient, ...]
    compounds: tuple[Compound, ...]
    positive_control: Compound
    replicate_wells: int = 4
    vehicle_wells: int = 8
    patients_per_plate: int = 1
    plate_rows: int = 8  # 96-well plate
    plate_cols: int = 12
    edge_wells: bool = True  # use the outer ring (where evaporation shortens survival)


@dataclass(frozen=True)
class Culture:
    """Cell density, spatial pattern, survival and neurite growth. Lengths in µm, times in days."""

    # Placed cells before nuclei overlap thinning; ~25 motor neurons per 512x512 px field at
    # 0.65 µm (0.11 mm²) remain at day 0.
    neurons_per_mm2: float = 330.0
    other_cells_per_neuron: float = 1.2  # reporter-negative cells (progenitors, other neurons)
    density_sd_well: float = 0.12  # lognormal sd of plating density between wells
    density_sd_field: float = 0.2  # ... and between fields of a well
    clump_fraction: float = 0.45  # cells that sit in clumps
    clumps_per_mm2: float = 60.0
    clump_radius_um: float = 14.0
    min_nucleus_distance_um: float = 8.0  # closer nuclei would overlap; clumps touch
    soma_radius_um: float = 7.5
    nucleus_radius_um: float = 5.0
    nucleus_offset_um: float = 1.0  # sd per axis of the nucleus centre from the soma centre
    nucleus_brightness_sd: float = 0.25  # lognormal sd of live-nucleus brightness (not tied to size)
    late_onset_fraction: float = 0.2  # reporter turns on after day 0
    late_onset_max_day: float = 4.0
    hazard_shape: float = 1.4  # Weibull shape (>1: deaths accelerate as the culture ages)
    well_effect_sd: float = 0.2  # lognormal per-well random effect on the hazard
    edge_hazard_ratio: float = 1.5
    debris_days: float = 2.5  # mean time a dead neuron's fragments stay visible
    degeneration_days: float = 1.5  # neurites retract over this time before the soma dies
    primary_neurites: float = 3.0  # mean primary neurites per neuron
    primary_length_um: float = 55.0  # median final length of a primary neurite
    length_sd: float = 0.45  # lognormal sd of neurite lengths
    branches_per_100um: float = 0.8
    neurite_step_um: float = 8.0  # random-walk step of the neurite model
    neurite_turn_sd: float = 0.25  # rad per step: how much neurites meander
    growth_at_day0: float = 0.35  # fraction of the final arbor reach already grown at day 0
    growth_tau_days: float = 2.5
    saturated_debris_per_field: float = 0.15  # mean bright saturated particles per field image


@dataclass(frozen=True)
class Imaging:
    """Microscope, camera and acquisition. Sizes in px unless named."""

    field_shape: tuple[int, int] = (512, 512)
    pixel_size_um: float = 0.65  # 20x objective on an ImageXpress, 2x2-binned sCMOS
    sites: int = 4
    days: tuple[float, ...] = (0, 2, 4, 7, 10, 14)
    margin_um: float = 35.0  # cells are simulated this far outside the field
    stage_shift_um: float = 3.0  # sd per axis of the stage repositioning between timepoints
    defocus_fraction: float = 0.01  # field-timepoints badly out of focus (at least one if > 0)
    defocus_blur_px: tuple[float, float] = (4.0, 7.0)
    psf_sigma_px: float = 0.9
    focus_drift_px: float = 1.0  # extra blur reached at the end of a plate's acquisition
    offset_adu: float = 100.0
    gain_adu_per_e: float = 0.1
    read_noise_adu: float = 1.0
    reporter_background_adu: float = 40.0
    nuclei_background_adu: float = 15.0
    soma_adu: float = 1400.0  # median reporter brightness of a motor-neuron soma
    soma_sd: float = 0.35  # lognormal sd of reporter expression
    negative_cell_adu: float = 90.0  # reporter-negative cells: dim autofluorescence
    neurite_fraction: float = 0.4  # neurite brightness relative to its soma
    fragment_adu: float = 2200.0
    nucleus_adu: float = 900.0
    vignetting: float = 0.25  # fractional illumination loss in the field corners
    gradient: float = 0.15  # fractional background change across the field
    soma_profile: float = 0.35  # soma rim dimmer than its centre by this fraction (0: flat)
    # Neurite width (µm): primaries this wide, branches half as wide, and ``neurite_fraction``
    # is a primary's peak. None: primaries three lines 0.6 px apart, branches one line, and
    # ``neurite_fraction`` is a branch's peak (the look of the fixed presets).
    neurite_width_um: float | None = None
    # Nuclei of dead neurons (while their debris lasts): condensed discs of this radius (µm), or
    # None: they keep their live shape and texture; brightness relative to the live nucleus.
    dead_nucleus_um: float | None = 2.6
    dead_nucleus_brightness: float = 2.0
    # Texture of live nuclei: "fine" (a chromatin grain about a pixel across), "chromocentres"
    # (bright foci, as mouse nuclei show in Hoechst) or "nucleoli" (dark holes, as in nuclei
    # marked by a GFP fusion); see screening.simulate.render._nucleus_texture.
    nucleus_texture: str = "fine"
    # Neurite profile along the path: "smooth" or "beaded" (varicosities: brightness swinging
    # 0.3-1.7x of the smooth line's every ~BEAD_PERIOD_UM, same mean; see
    # screening.simulate.render._bead_factor).
    neurite_profile: str = "smooth"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    design: Design
    culture: Culture = field(default_factory=Culture)
    imaging: Imaging = field(default_factory=Imaging)
    look: Look | None = None  # the drawn appearance of a ``varied`` preset (see :mod:`.look`)


PATIENTS = (
    Patient("C9ORF72-1", 0.56),
    Patient("SOD1-A4V", 0.48),
    Patient("TARDBP-M337V", 0.62),
)

KENPAULLONE = Compound("kenpaullone", (5.0,), hr_max=0.25, neurite_factor_max=1.2, ec50_um=0.5)

SCREEN_COMPOUNDS = (
    Compound("cpd01", (0.1, 1.0, 10.0), hr_max=0.4, neurite_factor_max=1.15, ec50_um=1.0),
    Compound("cpd02", (1.0, 10.0), hr_max=0.6, ec50_um=2.0),
    Compound("cpd03", (10.0,), hr_max=0.7, ec50_um=1.0, responders=("C9ORF72-1", "SOD1-A4V")),
    Compound("cpd04", (1.0, 10.0)),
    Compound("cpd05", (10.0,), neurite_factor_max=1.35, ec50_um=1.0),
    Compound("cpd06", (0.1, 1.0, 10.0)),
    Compound("cpd07", (1.0, 10.0), hr_max=1.25, neurite_factor_max=0.7, ec50_um=1.0),
    Compound("cpd08", (10.0,), hr_max=0.8, ec50_um=1.0),
)

_SCREEN = Design(
    patients=PATIENTS,
    compounds=SCREEN_COMPOUNDS,
    positive_control=KENPAULLONE,
    replicate_wells=4,
    vehicle_wells=8,
)


def _null(compounds: tuple[Compound, ...]) -> tuple[Compound, ...]:
    return tuple(replace(c, hr_max=1.0, neurite_factor_max=1.0, responders=None) for c in compounds)


PRESETS: dict[str, Preset] = {
    "demo": Preset(
        "demo",
        "1 plate, 2 patients, vehicle + kenpaullone + 2 compounds, 3 wells each, 1 site, "
        "4 timepoints, 256x256 px fields: small enough to commit",
        Design(
            patients=PATIENTS[:2],
            compounds=(
                Compound("cpd01", (10.0,), hr_max=0.4, neurite_factor_max=1.15),
                Compound("cpd04", (10.0,)),
            ),
            positive_control=KENPAULLONE,
            replicate_wells=3,
            vehicle_wells=3,
            patients_per_plate=2,
        ),
        Culture(neurons_per_mm2=400.0),
        Imaging(field_shape=(256, 256), sites=1, days=(0, 3, 7, 14), defocus_fraction=0.005),
    ),
    "small": Preset(
        "small",
        "1 plate, 2 patients, vehicle + kenpaullone + 3 compounds, 3 wells, 2 sites, "
        "6 timepoints, 512x512 px fields: for tests and benchmarks",
        Design(
            patients=PATIENTS[:2],
            compounds=(SCREEN_COMPOUNDS[0], SCREEN_COMPOUNDS[3], SCREEN_COMPOUNDS[6]),
            positive_control=KENPAULLONE,
            replicate_wells=3,
            vehicle_wells=4,
            patients_per_plate=2,
        ),
        imaging=Imaging(sites=2),
    ),
    "screen": Preset(
        "screen",
        "3 patients (one plate each) x 8 compounds at 1-3 concentrations + vehicle + kenpaullone, "
        "4 wells (8 vehicle), 4 sites, days 0-14",
        _SCREEN,
    ),
    "null": Preset(
        "null",
        "the screen with no compound effect (HR 1, neurite factor 1); kenpaullone keeps its effect",
        replace(_SCREEN, compounds=_null(SCREEN_COMPOUNDS)),
    ),
    "hard": Preset(
        "hard",
        "dense clumped cultures, dim reporter, more late onset, dying neurons and debris: "
        "for segmentation accuracy",
        Design(
            patients=(Patient("C9ORF72-1", 0.3), Patient("SOD1-A4V", 0.25)),
            compounds=(SCREEN_COMPOUNDS[0], SCREEN_COMPOUNDS[3]),
            positive_control=KENPAULLONE,
            replicate_wells=3,
            vehicle_wells=3,
            patients_per_plate=2,
        ),
        Culture(
            neurons_per_mm2=420.0,
            other_cells_per_neuron=1.8,
            clump_fraction=0.7,
            late_onset_fraction=0.35,
            debris_days=4.0,
            saturated_debris_per_field=1.0,
            primary_length_um=70.0,
        ),
        Imaging(
            sites=2,
            soma_adu=600.0,
            soma_sd=0.5,
            negative_cell_adu=120.0,
            reporter_background_adu=120.0,
            defocus_fraction=0.03,
            focus_drift_px=1.5,
        ),
    ),
}


# ``varied`` draws its look from the seed (:func:`screening.simulate.look.varied_preset`).
PRESET_NAMES = (*PRESETS, "varied")


def get_preset(preset: str | Preset, seed: int = 0) -> Preset:
    """The preset of that name (or the preset itself); a clear error names the known ones.

    ``seed`` matters only for ``varied``, whose look is drawn from it.
    """
    if isinstance(preset, Preset):
        return preset
    if preset == "varied":
        from screening.simulate.look import varied_preset

        return varied_preset(seed)
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; use one of {', '.join(PRESET_NAMES)}") from None
