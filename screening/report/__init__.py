"""The self-contained HTML report of a run folder (``report.html``).

Modules, one concept each: :mod:`.load` (read the run folder, tolerate absent
tables), :mod:`.settings` (the run's config, typed), :mod:`.summaries` (small
tables: survival curves, hits, QC per well), :mod:`.figures` (matplotlib figures
as inline SVG), :mod:`.markup` (number formats, table data, the template
environment), :mod:`.build` (what each section says), :mod:`.calibration` and
:mod:`.tracking` (their sections). The markup is in ``templates/`` (Jinja2):
the page, one template per section, and macros for sections, tables, figures
and notes.
"""

from screening.report.build import render_report, write_report
from screening.report.load import RunTables, load_run

__all__ = ["RunTables", "load_run", "render_report", "write_report"]
