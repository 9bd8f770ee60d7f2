"""screening: drug screens on iPSC-derived motor neurons, from plate images to per-patient hazard ratios."""

__version__ = "0.1.0"
