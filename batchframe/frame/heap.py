"""Give freed memory back to the operating system between shards.

A shard's add-call bodies are 16 MB Python bytes objects. glibc's malloc, once it has freed one
such block, raises its mmap threshold and serves the next ones from its heaps (one per thread),
which it rarely returns: over many shards the process keeps hundreds of MB it no longer uses.
``malloc_trim`` returns them; Arrow's pool is asked the same. This is what keeps the peak flat
from one shard to ten (the same fix Dask applies to its workers).

>>> release_freed_memory()  # a no-op where there is no glibc
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

__all__ = ["release_freed_memory"]

logger = logging.getLogger("batchframe")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows): nothing to do
        return None
    return trim


def release_freed_memory() -> None:
    """Return memory freed by Python and Arrow to the system, where the platform allows."""
    import gc

    import pyarrow as pa

    gc.collect()  # a shard's arrays caught in reference cycles are freed now, not shards later
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
