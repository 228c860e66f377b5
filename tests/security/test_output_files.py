"""Files batchframe replaces keep their permissions, and a symlink is written through."""

from __future__ import annotations

import os
import pathlib
import stat

import pandas as pd
import pytest

import batchframe as bf
from batchframe.frame.atomic import replaced_atomically


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def job(client: bf.Client, tmp_path: pathlib.Path) -> bf.Job:
    frame = pd.DataFrame({"text": ["one", "two", "three"]})
    job = bf.submit(frame, prompt="text", model="grok-4.3", client=client, progress=False)
    job.wait(progress=False, sleep=lambda s: None)
    return job


def test_to_parquet_over_a_private_file_keeps_it_private(
    job: bf.Job, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "results.parquet"
    out.write_bytes(b"old")
    out.chmod(0o600)
    job.to_parquet(out)
    assert mode(out) == 0o600
    assert pd.read_parquet(out)["content"].tolist() == ["one", "two", "three"]
    out.chmod(0o640)  # any mode, not only 0600
    job.to_parquet(out)
    assert mode(out) == 0o640


def test_to_parquet_through_a_symlink_writes_its_target(
    job: bf.Job, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    real = store / "real.parquet"
    real.write_bytes(b"old")
    real.chmod(0o600)
    link = tmp_path / "latest.parquet"
    link.symlink_to(os.path.relpath(real, tmp_path))  # a relative link, as `ln -s` makes
    assert job.to_parquet(link) == link
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert pd.read_parquet(real)["content"].tolist() == ["one", "two", "three"]
    assert mode(real) == 0o600
    assert sorted(p.name for p in store.iterdir()) == ["real.parquet"]  # no temp file left
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".batchframe") == [
        "latest.parquet",
        "store",
    ]


def test_a_chain_of_links_and_a_dangling_link(tmp_path: pathlib.Path) -> None:
    real = tmp_path / "real.txt"
    middle = tmp_path / "middle.txt"
    top = tmp_path / "top.txt"
    middle.symlink_to(real)
    top.symlink_to(middle)
    with replaced_atomically(top) as tmp:  # dangling: the link's target is created
        tmp.write_text("first")
    assert real.read_text() == "first" and top.is_symlink() and middle.is_symlink()
    with replaced_atomically(top) as tmp:
        tmp.write_text("second")
    assert real.read_text() == "second" and top.is_symlink() and middle.is_symlink()


def test_a_new_file_gets_the_umask_mode_and_a_failure_leaves_the_old_one(
    tmp_path: pathlib.Path,
) -> None:
    old_mask = os.umask(0o027)
    try:
        out = tmp_path / "new.txt"
        with replaced_atomically(out) as tmp:
            tmp.write_text("new")
        assert mode(out) == 0o640
    finally:
        os.umask(old_mask)
    with pytest.raises(RuntimeError), replaced_atomically(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert out.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["new.txt"]
