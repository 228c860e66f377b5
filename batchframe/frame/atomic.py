"""Files written whole or not at all: a temp file in the same folder, then ``os.replace``."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator

__all__ = ["replaced_atomically"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replaced_atomically(target: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """Yield a temp path beside ``target``; on success it replaces ``target``, else it is removed.

    A crash part-way never leaves a half-written file under the final name. The result gets
    the permissions of any new file (``mkstemp`` alone would leave it private, 0600). Parent
    folders are created.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a" / "x.txt"
    >>> with replaced_atomically(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    path = pathlib.Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
