"""Follow every neuron: registration of timepoints, linking of somata, deaths and censoring.

Pure functions on arrays and tables (:mod:`.objects`, :mod:`.register`, :mod:`.link`,
:mod:`.events`); the run folder's stores and the per-site loop are in :mod:`.store` and
:mod:`.sites`. docs/tracking.md describes the method, the config keys and the outputs.
"""
