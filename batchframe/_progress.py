"""Progress bars: the only module that imports tqdm.

``tqdm.auto`` renders as a widget in Jupyter and as text elsewhere. ``BATCHFRAME_DISABLE_PROGRESS=1``
silences every bar; a broken or closed stderr never breaks a job.

>>> with progress_bar(total=3, desc="upload", enabled=False) as bar:
...     bar.update(3)
"""

from __future__ import annotations

import sys
import warnings
from types import TracebackType
from typing import Any

from batchframe._config import read_env

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """A thin wrapper over a tqdm bar that is safe to use when disabled or when output fails."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        self._call("update", n)

    def set_total(self, total: int) -> None:
        if self._bar is not None and self._bar.total != total:
            self._bar.total = total
            self._call("refresh")

    def set_count(self, n: int) -> None:
        """Move the bar to ``n`` (it only ever shows what the server last reported)."""
        if self._bar is not None and n != self._bar.n:
            self._call("update", n - self._bar.n)

    def set_postfix(self, text: str) -> None:
        self._call("set_postfix_str", text, refresh=True)

    def close(self) -> None:
        self._call("close")
        self._bar = None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._bar is None:
            return
        try:
            getattr(self._bar, method)(*args, **kwargs)
        except (OSError, ValueError):  # closed or odd stderr: stop drawing, keep working
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


def progress_bar(
    *,
    total: int | None,
    desc: str,
    unit: str = "req",
    enabled: bool = True,
    leave: bool = True,
    initial: int = 0,
) -> ProgressBar:
    """A progress bar, or a silent stand-in when disabled (argument or environment).

    ``initial`` is work already done before the bar starts; it does not count towards the rate.
    """
    if not enabled or read_env().progress_disabled:
        return ProgressBar(None)
    try:
        with warnings.catch_warnings():
            # tqdm.auto warns when ipywidgets is missing in a notebook; it falls back to text.
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

            bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                leave=leave,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.2,
            )
    except Exception:  # pragma: no cover - a progress bar must never stop a job
        return ProgressBar(None)
    return ProgressBar(bar)
