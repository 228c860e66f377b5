"""Auth: 401 without credentials, 400 for an unknown key, teams isolated from each other."""

from __future__ import annotations

import pathlib

import pytest
from srv_helpers import add, assert_error, chat_item, client_for, new_batch

from batchframe.server import BatchServer, ServerConfig, load_keys

UNAUTHENTICATED = "The request does not have valid authentication credentials"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "token"])
def test_missing_or_malformed_credentials_are_401(
    batch_server: BatchServer, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    with client_for(batch_server, headers) as api:
        body = assert_error(api.get("/batches"), 401, UNAUTHENTICATED)
        assert body["error"].startswith("No credentials presented")
        assert_error(api.post("/batches", json={"name": "x"}), 401)


def keys_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "keys"
    path.write_text("# key team\nxai-alpha-0123456789 alpha\nxai-beta-0123456789 beta\n\n")
    return path


def test_unknown_key_is_400_and_never_echoed(tmp_path: pathlib.Path) -> None:
    keys = load_keys(keys_file(tmp_path))
    assert keys == {"xai-alpha-0123456789": "alpha", "xai-beta-0123456789": "beta"}
    secret = "xai-unknown-abcdefghijklmnop"
    with (
        BatchServer(ServerConfig(keys=keys)) as server,
        client_for(server, {"Authorization": f"Bearer {secret}"}) as api,
    ):
        body = assert_error(api.get("/batches"), 400, "Client specified an invalid argument")
        assert body["error"].startswith("Incorrect API key provided")
        assert secret not in body["error"] and "abcdefghijklmnop" not in body["error"]


def test_teams_never_see_each_other(tmp_path: pathlib.Path) -> None:
    keys = load_keys(keys_file(tmp_path))
    with BatchServer(keys=keys) as server:
        alpha = client_for(server, {"Authorization": "Bearer xai-alpha-0123456789"})
        beta = client_for(server, {"Authorization": "Bearer xai-beta-0123456789"})
        batch_id = new_batch(alpha)
        assert add(alpha, batch_id, [chat_item("a")]).status_code == 200
        assert beta.get("/batches").json()["batches"] == []
        for method, path in (
            ("GET", f"/batches/{batch_id}"),
            ("GET", f"/batches/{batch_id}/requests"),
            ("GET", f"/batches/{batch_id}/results"),
            ("POST", f"/batches/{batch_id}:cancel"),
        ):
            assert_error(beta.request(method, path), 404)
        assert_error(add(beta, batch_id, [chat_item("b")]), 404)
        assert alpha.get(f"/batches/{batch_id}").json()["cancel_time"] is None
        alpha.close()
        beta.close()


def test_bad_keys_file_line_does_not_echo_the_key(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "keys"
    path.write_text("xai-secret-key-123 team extra\n")
    with pytest.raises(ValueError) as info:
        load_keys(path)
    assert "xai-secret" not in str(info.value)
