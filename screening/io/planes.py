"""Fields imaged in several focal planes: one 2-D image per channel.

Harmony (Operetta / Opera Phenix) and CellVoyager exports may hold a z-stack per
field and channel, one file per plane; their index tables carry a ``plane`` column
(1-based). A plane rule turns the stack into the one image the measurements use:

- ``"max"`` (default): maximum-intensity projection, which keeps thin neurites
  that are in focus in any plane;
- ``"mean"``: mean projection (less noise, dimmer out-of-focus neurites);
- an int ``k``: plane ``k`` only (1-based, as in the vendors' files).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from screening.io.tiff import read_image

PlaneRule = str | int


def project_planes(stack: np.ndarray, rule: PlaneRule = "max") -> np.ndarray:
    """Reduce a ``(planes, rows, cols)`` stack to one image.

    Parameters
    ----------
    stack : ndarray, shape (n_planes, rows, cols)
        Planes in plane order (plane 1 first).
    rule : {"max", "mean"} or int
        Projection, or the 1-based plane to keep.

    Returns
    -------
    ndarray, shape (rows, cols)
        Same dtype as ``stack`` for ``"max"`` and a plane; float for ``"mean"``.
    """
    stack = np.asarray(stack)
    if isinstance(rule, int | np.integer) and not isinstance(rule, bool):
        if not 1 <= rule <= stack.shape[0]:
            raise ValueError(f"plane {rule} requested but the field has planes 1..{stack.shape[0]}")
        return stack[rule - 1]
    if rule == "max":
        return stack.max(axis=0)
    if rule == "mean":
        return stack.mean(axis=0)
    raise ValueError(f"unknown plane rule {rule!r}; use 'max', 'mean' or a plane number")


def read_planes(paths: Sequence[str], rule: PlaneRule = "max") -> np.ndarray:
    """Read the plane files of one field and channel (in plane order) and reduce them.

    With a chosen plane only that file is read. A single path is read as it is.
    """
    paths = list(paths)
    if len(paths) == 1:
        return read_image(paths[0])
    if isinstance(rule, int) and not isinstance(rule, bool):
        if not 1 <= rule <= len(paths):
            raise ValueError(f"plane {rule} requested but the field has planes 1..{len(paths)}: {paths[0]} ...")
        return read_image(paths[rule - 1])
    return project_planes(np.stack([read_image(p) for p in paths]), rule)


def group_planes(index: pd.DataFrame, rule: PlaneRule = "max") -> pd.DataFrame:
    """One row per image (plate/well/site/channel/timepoint) with a ``paths`` tuple in plane order.

    An index without a ``plane`` column passes through with one-path tuples. With
    a chosen plane, other planes are dropped here, so a single path remains.
    """
    if "plane" not in index:
        return index.assign(paths=[(p,) for p in index["path"]])
    if isinstance(rule, int) and not isinstance(rule, bool):
        index = index[index["plane"] == rule]
    keys = [c for c in index.columns if c not in ("plane", "path")]
    ordered = index.sort_values("plane", kind="stable")
    grouped = ordered.groupby(keys, sort=False, dropna=False)["path"].agg(tuple).rename("paths").reset_index()
    grouped["path"] = [p[0] for p in grouped["paths"]]
    return grouped
