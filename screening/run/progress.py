"""Progress of a run: a rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)


class FieldProgress:
    """Counts finished fields; shows a bar (terminal) or a log line every ``every_s`` seconds.

    ``verb`` names the work in the bar and in the lines (``measuring`` / ``measured``
    fields in a run, ``rendering`` / ``rendered`` in ``screening simulate``).
    """

    def __init__(self, total: int, console: Console | None = None, every_s: float = 10.0,
                 verb: tuple[str, str] = ("measuring", "measured")):
        self.total, self.done, self.every_s, self.verb = total, 0, every_s, verb
        self.console = console or Console(stderr=True)
        self.start = self._last = time.monotonic()
        self._bar = None
        if self.console.is_terminal and total:
            self._bar = Progress(
                TextColumn(f"{verb[0]} fields"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f} fields/s"), TimeRemainingColumn(),
                console=self.console,
            )
            self._task = self._bar.add_task("fields", total=total, rate=0.0)

    def __enter__(self):
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc):
        if self._bar:
            self._bar.stop()

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.start, 1e-9)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar:
            self._bar.update(self._task, advance=n, rate=self.rate)
        elif time.monotonic() - self._last >= self.every_s or self.done == self.total:
            self._last = time.monotonic()
            remaining = (self.total - self.done) / self.rate if self.rate else float("nan")
            self.console.print(
                f"{self.verb[1]} {self.done}/{self.total} fields, {self.rate:.2f} fields/s, ~{remaining:.0f} s left"
            )
