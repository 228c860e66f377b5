"""batchframe: run xAI Batch API jobs over a DataFrame column.

>>> import batchframe as bf
>>> job = bf.submit(df, template="Sentiment of: {review}", model="grok-4.3")  # doctest: +SKIP
>>> job.wait()                                                                # doctest: +SKIP
>>> out = job.results()                                                       # doctest: +SKIP

Names are imported lazily, so ``import batchframe`` stays fast and the local server's
dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "APIConnectionError": "batchframe.errors",
    "APIError": "batchframe.errors",
    "APIStatusError": "batchframe.errors",
    "APITimeoutError": "batchframe.errors",
    "AuthenticationError": "batchframe.errors",
    "BadRequestError": "batchframe.errors",
    "Batch": "batchframe.models",
    "BatchPage": "batchframe.models",
    "BatchResult": "batchframe.models",
    "BatchState": "batchframe.models",
    "BatchframeError": "batchframe.errors",
    "ChunkPolicy": "batchframe._config",
    "Client": "batchframe.client",
    "ConflictError": "batchframe.errors",
    "CostLimitError": "batchframe.errors",
    "Estimate": "batchframe.frame.estimate",
    "FileObject": "batchframe.models",
    "IncompleteResultsError": "batchframe.errors",
    "Job": "batchframe.frame.job",
    "JoinError": "batchframe.errors",
    "LanguageModel": "batchframe.models",
    "ManifestConflictError": "batchframe.errors",
    "NotFinishedError": "batchframe.errors",
    "NotFoundError": "batchframe.errors",
    "PaginationError": "batchframe.errors",
    "PayloadTooLargeError": "batchframe.errors",
    "PermissionDeniedError": "batchframe.errors",
    "PollPolicy": "batchframe._config",
    "RateLimitError": "batchframe.errors",
    "RequestMetadata": "batchframe.models",
    "RequestPage": "batchframe.models",
    "ResultPage": "batchframe.models",
    "RetryPolicy": "batchframe._config",
    "ServerError": "batchframe.errors",
    "Token": "batchframe.models",
    "UnexpectedResponseError": "batchframe.errors",
    "UnprocessableError": "batchframe.errors",
    "UploadError": "batchframe.errors",
    "WaitTimeoutError": "batchframe.errors",
    "attach": "batchframe.frame.attach",
    "cache_info": "batchframe.frame.cache",
    "clear_cache": "batchframe.frame.cache",
    "estimate": "batchframe.frame.estimate",
    "serve": "batchframe.server.runner",
    "submit": "batchframe.frame.submit",
    "to_requests": "batchframe.frame.encode",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from batchframe._config import ChunkPolicy, PollPolicy, RetryPolicy
    from batchframe.client import Client
    from batchframe.errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BatchframeError,
        ConflictError,
        CostLimitError,
        IncompleteResultsError,
        JoinError,
        ManifestConflictError,
        NotFinishedError,
        NotFoundError,
        PaginationError,
        PayloadTooLargeError,
        PermissionDeniedError,
        RateLimitError,
        ServerError,
        UnexpectedResponseError,
        UnprocessableError,
        UploadError,
        WaitTimeoutError,
    )
    from batchframe.frame.attach import attach
    from batchframe.frame.cache import cache_info, clear_cache
    from batchframe.frame.encode import to_requests
    from batchframe.frame.estimate import Estimate, estimate
    from batchframe.frame.job import Job
    from batchframe.frame.submit import submit
    from batchframe.models import (
        Batch,
        BatchPage,
        BatchResult,
        BatchState,
        FileObject,
        LanguageModel,
        RequestMetadata,
        RequestPage,
        ResultPage,
        Token,
    )
    from batchframe.server.runner import serve


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batchframe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
