"""napari plugin for visual QC of a `screening` run folder.

Thin over the library: it reads the run folder's tables and images, shows the
library's own segmentation, writes ``qc_flags.csv`` and calls the scoring stage.
Widgets: "Run QC" (:class:`~screening_napari.widget.QCWidget`); reader: a run folder.
"""

from screening_napari.reader import get_reader
from screening_napari.run import METRICS, QCRun, RunFolderError, is_run_folder

__all__ = ["METRICS", "QCRun", "RunFolderError", "get_reader", "is_run_folder"]
