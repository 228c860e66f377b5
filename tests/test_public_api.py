"""The public surface: DESIGN section 2 names exist, __all__ is sorted, errors form one tree."""

from __future__ import annotations

import inspect

import pytest

import batchframe as bf
from batchframe import errors

CONTRACT = [
    "Client",
    "Batch",
    "BatchState",
    "RequestMetadata",
    "BatchResult",
    "Job",
    "to_requests",
    "submit",
    "attach",
    "serve",
]


def test_all_is_sorted_and_importable() -> None:
    assert bf.__all__ == sorted(bf.__all__)
    for name in bf.__all__:
        assert getattr(bf, name) is not None, name


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_names_exist(name: str) -> None:
    assert name in bf.__all__
    assert getattr(bf, name)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = bf.NoSuchThing  # type: ignore[attr-defined]


def test_client_methods_match_the_contract() -> None:
    for method in [
        "create_batch",
        "get_batch",
        "list_batches",
        "iter_batches",
        "add_requests",
        "list_requests",
        "iter_requests",
        "list_results",
        "iter_results",
        "cancel_batch",
    ]:
        assert callable(getattr(bf.Client, method)), method
    params = inspect.signature(bf.Client).parameters
    assert list(params)[:4] == ["api_key", "base_url", "timeout", "max_retries"]
    assert params["timeout"].default == 60.0 and params["max_retries"].default == 5


def test_submit_and_to_requests_share_the_encoding_arguments() -> None:
    enc = inspect.signature(bf.to_requests).parameters
    sub = inspect.signature(bf.submit).parameters
    for name in [
        "prompt",
        "template",
        "messages",
        "system",
        "model",
        "id_column",
        "response_model",
    ]:
        assert name in enc and name in sub, name
    for name in ["name", "client", "progress", "chunk_rows", "chunk_bytes"]:
        assert name in sub, name


def test_error_tree() -> None:
    assert issubclass(errors.APIError, errors.BatchframeError)
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.APIConnectionError, errors.APIError)
    assert issubclass(errors.APIStatusError, errors.APIError)
    expected = {
        400: errors.BadRequestError,
        401: errors.AuthenticationError,
        403: errors.PermissionDeniedError,
        404: errors.NotFoundError,
        412: errors.ConflictError,
        413: errors.PayloadTooLargeError,
        422: errors.UnprocessableError,
        429: errors.RateLimitError,
        500: errors.ServerError,
        503: errors.ServerError,
    }
    for status, cls in expected.items():
        assert errors.status_error_class(status) is cls
        assert issubclass(cls, errors.APIStatusError)
    assert issubclass(errors.ManifestConflictError, ValueError)


def test_redact_scrubs_keys() -> None:
    text = errors.redact("key xai-SECRETSECRET and Bearer abc.def in text", "abc.def")
    assert "SECRET" not in text and "abc.def" not in text
    err = errors.BadRequestError(
        status_code=400,
        error="Incorrect API key provided: xai-SECRETSECRET",
        method="GET",
        path="/b",
    )
    assert "SECRET" not in str(err) and "SECRET" not in repr(err)
