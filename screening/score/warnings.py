"""Scoring warnings as data: what went wrong, and for which plate, patient or arm.

The scoring stages collect :class:`ScoringWarning` records, built by the functions below from
the numbers concerned; :func:`render` is the one place a record becomes the line that
``warnings.txt``, the CLI and the report show, so a reader that wants only one patient's or one
kind's warnings filters records, not prose.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a warning is about (``ScoringWarning.kind``).
KINDS = {
    "input": "a file or field problem found before measuring (the fields concerned fail)",
    "survival_source": "survival from net counts where tracked neurons were asked for",
    "no_estimates": "nothing could be estimated (too few usable timepoints)",
    "scoring_failed": "the scoring code failed; the measurements are kept",
    "plate_qc_failed": "a plate × patient failed plate QC",
    "plate_qc_note": "a plate × patient passed QC with a note",
    "not_estimated": "an arm has no hazard ratio",
    "no_positive_control": "no positive-control wells: Z' and SSMD not computed",
    "rising_counts": "neuron counts rose in some wells (hidden deaths)",
    "zero_start_sites": "sites with no neurons at their first timepoint",
}


@dataclass(frozen=True)
class ScoringWarning:
    """One problem met while scoring.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    message : str
        What happened and what it means, without the subject.
    plate, patient, compound : str, optional
        Whom it concerns.
    concentration_um : float, optional
        The arm's concentration (µM), with ``compound``.
    """

    kind: str
    message: str
    plate: str | None = None
    patient: str | None = None
    compound: str | None = None
    concentration_um: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown warning kind {self.kind!r}; one of {sorted(KINDS)}")

    @property
    def line(self) -> str:
        """:func:`render` of this warning."""
        return render(self)


def render(warning: ScoringWarning) -> str:
    """The warning as one line of text (as in ``warnings.txt``): its subject, then the message.

    The subject is the plate, patient and arm it concerns; whitespace (a multi-line exception
    message) is folded to single spaces so that one warning is one line.
    """
    subject = " ".join(
        part for part in (
            f"plate {warning.plate}" if warning.plate is not None else "",
            f"patient {warning.patient}" if warning.patient is not None else "",
            str(warning.compound) if warning.compound is not None else "",
            f"{warning.concentration_um} µM" if warning.concentration_um is not None else "",
        ) if part
    )
    if not subject:
        text = warning.message
    elif warning.kind == "plate_qc_failed":
        text = f"{subject} {warning.message}"
    else:
        text = f"{subject}: {warning.message}"
    return " ".join(text.split())


def unique(warnings) -> list[ScoringWarning]:
    """``warnings`` without repeats, in first-seen order."""
    return list(dict.fromkeys(warnings))


def _listed(items: list[str], shown: int = 5) -> str:
    """The first ``shown`` items, comma-separated, with ", ..." when there are more."""
    return ", ".join(items[:shown]) + (", ..." if len(items) > shown else "")


def plate_qc_warning(plate, patient, passed: bool, note: str) -> ScoringWarning | None:
    """A plate × patient that failed QC, or passed it with a note (None when clean)."""
    if not passed:
        return ScoringWarning("plate_qc_failed", f"failed QC: {note}", plate=plate, patient=patient)
    if note:
        return ScoringWarning("plate_qc_note", note, plate=plate, patient=patient)
    return None


def rising_counts_warning(patient, wells: list[tuple], max_rise_fraction: float) -> ScoringWarning:
    """Counts rose by more than ``max_rise_fraction`` of those at risk in ``wells`` ((plate, well))."""
    listed = _listed([f"{plate}:{well}" for plate, well in wells])
    return ScoringWarning(
        "rising_counts", f"counts rose by > {max_rise_fraction:.0%} of those at risk in {len(wells)} well(s) "
        f"({listed}); deaths there are undercounted", patient=patient,
    )


def zero_start_warning(patient, sites: list[tuple]) -> ScoringWarning:
    """``sites`` ((plate, well, site)) had no motor neurons at their first usable timepoint but some later."""
    listed = _listed([f"{plate}:{well} s{site}" for plate, well, site in sites])
    return ScoringWarning(
        "zero_start_sites", f"{len(sites)} site(s) had zero motor neurons at their first usable timepoint "
        f"but some later ({listed}); they enter the survival model only from then", patient=patient,
    )


def no_positive_control_warning() -> ScoringWarning:
    """The screen has no positive-control wells."""
    return ScoringWarning("no_positive_control", "no positive-control wells in the screen: Z' and SSMD not computed")


def scoring_failed_warning(error: Exception) -> ScoringWarning:
    """The scoring code raised ``error``; the measurements are kept."""
    return ScoringWarning(
        "scoring_failed", f"scoring failed ({type(error).__name__}: {error}): no hazard ratios; the measurements "
        "are in fields.parquet and wells.parquet. Please report this with the run folder's manifest.json",
    )
