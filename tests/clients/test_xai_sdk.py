"""xAI's own Python SDK (``xai-sdk``) against the local server's gRPC front, over loopback.

The two flows below are the SDK's batch example (``examples/sync/batch_request.py`` and
``examples/aio/batch_request.py`` in xai-org/xai-sdk-python, the version that uses
``grok-4.20``), step for step and call for call, written out here rather than copied. They differ
from the example only in ``Client(api_key=..., api_host="localhost:N")`` and a shorter poll
interval (the example sleeps 3 s between polls).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import grpc
import pytest
from xai_sdk import AsyncClient, Client
from xai_sdk.chat import image, system, user

from batchframe.server import ServerHandle, serve

PROMPT = "Please analyze this image and return JSON with the following fields: 'city', 'country', 'attraction_name'"
IMAGE_URLS = [
    "https://images.example.com/photo-1.jpg?w=987",
    "https://images.example.com/photo-2.jpg?w=987",
    "https://images.example.com/photo-3.jpg?w=1170",
]
POLL = 0.05


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with serve(grpc_port=0) as handle:
        yield handle
        assert handle.server.internal_errors == 0


def check_output(out: str) -> None:
    assert "Created new batch" in out and 'name: "my_batch"' in out
    assert "Total cost: $0.0" in out
    assert out.count("state: STATE_SUCCEEDED") == 3  # the request metadata
    assert 'endpoint: "xai_api.Chat/GetCompletion"' in out
    assert out.count(f"Response Content: {PROMPT}") == 3
    assert "Failed results:" not in out
    for index in range(3):
        assert f"Batch request ID: req_{index}" in out


def test_the_sdks_batch_example_sync(
    server: ServerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    client = Client(api_key="local-key", api_host=server.grpc_address)

    batch = client.batch.create(batch_name="my_batch")
    print("Created new batch")
    print(batch)

    batch_requests = []
    for index, image_url in enumerate(IMAGE_URLS):
        chat = client.chat.create(
            model="grok-4.20", max_tokens=1000, temperature=0.7, batch_request_id=f"req_{index}"
        )
        chat.append(user(PROMPT, image(image_url, detail="high")))
        batch_requests.append(chat)
    client.batch.add(batch_id=batch.batch_id, batch_requests=batch_requests)

    while True:
        batch = client.batch.get(batch_id=batch.batch_id)
        print(
            f"Progress: {batch.state.num_success + batch.state.num_error}/{batch.state.num_requests}"
        )
        if batch.state.num_pending == 0:
            break
        time.sleep(POLL)
    print(batch)
    print(f"Total cost: ${batch.cost_breakdown.total_cost_usd_ticks / 1e10:.4f}")

    metadata = client.batch.list_batch_requests(batch_id=batch.batch_id)
    print(metadata)

    batch_results = client.batch.list_batch_results(batch_id=batch.batch_id)
    succeeded = batch_results.succeeded
    failed = batch_results.failed
    for result in succeeded:
        print(f"Batch request ID: {result.batch_request_id}")
        print(f"Response Content: {result.response.content}")
    if len(failed) > 0:
        print("Failed results:")
        for result in failed:
            print(f"Batch request ID: {result.batch_request_id}")
            print(f"Error: {result.error_message}")
    client.close()

    check_output(capsys.readouterr().out)
    assert batch.cost_breakdown.total_cost_usd_ticks > 0
    assert [r.response.usage.cost_in_usd_ticks > 0 for r in succeeded] == [True] * 3
    assert batch_results.pagination_token is None


def test_the_sdks_batch_example_async(
    server: ServerHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> None:
        client = AsyncClient(api_key="local-key", api_host=server.grpc_address)

        batch = await client.batch.create(batch_name="my_batch")
        print("Created new batch")
        print(batch)

        batch_requests = []
        for index, image_url in enumerate(IMAGE_URLS):
            chat = client.chat.create(
                model="grok-4.20", max_tokens=1000, temperature=0.7, batch_request_id=f"req_{index}"
            )
            chat.append(user(PROMPT, image(image_url, detail="high")))
            batch_requests.append(chat)
        await client.batch.add(batch_id=batch.batch_id, batch_requests=batch_requests)

        while True:
            batch = await client.batch.get(batch_id=batch.batch_id)
            if batch.state.num_pending == 0:
                break
            await asyncio.sleep(POLL)
        print(batch)
        print(f"Total cost: ${batch.cost_breakdown.total_cost_usd_ticks / 1e10:.4f}")

        metadata = await client.batch.list_batch_requests(batch_id=batch.batch_id)
        print(metadata)

        batch_results = await client.batch.list_batch_results(batch_id=batch.batch_id)
        for result in batch_results.succeeded:
            print(f"Batch request ID: {result.batch_request_id}")
            print(f"Response Content: {result.response.content}")
        if len(batch_results.failed) > 0:
            print("Failed results:")
        await client.close()

    asyncio.run(main())
    check_output(capsys.readouterr().out)


def test_sdk_sees_failures_cancels_and_errors(server: ServerHandle) -> None:
    client = Client(api_key="local-key", api_host=server.grpc_address)
    batch = client.batch.create(batch_name="mixed")
    good = client.chat.create(model="grok-4.3", batch_request_id="good")
    good.append(system("Answer briefly."))
    good.append(user("What is 2 + 2?"))
    bad = client.chat.create(
        model="grok-4.3", max_tokens=1, temperature=1.5, batch_request_id="bad"
    )
    bad.append(user("x"))
    bad.proto.temperature = 9.0  # past the simulator's range: fails at run time, as on xAI
    client.batch.add(batch_id=batch.batch_id, batch_requests=[good, bad])
    server.server.engine.step()
    results = client.batch.list_batch_results(batch_id=batch.batch_id)
    assert [r.batch_request_id for r in results.succeeded] == ["good"]
    assert results.succeeded[0].response.content == "What is 2 + 2?"
    assert [r.batch_request_id for r in results.failed] == ["bad"]
    assert "temperature" in (results.failed[0].error_message or "")
    page = client.batch.list(limit=1)
    assert [b.name for b in page.batches] == ["mixed"] and not page.pagination_token
    unsupported = client.chat.create(model="grok-3-mini", batch_request_id="old")
    unsupported.append(user("x"))
    with pytest.raises(grpc.RpcError) as info:
        client.batch.add(batch_id=batch.batch_id, batch_requests=[unsupported])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "not supported for batch processing" in info.value.details()  # type: ignore[attr-defined]
    cancelled = client.batch.cancel(batch_id=batch.batch_id)
    assert cancelled.HasField("cancel_time")
    client.close()


def test_sdk_tokenizer_and_models(server: ServerHandle) -> None:
    client = Client(api_key="local-key", api_host=server.grpc_address)
    tokens = client.tokenize.tokenize_text("Hello world!", "grok-4.3")
    assert [t.string_token for t in tokens] == ["Hello", " world", "!"]
    models = client.models.list_language_models()
    assert "grok-4.3" in [m.name for m in models]
    assert client.models.get_language_model("grok-4.3").prompt_text_token_price == 12500
    client.close()


def test_sdk_over_127_0_0_1_with_an_insecure_channel(server: ServerHandle) -> None:
    client = Client(
        api_key="local-key", api_host=f"127.0.0.1:{server.grpc_port}", use_insecure_channel=True
    )
    assert client.batch.create(batch_name="plain").name == "plain"
    client.close()
