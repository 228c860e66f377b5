"""Manifest files: location, safe names, atomic writes, lookup by batch ID (no HTTP)."""

from __future__ import annotations

import json
import pathlib

import pytest

from batchframe.errors import ManifestConflictError
from batchframe.frame.manifest import (
    Manifest,
    check_fingerprint,
    find_manifest,
    load_manifest,
    manifest_dir,
    manifest_path,
    write_manifest,
)

URL = "http://localhost/v1"


def _manifest(**changes: object) -> Manifest:
    base = Manifest(
        batch_id="batch_1",
        name="reviews",
        base_url=URL,
        model="grok-4",
        num_rows=3,
        id_column=None,
        fingerprint="f" * 64,
    )
    return base.replace(**changes)


def test_round_trip_and_fields(tmp_path: pathlib.Path) -> None:
    path = write_manifest(_manifest(upload_complete=True), tmp_path)
    assert path.parent == tmp_path
    data = json.loads(path.read_text())
    assert {
        "batch_id",
        "name",
        "base_url",
        "model",
        "num_rows",
        "id_column",
        "fingerprint",
        "created",
        "upload_complete",
        "batchframe_version",
    } <= set(data)
    loaded = load_manifest("reviews", URL, tmp_path)
    assert loaded == _manifest(upload_complete=True, created=loaded.created if loaded else "")


def test_missing_manifest_is_none(tmp_path: pathlib.Path) -> None:
    assert load_manifest("nope", URL, tmp_path) is None
    assert find_manifest("batch_1", tmp_path / "absent") is None


def test_default_dir_is_dot_batchframe_in_cwd(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BATCHFRAME_HOME", raising=False)
    assert manifest_dir() == tmp_path / ".batchframe"
    monkeypatch.setenv("BATCHFRAME_HOME", str(tmp_path / "home"))
    assert manifest_dir() == tmp_path / "home"
    assert manifest_dir(tmp_path / "x") == tmp_path / "x"


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b\\c", "..", "", "名前 with spaces"])
def test_file_name_is_safe(tmp_path: pathlib.Path, name: str) -> None:
    path = manifest_path(name, URL, tmp_path)
    assert path.parent == tmp_path
    assert path.suffix == ".json"
    assert "/" not in path.name and not path.name.startswith(".")


def test_names_and_servers_get_distinct_files(tmp_path: pathlib.Path) -> None:
    paths = {
        manifest_path("a b", URL, tmp_path),
        manifest_path("a-b", URL, tmp_path),
        manifest_path("a b", "http://127.0.0.1:9/v1", tmp_path),
    }
    assert len(paths) == 3


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: pathlib.Path) -> None:
    for rows in range(5):
        write_manifest(_manifest(rows_confirmed=rows), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [manifest_path("reviews", URL, tmp_path).name]
    loaded = load_manifest("reviews", URL, tmp_path)
    assert loaded is not None and loaded.rows_confirmed == 4


def test_find_manifest_by_batch_id(tmp_path: pathlib.Path) -> None:
    write_manifest(_manifest(), tmp_path)
    write_manifest(_manifest(batch_id="batch_2", name="other"), tmp_path)
    (tmp_path / "junk.json").write_text("{not json")
    found = find_manifest("batch_2", tmp_path)
    assert found is not None and found.name == "other"
    assert find_manifest("batch_3", tmp_path) is None


def test_unknown_fields_are_ignored(tmp_path: pathlib.Path) -> None:
    path = write_manifest(_manifest(), tmp_path)
    data = json.loads(path.read_text())
    data["from_a_newer_version"] = 1
    path.write_text(json.dumps(data))
    assert load_manifest("reviews", URL, tmp_path) is not None


def test_corrupt_manifest_names_the_file(tmp_path: pathlib.Path) -> None:
    path = manifest_path("reviews", URL, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[1, 2")
    with pytest.raises(ManifestConflictError, match="Delete"):
        load_manifest("reviews", URL, tmp_path)


def test_check_fingerprint(tmp_path: pathlib.Path) -> None:
    manifest = _manifest()
    path = manifest_path("reviews", URL, tmp_path)
    check_fingerprint(manifest, "f" * 64, path)
    with pytest.raises(ManifestConflictError) as info:
        check_fingerprint(manifest, "0" * 64, path)
    assert isinstance(info.value, ValueError)
    assert "name=" in str(info.value) and str(path) in str(info.value)
