"""Progress bars: one final frame when stderr is not a terminal, no `<?, ?req/s` once done."""

from __future__ import annotations

import io

import pytest

from batchframe._progress import LOG_EVERY, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def frames(text: str) -> list[str]:
    """Every frame drawn: a terminal redraws with \\r, a log writes whole lines."""
    return [f.strip() for f in text.replace("\r", "\n").split("\n") if f.strip()]


@pytest.fixture(autouse=True)
def _bars_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHFRAME_DISABLE_PROGRESS", raising=False)


def test_a_log_gets_the_final_frame_once() -> None:
    log = io.StringIO()
    with progress_bar(total=50, desc="job", initial=50, file=log) as bar:
        for _ in range(3):  # what wait() does on every poll
            bar.set_total(50)
            bar.set_count(50)
            bar.set_postfix("ok=50 failed=0 cancelled=0")
    assert "\r" not in log.getvalue()
    (line,) = frames(log.getvalue())
    assert line.startswith("job: 100%|") and "50/50 [00:00, ok=50 failed=0 cancelled=0]" in line
    assert "?" not in line


def test_a_log_gets_a_line_a_minute_while_running_then_the_final_one() -> None:
    log, clock = io.StringIO(), Clock()
    with progress_bar(total=10, desc="job", file=log, clock=clock) as bar:
        bar.set_count(2)  # at 0 s: too soon for a line
        clock.now = LOG_EVERY + 1
        bar.set_count(4)  # a line
        clock.now += 10
        bar.set_count(6)  # too soon again
        clock.now += LOG_EVERY
        bar.set_count(10)  # finished: the final line waits for the end
        bar.set_postfix("ok=10")
    lines = frames(log.getvalue())
    assert len(lines) == 2, lines
    assert "4/10" in lines[0] and "<" in lines[0]  # a running line estimates the time left
    assert "10/10 [02:11, " in lines[1] and lines[1].endswith("ok=10]")
    assert "<" not in lines[1] and "?" not in lines[1]


def test_a_log_bar_that_is_not_kept_writes_nothing_and_disabled_is_silent() -> None:
    log = io.StringIO()
    with progress_bar(total=3, desc="x", leave=False, file=log) as bar:
        bar.update(3)
    with progress_bar(total=3, desc="x", enabled=False, file=log) as off:
        off.update(3)
        assert not off.enabled
    assert log.getvalue() == ""


@pytest.mark.parametrize("initial", [0, 5])
def test_a_terminal_never_shows_an_unknown_rate_for_a_finished_bar(initial: int) -> None:
    term = Terminal()
    with progress_bar(total=5, desc="job", initial=initial, file=term) as bar:
        bar.set_count(5)
        bar.set_postfix("ok=5")
    drawn = frames(term.getvalue())
    finished = [f for f in drawn if "5/5" in f]
    assert finished, drawn
    for frame in finished:
        assert "?" not in frame and "<" not in frame, frame
    assert finished[-1].endswith("ok=5]")


def test_a_broken_output_never_breaks_the_work() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("stderr closed")

    with progress_bar(total=3, desc="x", initial=3, file=Broken()) as bar:
        bar.set_count(3)
    assert not bar.enabled
