"""The engine: paced processing, pause/step, clean stop."""

from __future__ import annotations

import time

from srv_helpers import add, chat_item, client_for, new_batch

from batchframe.server import BatchServer


def test_speed_limited_engine_finishes_everything() -> None:
    with BatchServer(speed=2000) as server, client_for(server) as api:
        batch_id = new_batch(api)
        add(api, batch_id, [chat_item(f"r{i}") for i in range(100)])
        deadline = time.monotonic() + 20
        while api.get(f"/batches/{batch_id}").json()["state"]["num_pending"]:
            assert time.monotonic() < deadline, "engine stalled"
            time.sleep(0.02)
        assert api.get(f"/batches/{batch_id}").json()["state"]["num_success"] == 100


def test_pause_step_resume() -> None:
    with BatchServer(paused=True) as server, client_for(server) as api:
        batch_id = new_batch(api)
        add(api, batch_id, [chat_item(f"r{i}") for i in range(10)])
        assert server.engine.paused
        assert server.engine.step(3) == 3
        assert api.get(f"/batches/{batch_id}").json()["state"]["num_pending"] == 7
        server.engine.resume()
        deadline = time.monotonic() + 20
        while api.get(f"/batches/{batch_id}").json()["state"]["num_pending"]:
            assert time.monotonic() < deadline, "engine stalled"
            time.sleep(0.01)
    server.engine.stop()  # stopping twice is fine
