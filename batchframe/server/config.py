"""Settings of the local batch server (one frozen dataclass) and the keys-file reader."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from batchframe.server.prices import DEFAULT_MODELS
from batchframe.server.store_protocol import DEFAULT_EXPIRE_AFTER
from batchframe.server.upstream_wire import check_upstream_url, parse_model_map, parse_prices

__all__ = ["DEFAULT_TEAM", "ServerConfig", "load_keys", "parse_models"]

#: The team every key belongs to when no keys file is given.
DEFAULT_TEAM = "default"


@dataclass(frozen=True)
class ServerConfig:
    """How a :class:`~batchframe.server.app.BatchServer` behaves.

    ``keys`` maps API key -> team; ``None`` accepts any key, all in one shared team.
    ``speed`` is requests processed per second (0 = as fast as it can). The rates are shares in
    ``[0, 1]``; ``latency`` is seconds added to each call; ``seed`` makes faults and failures
    reproducible.

    ``expire_after`` is seconds from a batch's creation to its ``expire_time``, when what is
    unfinished is cancelled. ``upstream`` (an ``http(s)://.../v1`` URL) answers requests with an
    OpenAI-compatible model instead of the simulator: ``upstream_api_key_env`` names the variable
    holding its key, ``upstream_concurrency`` and ``upstream_timeout`` (seconds per call) bound
    the calls, ``upstream_retries`` retries 429, 5xx and timeouts, ``model_map`` renames models
    (``{"grok-4.3": "gemma-3-270m"}`` or ``"grok-4.3=gemma-3-270m,*=other"``), and
    ``upstream_prices`` prices them (``{"grok-4.3": (0.10, 0.40)}`` or ``"grok-4.3=0.10/0.40"``:
    USD per million prompt / completion tokens, by the requests' model; unpriced costs 0).

    >>> ServerConfig(speed=100, fail_rate=0.1).max_body_bytes
    26214400
    >>> ServerConfig(upstream="http://127.0.0.1:8080/v1", model_map="grok-4.3=gemma").model_map
    {'grok-4.3': 'gemma'}
    """

    db: str = ":memory:"
    keys: dict[str, str] | None = None
    speed: float = 0.0
    fail_rate: float = 0.0
    http_error_rate: float = 0.0
    drop_rate: float = 0.0
    latency: float = 0.0
    add_calls_per_30s: float | None = None
    creates_per_second: float | None = None
    max_body_mb: float = 25.0
    time_format: Literal["date", "rfc3339"] = "date"
    seed: int | None = None
    # -- issue 11: the gRPC front, the admitted models, the file flow's limits --------------
    #: serve ``xai_api.BatchMgmt`` (and the tokenizer and model list) over gRPC on this port
    #: (0 = a free one; None = no gRPC front). Needs the ``batchframe[grpc]`` extra.
    grpc_port: int | None = None
    #: the batch-enabled models; any other model fails the add call with 400
    models: tuple[str, ...] = DEFAULT_MODELS
    max_file_mb: float = 200.0
    max_file_lines: int = 50_000
    # -- issue 12: expiry and the upstream model ----------------------------------------------
    expire_after: float = DEFAULT_EXPIRE_AFTER
    upstream: str | None = None
    upstream_api_key_env: str | None = None
    upstream_concurrency: int = 8
    upstream_timeout: float = 300.0
    upstream_retries: int = 4
    model_map: Mapping[str, str] | str | None = None
    upstream_prices: Mapping[str, tuple[float, float]] | str | None = None

    def __post_init__(self) -> None:
        self._check_upstream()
        for name in ("fail_rate", "http_error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.speed < 0 or self.latency < 0 or self.max_body_mb <= 0:
            raise ValueError("speed and latency must be >= 0 and max_body_mb > 0")
        if self.time_format not in ("date", "rfc3339"):
            raise ValueError(f"time_format must be 'date' or 'rfc3339', got {self.time_format!r}")
        if isinstance(self.models, str):  # "a,b,c" as on the command line
            object.__setattr__(self, "models", parse_models(self.models))
        elif not isinstance(self.models, tuple):
            object.__setattr__(self, "models", tuple(self.models))
        if not self.models or not all(isinstance(m, str) and m.strip() for m in self.models):
            raise ValueError("models must be a non-empty list of model names")
        if self.grpc_port is not None and not 0 <= self.grpc_port <= 65535:
            raise ValueError(f"grpc_port must be between 0 and 65535, got {self.grpc_port!r}")
        if self.max_file_mb <= 0 or self.max_file_lines < 1:
            raise ValueError("max_file_mb must be > 0 and max_file_lines >= 1")

    def _check_upstream(self) -> None:
        if not self.expire_after > 0:
            raise ValueError(f"expire_after must be > 0 seconds, got {self.expire_after!r}")
        if self.upstream is not None:
            object.__setattr__(self, "upstream", check_upstream_url(self.upstream))
        elif self.model_map is not None or self.upstream_prices or self.upstream_api_key_env:
            raise ValueError("model_map, upstream_prices and upstream_api_key_env need upstream")
        if self.upstream_concurrency < 1 or not self.upstream_timeout > 0:
            raise ValueError("upstream_concurrency must be >= 1 and upstream_timeout > 0")
        if self.upstream_retries < 0:
            raise ValueError("upstream_retries must be >= 0")
        if self.model_map is not None:
            object.__setattr__(self, "model_map", parse_model_map(self.model_map))
        if self.upstream_prices is not None:
            object.__setattr__(self, "upstream_prices", parse_prices(self.upstream_prices))

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def parse_models(text: str) -> tuple[str, ...]:
    """``--models`` text: comma-separated names, blanks dropped.

    >>> parse_models("grok-4.3, grok-imagine-image,")
    ('grok-4.3', 'grok-imagine-image')
    """
    return tuple(name.strip() for name in text.split(",") if name.strip())


def load_keys(path: str | pathlib.Path) -> dict[str, str]:
    """Read a keys file: one ``key team`` pair a line; blank lines and ``#`` comments skipped.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "keys"
    >>> _ = p.write_text("xai-aaa team-a\\n# comment\\nxai-bbb team-b\\n")
    >>> sorted(load_keys(p).values())
    ['team-a', 'team-b']
    """
    keys: dict[str, str] = {}
    text = pathlib.Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            # Never echo the line: it holds a key.
            raise ValueError(f"{path}: line {number} is not a 'key team' pair")
        keys[parts[0]] = parts[1]
    return keys
