"""Measurements of one field: counts, neurite lengths, field QC; :func:`measure_field` is the entry point."""

from screening.measure.field import FieldMeasurement, measure_field
from screening.measure.qc import field_qc, focus_score

__all__ = ["FieldMeasurement", "field_qc", "focus_score", "measure_field"]
