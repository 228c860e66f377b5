"""A restart on the same database file loses nothing."""

from __future__ import annotations

import pathlib

from srv_helpers import add, chat_item, client_for, new_batch

from batchframe.server import BatchServer


def test_restart_on_file_keeps_everything(tmp_path: pathlib.Path) -> None:
    db = str(tmp_path / "batches.sqlite")
    server = BatchServer(db=db, paused=True)
    with client_for(server) as api:
        done_id = new_batch(api, "done")
        add(api, done_id, [chat_item(f"d{i}", f"text {i}") for i in range(5)])
        server.engine.step()
        open_id = new_batch(api, "open")
        add(api, open_id, [chat_item(f"p{i}") for i in range(3)])
        before = {b: api.get(f"/batches/{b}").json() for b in (done_id, open_id)}
        results_before = api.get(f"/batches/{done_id}/results").content
    server.close()

    server = BatchServer(db=db, paused=True)
    with client_for(server) as api:
        assert {b: api.get(f"/batches/{b}").json() for b in (done_id, open_id)} == before
        assert api.get(f"/batches/{done_id}/results").content == results_before
        assert [b["name"] for b in api.get("/batches").json()["batches"]] == ["open", "done"]
        assert add(api, open_id, [chat_item("p0")]).status_code == 200  # still idempotent
        server.engine.step()
        assert api.get(f"/batches/{open_id}").json()["state"]["num_success"] == 3
    server.close()
