"""Scoring: from per-field counts to per-patient hazard ratios, plate QC and a pooled ranking.

Modules, one concept each: :mod:`.intervals` (deaths and at-risk per site
series), :mod:`.clustered` (CR2 small-sample cluster-robust variance),
:mod:`.survival` (grouped-time PH per patient), :mod:`.neurite` (neurite
endpoint), :mod:`.plate_qc` (Z', SSMD, B-scores), :mod:`.pooling`
(DerSimonian-Laird, BH, rank), :mod:`.dose` (dose-response trend), :mod:`.warnings` (problems met while
scoring, as records, and their one-line text) and :mod:`.screen` (the stage end to end).
"""

from screening.score.screen import ScoreResult, score_screen, write_scores

__all__ = ["ScoreResult", "score_screen", "write_scores"]
