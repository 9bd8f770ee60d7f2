"""The run engine: plan the fields, measure them in parallel with Dask, score and report.

- :mod:`~screening.run.pipeline`: ``run_screen``, ``score_run``, ``report_run`` (what the CLI
  calls) and the Dask graph, built in one place.
- :mod:`~screening.run.tasks`: the per-field task (read planes, segment, measure).
- :mod:`~screening.run.shards`: finished fields stored as they complete, so a rerun resumes.
- :mod:`~screening.run.progress`: the progress bar.
- :mod:`~screening.run.cluster`: a local Dask cluster or a scheduler address.
- :mod:`~screening.run.aggregate`: fields summed per well and timepoint.
"""
