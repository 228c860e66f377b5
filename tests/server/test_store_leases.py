"""The store's work queue: claims under leases, a crash mid-claim, cancel with work in flight,
results written once, expiry, and a file made before leases existed."""

from __future__ import annotations

import pathlib
import sqlite3

import orjson
import pytest

from batchframe.server.errors import PermissionDenied
from batchframe.server.store import Store
from batchframe.server.store_protocol import FAILED, SUCCEEDED, BatchStore, Claim, Pending

TEAM = "team"


def fill(store: Store, n: int, name: str = "b", now: float = 0.0) -> str:
    batch = store.create_batch(TEAM, name, key_id="k", now=now)
    items = [(f"{name}{i:03d}", "chat_get_completion", "m", b"{}") for i in range(n)]
    assert store.add_requests(TEAM, batch.batch_id, items, now=now) == n
    return batch.batch_id


def answers(items: list[Pending], state: int = SUCCEEDED, tag: str = "ok") -> list[tuple]:  # type: ignore[type-arg]
    return [
        (seq, pk, rid, state, orjson.dumps({"rid": rid, "tag": tag})) for seq, pk, rid, *_ in items
    ]


def counts(store: Store, batch_id: str) -> tuple[int, int, int, int]:
    b = store.require_batch(TEAM, batch_id)
    return b.num_pending, b.num_success, b.num_error, b.num_cancelled


def test_sqlite_store_is_a_batch_store() -> None:
    assert isinstance(Store(), BatchStore)


def test_claims_hand_out_each_request_once_until_finished() -> None:
    store = Store()
    batch_id = fill(store, 10)
    first = store.claim(4, now=0.0)
    second = store.claim(100, now=0.0)
    assert first is not None and second is not None
    assert [r[2] for r in first.items] == [f"b{i:03d}" for i in range(4)]
    assert [r[2] for r in second.items] == [f"b{i:03d}" for i in range(4, 10)]
    assert store.claim(100, now=0.0) is None  # all claimed, none free
    assert counts(store, batch_id) == (10, 0, 0, 0)  # claimed still shows as pending
    assert store.finish(answers(first.items), now=1.0, close=[first.lease]) == 4
    assert store.finish(answers(second.items, FAILED), now=1.0, close=[second.lease]) == 6
    assert counts(store, batch_id) == (0, 4, 6, 0)
    assert store.stats()["leases"] == 0


def test_a_crash_mid_claim_reruns_the_requests_and_answers_each_once(
    tmp_path: pathlib.Path,
) -> None:
    db = str(tmp_path / "s.sqlite")
    store = Store(db)
    batch_id = fill(store, 6)
    claim = store.claim(100, now=0.0)
    assert claim is not None
    store.finish(answers(claim.items[:2], tag="first run"), now=0.5)  # two landed, then the crash
    store.close()

    store = Store(db)  # the restart: the dead process's lease is released
    again = store.claim(100, now=1.0)
    assert again is not None
    assert [r[2] for r in again.items] == [r[2] for r in claim.items[2:]]  # only the unfinished
    # The dead run's late answers (if its process had lingered) and the rerun's: stored once.
    assert store.finish(answers(claim.items, tag="late"), now=2.0) == 4
    assert store.finish(answers(again.items, tag="rerun"), now=2.0, close=[again.lease]) == 0
    rows = store.list_results(store.require_batch(TEAM, batch_id).pk, 100, None)
    assert [rid for rid, _ in rows] == [f"b{i:03d}" for i in range(6)]
    tags = [orjson.loads(result)["tag"] for _, result in rows]
    assert tags == ["first run"] * 2 + ["late"] * 4
    assert counts(store, batch_id) == (0, 6, 0, 0)
    store.close()


def test_a_lease_expires_unless_renewed() -> None:
    store = Store()
    fill(store, 3)
    claim = store.claim(100, now=0.0, lease_seconds=10)
    assert claim is not None
    assert store.claim(100, now=9.0) is None
    store.renew([claim.lease], now=9.0, lease_seconds=10)
    assert store.claim(100, now=15.0) is None  # renewed until 19
    again = store.claim(2, now=20.0)  # expired: handed out again, in seq order, in part
    assert again is not None and [r[2] for r in again.items] == ["b000", "b001"]
    rest = store.claim(100, now=20.0)
    assert rest is not None and [r[2] for r in rest.items] == ["b002"]


