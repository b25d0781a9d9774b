"""A job's result files, written in one pass as its chunks commit.

Each chunk's lines (links and rejects, in input order) are rendered inside the chunk's transaction,
which also records the files' new committed lengths in the job row; once it has committed they are
appended to `<file>.part`. A resumed job finds each `.part` at least as long as recorded when the
stop came after the append (any tail past the recorded length is cut off), or shorter when it came
between the commit and the append: then the lines cannot be continued, and the files are rebuilt
from the database at the end (service.write_files) instead. Finished files are renamed into place,
so they are complete or absent, and identical on every re-run of the same input.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from sharelinks.backfill.bulk import Linked
from sharelinks.backfill.rows import Reject, Row
from sharelinks.programs.service import link_for

OUTPUT_HEADER = ["email", "partner_user_id", "person_id", "code", "share_link"]
REJECTS_HEADER = ["row", "reason", "email", "partner_user_id"]


def _csv(lines: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    return buffer.getvalue().encode("utf-8")


HEADERS = (_csv([OUTPUT_HEADER]), _csv([REJECTS_HEADER]))


def link_line(row: Row, person_id: int, domain: str, code: str) -> list[object]:
    return [row.email or "", row.partner_user_id or "", person_id, code, link_for(domain, code)]


def reject_line(reject: Reject) -> list[object]:
    return [reject.number, reject.reason, reject.raw.get("email", ""), reject.raw.get("partner_user_id", "")]


def render(rows: list[Row], linked: dict[int, Linked], rejects: list[Reject]) -> tuple[bytes, bytes]:
    """A chunk's lines for the output and the rejects file, each in input order."""
    links = [
        link_line(row, hit.person_id, hit.domain, hit.code)
        for row in rows
        if (hit := linked.get(row.number)) is not None
    ]
    return _csv(links), _csv([reject_line(r) for r in sorted(rejects, key=lambda r: r.number)])


class PartFiles:
    """The two `.part` files of a running job, positioned at the committed lengths."""

    def __init__(self, output_path: str, rejects_path: str, committed: tuple[int, int]) -> None:
        self.paths = (Path(output_path + ".part"), Path(rejects_path + ".part"))
        self.finals = (Path(output_path), Path(rejects_path))
        self.lengths = committed
        self.intact = True
        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
        if committed == (0, 0):  # nothing committed yet: start both files
            for path, header in zip(self.paths, HEADERS, strict=True):
                path.write_bytes(header)
            self.lengths = (len(HEADERS[0]), len(HEADERS[1]))
            return
        for path, length in zip(self.paths, committed, strict=True):
            size = path.stat().st_size if path.exists() else -1
            if size < length:
                self.intact = False  # lines of a committed chunk never reached the file
            else:
                os.truncate(path, length)  # a tail written after the last commit we know of

    def append(self, output: bytes, rejects: bytes) -> None:
        if not self.intact:
            return
        for path, data in zip(self.paths, (output, rejects), strict=True):
            if data:
                with path.open("ab") as file:
                    file.write(data)
        self.lengths = (self.lengths[0] + len(output), self.lengths[1] + len(rejects))

    def finish(self) -> None:
        for part, final in zip(self.paths, self.finals, strict=True):
            os.replace(part, final)

    def discard(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)
