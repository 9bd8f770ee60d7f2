"""screening: drug screens on iPSC-derived motor neurons, from plate images to per-patient hazard ratios."""

from importlib import metadata

try:  # one version, pyproject.toml's
    __version__ = metadata.version("screening")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
