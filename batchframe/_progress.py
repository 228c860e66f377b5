"""Progress bars: the only module that imports tqdm.

``tqdm.auto`` renders as a widget in Jupyter and as a redrawn line in a terminal. When stderr is
not a terminal (a pipe, a CI log, ``2> log.txt``) nothing is redrawn: a line is written at most
once a minute while work goes on, and the final frame exactly once, at the end. A finished bar
shows its elapsed time (and its rate when one was measured), never ``<?, ?req/s``.
``BATCHFRAME_DISABLE_PROGRESS=1`` silences every bar; a broken or closed stderr never breaks a
job.

>>> with progress_bar(total=3, desc="upload", enabled=False) as bar:
...     bar.update(3)
>>> import io
>>> log = io.StringIO()
>>> with progress_bar(total=3, desc="upload", file=log, clock=lambda: 0.0) as bar:
...     bar.set_count(3)
>>> print(log.getvalue().strip())
upload: 100%|██████████| 3/3 [00:00]
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from batchframe._config import read_env

__all__ = ["LOG_EVERY", "ProgressBar", "progress_bar"]

#: Seconds between two progress lines when the output is not a terminal.
LOG_EVERY = 60.0


def finished_format(rate: float | None) -> str:
    """The tqdm ``bar_format`` of a bar that reached its total: no time left to estimate."""
    shown_rate = ", {rate_fmt}" if rate else ""
    return "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}" + shown_rate + "{postfix}]"


class ProgressBar:
    """A progress bar that is safe to use when disabled or when its output fails.

    It draws through a live tqdm bar (terminal, notebook), as lines in a log, or not at all.
    """

    def __init__(self, bar: Any | None = None, log: _LogLines | None = None) -> None:
        self._bar = bar
        self._log = log

    @property
    def enabled(self) -> bool:
        return self._bar is not None or self._log is not None

    def update(self, n: int = 1) -> None:
        if self._log is not None:
            self._log.n += n
            self._guard(self._log.maybe_write)
        if self._bar is not None:
            self._before_draw(self._bar.n + n)
        self._call("update", n)

    def set_total(self, total: int) -> None:
        if self._log is not None:
            self._log.total = total
        if self._bar is not None and self._bar.total != total:
            self._bar.total = total
            self._before_draw(self._bar.n)
            self._call("refresh")

    def set_count(self, n: int) -> None:
        """Move the bar to ``n`` (it only ever shows what the server last reported)."""
        if self._log is not None:
            self._log.n = n
            self._guard(self._log.maybe_write)
        if self._bar is not None and n != self._bar.n:
            self._before_draw(n)
            self._call("update", n - self._bar.n)

    def set_postfix(self, text: str) -> None:
        if self._log is not None:
            self._log.postfix = text
        self._call("set_postfix_str", text, refresh=True)

    def close(self) -> None:
        if self._log is not None:
            self._guard(self._log.write_final)
            self._log = None
        if self._bar is not None and self._bar.total and self._bar.n >= self._bar.total:
            d = self._bar.format_dict
            measured = d["rate"] or ((d["n"] - d["initial"]) / d["elapsed"] if d["elapsed"] else 0)
            self._bar.bar_format = finished_format(measured)  # the last frame, with the rate
        self._call("close")
        self._bar = None

    def _before_draw(self, n: int) -> None:
        """A live bar about to show its total drops the time-left estimate it cannot make."""
        assert self._bar is not None
        total = self._bar.total
        self._bar.bar_format = finished_format(None) if total and n >= total else None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._bar is None:
            return
        try:
            getattr(self._bar, method)(*args, **kwargs)
        except (OSError, ValueError):  # closed or odd stderr: stop drawing, keep working
            self._bar = None

    def _guard(self, write: Callable[[], None]) -> None:
        try:
            write()
        except (OSError, ValueError):
            self._log = None
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _LogLines:
    """A bar for output that is not a terminal: whole lines, the final one written once."""

    def __init__(
        self,
        file: IO[str],
        *,
        total: int | None,
        desc: str,
        unit: str,
        leave: bool,
        initial: int,
        clock: Callable[[], float],
    ) -> None:
        from tqdm.std import tqdm

        self._format_meter = tqdm.format_meter
        self.file, self.total, self.desc, self.unit = file, total, desc, unit
        self.leave, self.initial, self.n, self.postfix = leave, initial, initial, ""
        self.clock = clock
        self.start = self.last_line = clock()

    def maybe_write(self) -> None:
        now = self.clock()
        unfinished = self.total is None or self.n < self.total
        if unfinished and now - self.last_line >= LOG_EVERY:
            self.last_line = now
            self._write(self.frame(now, final=False))

    def write_final(self) -> None:
        if self.leave:
            self._write(self.frame(self.clock(), final=True))

    def frame(self, now: float, *, final: bool) -> str:
        elapsed = max(now - self.start, 0.0)
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else None
        finished = final and bool(self.total) and self.n >= (self.total or 0)
        text: str = self._format_meter(
            self.n,
            self.total,
            elapsed,
            prefix=self.desc,
            unit=self.unit,
            rate=rate or None,
            initial=self.initial,
            postfix=self.postfix or None,
            bar_format=finished_format(rate) if finished else None,
        )
        return text

    def _write(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()


def _is_terminal(file: IO[str]) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def _is_notebook(cls: type) -> bool:
    return any(c.__module__ == "tqdm.notebook" for c in cls.__mro__)


def progress_bar(
    *,
    total: int | None,
    desc: str,
    unit: str = "req",
    enabled: bool = True,
    leave: bool = True,
    initial: int = 0,
    file: IO[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProgressBar:
    """A progress bar on ``file`` (stderr), or a silent stand-in when disabled (argument or
    environment).

    ``initial`` is work already done before the bar starts; it does not count towards the rate.
    ``clock`` times the lines written when ``file`` is not a terminal.
    """
    if not enabled or read_env().progress_disabled:
        return ProgressBar()
    out = file if file is not None else sys.stderr
    try:
        with warnings.catch_warnings():
            # tqdm.auto warns when ipywidgets is missing in a notebook; it falls back to text.
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

            if not _is_notebook(tqdm) and not _is_terminal(out):
                log = _LogLines(
                    out,
                    total=total,
                    desc=desc,
                    unit=unit,
                    leave=leave,
                    initial=initial,
                    clock=clock,
                )
                return ProgressBar(log=log)
            done = bool(total) and initial >= (total or 0)
            bar = tqdm(
                total=total,
                initial=initial,
                bar_format=finished_format(None) if done else None,
                desc=desc,
                unit=unit,
                leave=leave,
                file=out,
                dynamic_ncols=True,
                mininterval=0.2,
            )
    except Exception:  # pragma: no cover - a progress bar must never stop a job
        return ProgressBar()
    return ProgressBar(bar)
