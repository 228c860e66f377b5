"""The uploaded files of the file flow (``/v1/files``), a table of their own beside the
batches: metadata and content, by team.

>>> from batchframe.server.store import Store
>>> store = Store()
>>> row = store.add_file("team", NewFile("file_1", "in.jsonl", "", 0, None, b"{}"))
>>> (row.bytes, store.file_content("team", "file_1"), store.get_file("other", "file_1"))
(2, b'{}', None)
"""

from __future__ import annotations

from batchframe.server.store_protocol import FileRow, NewFile
from batchframe.server.store_schema import Database

__all__ = ["FileTables"]

_FILE_COLUMNS = "pk, file_id, filename, purpose, bytes, created_at, expires_at"


class FileTables(Database):
    """The files part of the store (a team only ever reads its own files)."""

    def add_file(self, team: str, file: NewFile) -> FileRow:
        """Store an uploaded file (content and metadata) for ``team``."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO files (file_id, team, filename, purpose, bytes, created_at,"
                " expires_at, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    file.file_id,
                    team,
                    file.filename,
                    file.purpose,
                    len(file.content),
                    file.created_at,
                    file.expires_at,
                    file.content,
                ),
            )
        row = self.get_file(team, file.file_id)
        assert row is not None
        return row

    def get_file(self, team: str, file_id: str) -> FileRow | None:
        with self.lock:
            row = self._conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE file_id = ? AND team = ?",
                (file_id, team),
            ).fetchone()
        return None if row is None else FileRow(*row)

    def file_content(self, team: str, file_id: str) -> bytes | None:
        with self.lock:
            row = self._conn.execute(
                "SELECT content FROM files WHERE file_id = ? AND team = ?", (file_id, team)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def list_files(self, team: str, limit: int, before_pk: int | None) -> list[FileRow]:
        """Newest first; up to ``limit`` files older than ``before_pk``."""
        with self.lock:
            rows = self._conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE team = ? AND pk < ?"
                " ORDER BY pk DESC LIMIT ?",
                (team, before_pk if before_pk is not None else 2**62, limit),
            ).fetchall()
        return [FileRow(*row) for row in rows]

    def delete_file(self, team: str, file_id: str) -> bool:
        with self._transaction() as conn:
            cur = conn.execute("DELETE FROM files WHERE file_id = ? AND team = ?", (file_id, team))
        return cur.rowcount > 0
