"""Segmentation: background, nuclei, motor-neuron somata, neurite masks (pure functions on arrays)."""

from screening.segment.background import estimate_background, subtract_background
from screening.segment.nuclei import segment_nuclei
from screening.segment.somata import MotorNeuronCount, count_motor_neurons

__all__ = [
    "MotorNeuronCount",
    "count_motor_neurons",
    "estimate_background",
    "segment_nuclei",
    "subtract_background",
]
