"""Settings of the local batch server (one frozen dataclass) and the keys-file reader."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Literal

from batchframe.server.store import DEFAULT_EXPIRE_AFTER

__all__ = ["DEFAULT_TEAM", "ServerConfig", "load_keys"]

#: The team every key belongs to when no keys file is given.
DEFAULT_TEAM = "default"


@dataclass(frozen=True)
class ServerConfig:
    """How a :class:`~batchframe.server.app.BatchServer` behaves.

    ``keys`` maps API key -> team; ``None`` accepts any key, all in one shared team.
    ``speed`` is requests processed per second (0 = as fast as it can). The rates are shares in
    ``[0, 1]``; ``latency`` is seconds added to each call; ``seed`` makes faults and failures
    reproducible. ``expire_after`` is seconds from a batch's creation to its ``expire_time``,
    when what is unfinished is cancelled.

    >>> ServerConfig(speed=100, fail_rate=0.1).max_body_bytes
    26214400
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
    expire_after: float = DEFAULT_EXPIRE_AFTER

    def __post_init__(self) -> None:
        if not self.expire_after > 0:
            raise ValueError(f"expire_after must be > 0 seconds, got {self.expire_after!r}")
        for name in ("fail_rate", "http_error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.speed < 0 or self.latency < 0 or self.max_body_mb <= 0:
            raise ValueError("speed and latency must be >= 0 and max_body_mb > 0")
        if self.time_format not in ("date", "rfc3339"):
            raise ValueError(f"time_format must be 'date' or 'rfc3339', got {self.time_format!r}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


def load_keys(path: str | pathlib.Path) -> dict[str, str]:
    """Read a keys file: one ``key team`` pair a line; blank lines and ``#`` comments skipped.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "keys")
    >>> _ = open(p, "w").write("xai-aaa team-a\\n# comment\\nxai-bbb team-b\\n")
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