def test_cancel_keeps_requests_in_flight_and_cancels_the_rest() -> None:
    store = Store()
    batch_id = fill(store, 10)
    claim = store.claim(3, now=0.0)
    assert claim is not None
    batch = store.cancel_batch(TEAM, batch_id, now=1.0)
    assert (batch.num_pending, batch.num_cancelled) == (3, 7)
    assert store.claim(100, now=1.0) is None  # nothing of a cancelled batch is claimed again
    assert store.finish(answers(claim.items), now=2.0, close=[claim.lease]) == 3
    assert counts(store, batch_id) == (0, 3, 0, 7)
    assert store.cancel_batch(TEAM, batch_id, now=3.0).num_cancelled == 7  # idempotent


def test_requests_given_back_in_a_cancelled_batch_end_cancelled() -> None:
    store = Store()
    batch_id = fill(store, 4)
    other = fill(store, 2, name="o")
    claim = store.claim(4, now=0.0)
    assert claim is not None
    store.cancel_batch(TEAM, batch_id, now=1.0)
    assert counts(store, batch_id) == (4, 0, 0, 0)  # all four in flight
    store.finish(answers(claim.items[:1]), now=2.0)
    store.release([claim.lease], now=2.0)  # the model could not run the other three
    assert counts(store, batch_id) == (0, 1, 0, 3)  # at once: no claim needed to settle them
    rest = store.claim(100, now=2.0)
    assert rest is not None and [r[2] for r in rest.items] == ["o000", "o001"]
    assert counts(store, other) == (2, 0, 0, 0)


def test_expiry_cancels_what_is_unfinished_and_closes_the_batch() -> None:
    store = Store(expire_after=100.0)
    old = fill(store, 5, name="old", now=0.0)
    young = fill(store, 2, name="young", now=50.0)
    claim = store.claim(2, now=60.0)
    assert claim is not None
    assert store.expire(now=99.0) == 0
    assert store.expire(now=100.0) == 3  # the two in flight finish
    assert store.expire(now=101.0) == 0  # once
    store.finish(answers(claim.items), now=102.0, close=[claim.lease])
    assert counts(store, old) == (0, 2, 0, 3)
    assert counts(store, young) == (2, 0, 0, 0)
    pk = store.require_batch(TEAM, old).pk
    errors = {
        orjson.loads(r).get("batch_result", {}).get("error")
        for _, r in store.list_results(pk, 10, None)
    }
    assert errors == {None, "Batch expired"}
    with pytest.raises(PermissionDenied, match="expired"):
        store.add_requests(TEAM, young, [("late", "chat_get_completion", "m", b"{}")], now=150.0)
    assert store.require_batch(TEAM, young).expire_ts == 150.0


def test_a_file_from_before_leases_opens_with_expiry_filled_in(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:  # the schema of the first release
        conn.executescript(
            """
            CREATE TABLE batches (pk INTEGER PRIMARY KEY, batch_id TEXT NOT NULL UNIQUE,
                team TEXT NOT NULL, name TEXT NOT NULL, key_id TEXT NOT NULL,
                create_ts REAL NOT NULL, cancel_ts REAL,
                num_requests INTEGER NOT NULL DEFAULT 0, num_pending INTEGER NOT NULL DEFAULT 0,
                num_success INTEGER NOT NULL DEFAULT 0, num_error INTEGER NOT NULL DEFAULT 0,
                num_cancelled INTEGER NOT NULL DEFAULT 0);
            INSERT INTO batches (batch_id, team, name, key_id, create_ts)
                VALUES ('batch_x', 'team', 'old', 'k', 1000.0);
            """
        )
    store = Store(str(db), expire_after=60.0)
    assert store.require_batch(TEAM, "batch_x").expire_ts == 1060.0
    store.close()


def test_claim_skips_a_cancelled_batch_without_running_it() -> None:
    store = Store()
    gone = fill(store, 3, name="gone")
    store.cancel_batch(TEAM, gone, now=0.0)
    keep = fill(store, 2, name="keep")
    claim = store.claim(100, now=0.0)
    assert isinstance(claim, Claim) and [r[2] for r in claim.items] == ["keep000", "keep001"]
    assert counts(store, gone) == (0, 0, 0, 3)
    assert counts(store, keep) == (2, 0, 0, 0)
