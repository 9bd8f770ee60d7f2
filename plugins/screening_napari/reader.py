"""npe2 reader: ``napari runs/my-screen`` opens a run folder in the "Run QC" widget.

A run folder holds tables, not one image, so the reader adds no layer itself
(it returns napari's "claimed, nothing to add" value ``[(None,)]``); it docks the
QC widget and opens the run there, and the widget adds layers as wells are chosen.
"""

from __future__ import annotations

from pathlib import Path

from screening_napari.run import is_run_folder

PLUGIN = "screening"
WIDGET = "Run QC"


def get_reader(path):
    """Return :func:`read_run` for a run folder (``manifest.json`` + ``fields.parquet``), else None."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    return read_run if is_run_folder(path) else None


def qc_widget(viewer):
    """The viewer's "Run QC" dock widget (docked on first use)."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return widget


def read_run(path):
    """Open the run folder in the current viewer's QC widget; adds no layer."""
    import napari

    path = Path(path[0] if isinstance(path, list | tuple) else path)
    viewer = napari.current_viewer()
    if viewer is not None:
        qc_widget(viewer).open_run(path)
    return [(None,)]
