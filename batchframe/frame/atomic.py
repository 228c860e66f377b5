"""Files written whole or not at all: a temp file in the same folder, then ``os.replace``."""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
import tempfile
from collections.abc import Iterator

__all__ = ["replaced_atomically"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _written_path(path: pathlib.Path) -> pathlib.Path:
    """The file that writing to ``path`` changes: a symlink's final target, else ``path``."""
    if path.is_symlink():
        return pathlib.Path(os.path.realpath(path))
    return path


def _mode_for(path: pathlib.Path) -> int:
    """The permissions ``path`` has now, or those of a new file (``0o666`` less the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def replaced_atomically(target: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """Yield a temp path beside ``target``; on success it replaces ``target``, else it is removed.

    A crash part-way never leaves a half-written file under the final name. Replacing a file
    keeps its permissions (a private 0600 file stays private); a new file gets those of any new
    file (``mkstemp`` alone would leave it 0600). A symlink is written through: its target gets
    the new content and the link stays a link. Parent folders are created.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a" / "x.txt"
    >>> with replaced_atomically(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    path = _written_path(pathlib.Path(target))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
