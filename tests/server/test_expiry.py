"""Expiry (``expire_after``, ``--expire-after``): the Batch's ``expire_time`` follows it, and at
expiry what is unfinished is cancelled."""

from __future__ import annotations

import datetime as dt
import time

import httpx
from srv_helpers import add, assert_error, chat_item, client_for, new_batch

from batchframe.server import BatchServer


def _state(api: httpx.Client, batch_id: str) -> dict[str, int]:
    return dict(api.get(f"/batches/{batch_id}").json()["state"])


def test_expire_time_follows_expire_after() -> None:
    with BatchServer(expire_after=7200, time_format="rfc3339") as server, client_for(server) as api:
        batch = api.post("/batches", json={"name": "x"}).json()

    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    gap = parse(batch["expire_time"]) - parse(batch["create_time"])
    assert abs(gap.total_seconds() - 7200) <= 1
    with BatchServer() as server, client_for(server) as api:  # the default: 30 days
        batch = api.post("/batches", json={"name": "x"}).json()
    days = dt.date.fromisoformat(batch["expire_time"]) - dt.date.fromisoformat(batch["create_time"])
    assert days.days == 30


def test_at_expiry_unfinished_requests_are_cancelled() -> None:
    with BatchServer(expire_after=0.5, paused=True) as server, client_for(server) as api:
        batch_id = new_batch(api)
        assert add(api, batch_id, [chat_item(f"r{i}", f"text {i}") for i in range(5)]).is_success
        assert server.engine.step(2) == 2
        deadline = time.monotonic() + 20
        while _state(api, batch_id)["num_pending"]:
            assert time.monotonic() < deadline, "the batch never expired"
            time.sleep(0.05)
        state = _state(api, batch_id)
        results = api.get(f"/batches/{batch_id}/results").json()["results"]
        late = add(api, batch_id, [chat_item("late")])
        metadata = api.get(f"/batches/{batch_id}/requests").json()["batch_request_metadata"]
    assert (state["num_success"], state["num_cancelled"], state["num_pending"]) == (2, 3, 0)
    errors = [r["batch_result"].get("error") for r in results]
    assert errors == [None, None, "Batch expired", "Batch expired", "Batch expired"]
    assert [m["state"] for m in metadata] == ["succeeded"] * 2 + ["cancelled"] * 3
    assert_error(late, 403)


def test_a_batch_not_yet_expired_keeps_running() -> None:
    with BatchServer(expire_after=3600, paused=True) as server, client_for(server) as api:
        batch_id = new_batch(api)
        assert add(api, batch_id, [chat_item("a")]).is_success
        assert server.store.expire(time.time()) == 0
        assert server.engine.step() == 1
        assert _state(api, batch_id)["num_success"] == 1
