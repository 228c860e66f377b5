"""Manifest files and server identity: location, safe names, atomic writes, lookup (no HTTP)."""

from __future__ import annotations

import json
import pathlib

import pytest

from batchframe.errors import ManifestConflictError
from batchframe.frame.identity import canonical_server_url, default_job_name, shard_name
from batchframe.frame.manifest import Manifest, ManifestStore, ShardRecord, manifest_dir

SERVER = "http://127.0.0.1/v1"


def _manifest(**changes: object) -> Manifest:
    manifest = Manifest(name="reviews", server=SERVER, base_url="http://localhost/v1")
    manifest.shards.append(ShardRecord(1, "reviews", 0, 3, 3, "f" * 40, batch_id="batch_1"))
    for key, value in changes.items():
        setattr(manifest, key, value)
    return manifest


def test_round_trip_and_fields(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    path = store.write(_manifest(input_rows=3))
    assert path.parent == tmp_path
    data = json.loads(path.read_text())
    assert {"name", "server", "base_url", "spec", "shards", "input_rows", "created"} <= set(data)
    assert {"batch_id", "name", "first_row", "stop_row", "requests", "fingerprint"} <= set(
        data["shards"][0]
    )
    loaded = store.load("reviews", SERVER)
    assert loaded == _manifest(input_rows=3, created=loaded.created if loaded else "")


def test_missing_manifest_is_none(tmp_path: pathlib.Path) -> None:
    assert ManifestStore(tmp_path).load("nope", SERVER) is None
    assert ManifestStore(tmp_path / "absent").find_batch("batch_1") is None


def test_default_dir_is_never_the_working_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BATCHFRAME_HOME", raising=False)
    assert manifest_dir().name == "manifests" and tmp_path not in manifest_dir().parents
    monkeypatch.setenv("BATCHFRAME_HOME", str(tmp_path / "home"))
    assert manifest_dir() == tmp_path / "home" / "manifests"
    assert manifest_dir(tmp_path / "x") == tmp_path / "x"


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b\\c", "..", "", "名前 with spaces"])
def test_file_name_is_safe(tmp_path: pathlib.Path, name: str) -> None:
    path = ManifestStore(tmp_path).path(name, SERVER)
    assert path.parent == tmp_path
    assert path.suffix == ".json"
    assert "/" not in path.name and not path.name.startswith(".")


def test_names_and_servers_get_distinct_files(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    paths = {
        store.path("a b", SERVER),
        store.path("a-b", SERVER),
        store.path("a b", "http://127.0.0.1:9/v1"),
    }
    assert len(paths) == 3


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/v1",
        "http://127.0.0.1/v1/",
        "http://[::1]:80/v1",
        "HTTP://LOCALHOST/v1//",
        "http://127.0.0.1:80//v1",
    ],
)
def test_one_loopback_server_has_one_canonical_url(url: str) -> None:
    assert canonical_server_url(url) == SERVER


def test_other_servers_stay_apart() -> None:
    assert canonical_server_url("https://api.x.ai:443/v1/") == "https://api.x.ai/v1"
    assert canonical_server_url("http://127.0.0.1:8000/v1") != SERVER
    assert canonical_server_url("https://api.x.ai/v1") != canonical_server_url("http://api.x.ai/v1")
    assert canonical_server_url("http://[2001:db8::1]:9/v1") == "http://[2001:db8::1]:9/v1"


def test_job_and_shard_names() -> None:
    assert shard_name("reviews", 1) == "reviews" and shard_name("reviews", 12) == "reviews#12"
    assert default_job_name("0123456789abcdef0123") == "batchframe-0123456789abcdef"


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    for rows in range(5):
        store.write(_manifest(input_rows=rows))
    assert [p.name for p in tmp_path.iterdir()] == [store.path("reviews", SERVER).name]
    loaded = store.load("reviews", SERVER)
    assert loaded is not None and loaded.input_rows == 4


def test_find_a_job_by_any_of_its_batch_ids(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    store.write(_manifest())
    other = _manifest(name="other", shards=[])
    other.shards += [ShardRecord(k, f"other#{k}", 0, 1, 1, "f", batch_id=f"b{k}") for k in (1, 2)]
    store.write(other)
    (tmp_path / "junk.json").write_text("{not json")
    found = store.find_batch("b2")
    assert found is not None and found.name == "other"
    assert store.find_batch("batch_3") is None


def test_unknown_fields_are_ignored(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    path = store.write(_manifest())
    data = json.loads(path.read_text())
    data["from_a_newer_version"] = 1
    data["shards"][0]["also_new"] = 2
    path.write_text(json.dumps(data))
    assert store.load("reviews", SERVER) is not None


def test_corrupt_manifest_names_the_file(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    path = store.path("reviews", SERVER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[1, 2")
    with pytest.raises(ManifestConflictError, match="Delete"):
        store.load("reviews", SERVER)


def test_an_edited_manifest_is_ignored_not_trusted(tmp_path: pathlib.Path) -> None:
    store = ManifestStore(tmp_path)
    path = store.write(_manifest())
    data = json.loads(path.read_text())
    data["name"] = "edited"
    path.write_text(json.dumps(data))
    assert store.load("reviews", SERVER) is None  # the server lookup decides instead


def test_an_unwritable_directory_is_refused_before_anything(tmp_path: pathlib.Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(PermissionError, match="nothing was sent"):
        ManifestStore(blocked / "manifests").check_writable()
