"""Scoring warnings as data: what went wrong, and for which plate, patient or arm.

The scoring stages collect :class:`ScoringWarning` records; :attr:`ScoringWarning.line` is the
one place their text is made (``warnings.txt``, the CLI and the report show it), so a reader
that wants only one patient's or one kind's warnings filters records, not prose.
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
        """The warning as one line of text: its subject, then the message."""
        subject = " ".join(
            part for part in (
                f"plate {self.plate}" if self.plate is not None else "",
                f"patient {self.patient}" if self.patient is not None else "",
                str(self.compound) if self.compound is not None else "",
                f"{self.concentration_um} µM" if self.concentration_um is not None else "",
            ) if part
        )
        if not subject:
            return self.message
        return f"{subject} {self.message}" if self.kind == "plate_qc_failed" else f"{subject}: {self.message}"


def unique(warnings) -> list[ScoringWarning]:
    """``warnings`` without repeats, in first-seen order."""
    return list(dict.fromkeys(warnings))
