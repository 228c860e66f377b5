"""The team's Client against the server in-process: the wire shapes agree end to end."""

from __future__ import annotations

from batchframe.client import Client
from batchframe.server import BatchServer


def test_client_round_trip(client: Client, batch_server: BatchServer) -> None:
    batch = client.create_batch("round trip")
    items = [
        {
            "batch_request_id": f"row-{i}",
            "batch_request": {
                "chat_get_completion": {
                    "model": "grok-4.3",
                    "messages": [{"role": "user", "content": f"text {i}"}],
                    **({"max_tokens": -5} if i == 2 else {}),
                }
            },
        }
        for i in range(5)
    ]
    client.add_requests(batch.batch_id, items)
    client.add_requests(batch.batch_id, items)  # idempotent re-add
    batch_server.engine.step()
    done = client.get_batch(batch.batch_id)
    assert done.is_done and (done.num_success, done.num_error) == (4, 1)
    results = {r.batch_request_id: r for r in client.iter_results(batch.batch_id)}
    assert results["row-0"].content == "text 0"
    assert results["row-2"].error == (
        "Maximum number of tokens max_tokens must be positive but max_tokens = -5"
    )
    assert [m.state for m in client.iter_requests(batch.batch_id)].count("succeeded") == 4
    assert [b.batch_id for b in client.iter_batches()] == [batch.batch_id]
    assert client.cancel_batch(batch.batch_id).is_cancelled
