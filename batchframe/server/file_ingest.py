"""The file flow's second half: a batch created with ``input_file_id`` is filled from its JSONL file.

Each line of the file is ``{"custom_id", "method", "url", "body"}``: ``custom_id`` becomes the
``batch_request_id`` verbatim, ``method`` is ``POST``, ``url`` picks the request kind, ``body`` is
that endpoint's request. Blank lines are skipped. The file is parsed in the background, after the
create call returned (xAI does it asynchronously too, and the batch shows all-zero counters
until then). One bad line (not UTF-8, not JSON, a missing or repeated ``custom_id``, an unknown
``url``, a model that is not batch-enabled, a line over the request size limit, more lines than
the limit) admits nothing: the batch is cancelled with ``cancel_by_xai_message`` =
``"JSONL file validation failed: line N: <why>"``, as xAI does.

>>> items = parse_jsonl(b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",'
...     b' "body": {"model": "grok-4.3", "messages": []}}\\n', frozenset({"grok-4.3"}))
>>> items[0][:3]
('a', 'chat_get_completion', 'grok-4.3')
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from batchframe.server.admission import MAX_REQUEST_ID
from batchframe.server.store_protocol import BatchStore, NewRequest

__all__ = ["URL_KINDS", "FileIngest", "FileInvalid", "parse_jsonl"]

log = logging.getLogger("batchframe")

MAX_LINES = 50_000
MAX_LINE_BYTES = 25 * 1024 * 1024
#: line ``url`` -> the request kind it is stored as (the guide's list; videos/edits is a generation)
URL_KINDS = {
    "/v1/chat/completions": "chat_get_completion",
    "/v1/responses": "responses",
    "/v1/images/generations": "image_generation",
    "/v1/images/edits": "image_edit",
    "/v1/videos/generations": "video_generation",
    "/v1/videos": "video_generation",
    "/v1/videos/edits": "video_generation",
    "/v1/videos/extensions": "video_extension",
}
_PREFIX = "JSONL file validation failed: "


class FileInvalid(Exception):
    """The file cannot become a batch; the message is the ``cancel_by_xai_message``."""


def parse_jsonl(
    content: bytes,
    admitted: frozenset[str],
    *,
    max_lines: int = MAX_LINES,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> list[NewRequest]:
    """Every line of a batch input file as a stored request, or :class:`FileInvalid`."""
    out: list[NewRequest] = []
    seen: set[str] = set()
    for number, line in enumerate(content.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(out) >= max_lines:
            raise FileInvalid(f"{_PREFIX}the file has more than {max_lines:,} requests")
        if len(line) > max_line_bytes:
            raise FileInvalid(
                f"{_PREFIX}line {number}: the request is larger than {max_line_bytes:,} bytes"
            )
        try:
            item = _parse_line(line, admitted)
        except ValueError as exc:
            raise FileInvalid(f"{_PREFIX}line {number}: {exc}") from None
        if item[0] in seen:
            raise FileInvalid(f"{_PREFIX}line {number}: duplicate custom_id {item[0][:200]!r}")
        seen.add(item[0])
        out.append(item)
    if not out:
        raise FileInvalid(f"{_PREFIX}the file holds no requests")
    return out


def _parse_line(line: bytes, admitted: frozenset[str]) -> NewRequest:
    try:
        line.decode("utf-8")
        value = orjson.loads(line)
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    rid = value.get("custom_id")
    if not isinstance(rid, str) or not rid or len(rid) > MAX_REQUEST_ID or "\x00" in rid:
        raise ValueError(f"custom_id must be a string of 1 to {MAX_REQUEST_ID} characters")
    method = value.get("method", "POST")
    if method != "POST":
        raise ValueError(f"method must be POST, got {str(method)[:50]!r}")
    url = value.get("url")
    kind = URL_KINDS.get(url) if isinstance(url, str) else None
    if kind is None:
        raise ValueError(
            f"unsupported url {str(url)[:100]!r}; expected one of {', '.join(URL_KINDS)}"
        )
    body = value.get("body")
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return rid, kind, _check_body(kind, body, admitted), orjson.dumps({kind: body})


def _check_body(kind: str, body: dict[str, Any], admitted: frozenset[str]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError("body.model must be given and not empty")
    if model not in admitted:
        # xAI words this one without a line number (reference section 7).
        raise ValueError(f"Model {model[:200]} is not supported for batch processing.")
    if kind == "chat_get_completion" and not isinstance(body.get("messages"), list):
        raise ValueError("body.messages must be a list")
    if kind == "responses" and body.get("input") is None:
        raise ValueError("body.input is missing")
    return model


class FileIngest:
    """A background thread that parses the input files of new file batches, oldest first.

    It picks up unparsed batches on start too, so a restart finishes what a crash left.
    """

    def __init__(
        self,
        store: BatchStore,
        admitted: Callable[[], frozenset[str]],
        *,
        on_requests: Callable[[], None] = lambda: None,
        max_lines: int = MAX_LINES,
    ) -> None:
        self.store = store
        self._admitted = admitted
        self._on_requests = on_requests
        self.max_lines = max_lines
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._asked = 0  # notify() calls so far
        self._answered = 0  # the notify() count the last empty pass started after
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="batchframe-files", daemon=True)
            self._thread.start()
        self.notify()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None

    def notify(self) -> None:
        with self._done:
            self._asked += 1
        self._wake.set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every file batch created before this call is parsed (False: timed out,
        or the ingest is stopped and will not parse them)."""
        if self._thread is None:
            return False
        with self._done:
            asked = self._asked
            return self._done.wait_for(lambda: self._answered >= asked, timeout)

    def run_once(self) -> int:
        """Parse every unparsed file batch now; return how many were handled."""
        pending = self.store.unparsed_file_batches()
        for team, batch_id, file_id in pending:
            self._ingest(team, batch_id, file_id)
        return len(pending)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._done:
                asked = self._asked
            try:
                if self.run_once() == 0:
                    with self._done:
                        self._answered = asked
                        self._done.notify_all()
                    self._wake.wait(1.0)
            except Exception:  # never let one file kill the thread
                log.exception("file ingest failed")
                self._wake.wait(1.0)

    def _ingest(self, team: str, batch_id: str, file_id: str) -> None:
        now = time.time()
        content = self.store.file_content(team, file_id)
        try:
            if content is None:
                raise FileInvalid(f"{_PREFIX}input file {file_id} was deleted")
            items = parse_jsonl(content, self._admitted(), max_lines=self.max_lines)
        except FileInvalid as exc:
            self.store.cancel_batch(team, batch_id, now=now, xai_message=str(exc))
            return
        # A batch its owner cancelled (or that expired) while the file was parsed takes nothing.
        if self.store.fill_file_batch(team, batch_id, items, now=now):
            self._on_requests()
