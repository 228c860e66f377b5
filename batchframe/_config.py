"""Defaults, policies, and the one place that reads environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BATCH_REQUESTS",
    "ChunkPolicy",
    "EnvSettings",
    "PollPolicy",
    "RetryPolicy",
    "env_value",
    "read_env",
]

DEFAULT_BASE_URL = "https://api.x.ai/v1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5

#: The API's limit on one request (and, in older docs, on one add call).
MAX_REQUEST_BYTES = 25 * 1024 * 1024
#: Request IDs longer than this are refused before sending (the API documents no limit).
MAX_ID_LENGTH = 256
#: Page size used when walking requests and results (the API's maximum).
PAGE_LIMIT = 1000
#: More requests than this in one job are split into shards, one batch each (xAI may throttle
#: batches past a million requests).
DEFAULT_MAX_BATCH_REQUESTS = 1_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry a failed call.

    Backoff is capped exponential with full jitter: ``uniform(0, min(max_delay, initial * 2**n))``,
    but never less than a server's ``Retry-After``.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = 0.5
    max_delay: float = 8.0
    retry_statuses: frozenset[int] = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ChunkPolicy:
    """How requests are split into add calls and how fast the calls go.

    Chunks are cut by bytes first: ``max_bytes`` (the whole add-call body, envelope counted)
    stays well under the 25 MB body limit, so a million 100-character prompts take about 22
    calls and three million stay under the 100-call budget; ``max_rows`` only caps chunks of tiny
    requests. (Bigger bodies cost the client more memory than time: each is copied as it is
    sent.) ``calls_per_30s`` paces add calls to the account's budget (the API has published both
    100 and 1000 per 30 s; 100 is the safe default).
    """

    max_rows: int = 100_000
    max_bytes: int = 10 * 1024 * 1024
    calls_per_30s: float = 100.0
    concurrency: int = 4
    #: Seconds added to the 30 s window on our side: a call counted when it starts here reaches
    #: the server a little later, so an exact window lets a few calls land just over the budget.
    window_margin: float = 0.5


@dataclass(frozen=True)
class PollPolicy:
    """How often ``Job.wait`` polls: starts at ``initial``, grows by ``factor`` up to ``maximum``."""

    initial: float = 0.5
    factor: float = 1.5
    maximum: float = 15.0


@dataclass(frozen=True)
class EnvSettings:
    api_key: str | None
    base_url: str | None
    allow_insecure: bool
    progress_disabled: bool
    manifest_dir: str | None
    #: ``BATCHFRAME_HOME``: manifests go to its ``manifests/`` folder (same value as above).
    home: str | None = None


def read_env(environ: Mapping[str, str] | None = None) -> EnvSettings:
    """Read every environment variable batchframe looks at, in one place.

    - ``XAI_API_KEY``: the API key.
    - ``XAI_BASE_URL``: the API base URL (default ``https://api.x.ai/v1``).
    - ``BATCHFRAME_ALLOW_INSECURE=1``: allow sending a key over plain HTTP to a non-loopback host.
    - ``BATCHFRAME_DISABLE_PROGRESS=1``: no progress bars.
    - ``BATCHFRAME_HOME``: batchframe's own folder; job manifests go to its ``manifests/``
      (default: the user's data directory, never the working directory).
    """
    env = os.environ if environ is None else environ

    def flag(name: str) -> bool:
        return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}

    return EnvSettings(
        api_key=env.get("XAI_API_KEY") or None,
        base_url=env.get("XAI_BASE_URL") or None,
        allow_insecure=flag("BATCHFRAME_ALLOW_INSECURE"),
        progress_disabled=flag("BATCHFRAME_DISABLE_PROGRESS"),
        manifest_dir=env.get("BATCHFRAME_HOME") or None,
        home=env.get("BATCHFRAME_HOME") or None,
    )


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the environment variable a user named (e.g. ``--upstream-api-key-env``),
    None when unset or empty.

    >>> env_value("BATCHFRAME_TEST_UNSET_VARIABLE", {})
    """
    env = os.environ if environ is None else environ
    return env.get(name) or None
