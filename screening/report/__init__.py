"""The self-contained HTML report of a run folder (``report.html``).

Modules, one concept each: :mod:`.load` (read the run folder, tolerate absent
tables), :mod:`.summaries` (small tables: survival curves, hits, QC per well),
:mod:`.figures` (matplotlib figures as inline SVG), :mod:`.markup` (HTML pieces,
style and the sort script) and :mod:`.build` (the page).
"""

from screening.report.build import render_report, write_report
from screening.report.load import RunTables, load_run

__all__ = ["RunTables", "load_run", "render_report", "write_report"]
