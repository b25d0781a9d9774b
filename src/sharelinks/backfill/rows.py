"""Reading customer files (CSV or JSON Lines, streamed) and judging each row.

Headers match case-insensitively; a UTF-8 BOM is skipped; quoted fields and CRLF are handled by the
csv module. Columns other than email, partner_user_id, first_name and last_name become person data.
"""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from sharelinks.http.errors import ApiError
from sharelinks.persons import service as persons

KNOWN = ("email", "partner_user_id", "first_name", "last_name")
DATA_VALUE_MAX = 1000
DATA_KEYS_MAX = 50


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    email: str | None
    partner_user_id: str | None
    first_name: str | None
    last_name: str | None
    data: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        return f"e:{self.email.lower()}" if self.email else f"p:{self.partner_user_id}"


@dataclass(frozen=True, slots=True)
class Reject:
    number: int
    reason: str
    raw: dict[str, str]


def detect_format(path: Path) -> str:
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


def records(path: Path, fmt: str) -> Iterator[dict[str, str] | str | None]:
    """Each input record as a dict of strings, an error text for an unreadable JSON line, or None for a
    blank one (blank records keep their number, so row numbers match the file's records)."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        if fmt == "jsonl":
            for line in text:
                if not line.strip():
                    yield None
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError:
                    yield "not a JSON object"
                    continue
                if not isinstance(value, dict):
                    yield "not a JSON object"
                    continue
                yield {str(k).strip().lower(): "" if v is None else str(v) for k, v in value.items()}
            return
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        for values in reader:
            if not any(v.strip() for v in values):
                yield None
                continue
            yield dict(zip(names, values, strict=False))


def count_records(path: Path) -> int:
    """About how many records (newlines) there are, for a progress bar."""
    count = 0
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            count += chunk.count(b"\n")
    return count


class DigestSet:
    """A set of 64-bit digests in one flat array (open addressing, at most half full): 16 bytes a
    member at most, where a Python set of ints takes about 90. A million identities fit in 16 MB,
    which leaves a backfill's memory to SQLite's page cache."""

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._count = 0

    def add(self, digest: int) -> bool:
        """Adds `digest`; False if it was there already."""
        digest = digest or 1  # 0 marks an empty slot
        slots, mask = self._slots, len(self._slots) - 1
        index = digest & mask
        while (held := slots[index]) != 0:
            if held == digest:
                return False
            index = (index + 1) & mask
        slots[index] = digest
        self._count += 1
        if self._count * 2 > len(slots):
            self._grow()
        return True

    def _grow(self) -> None:
        old, self._slots, self._count = self._slots, array("Q", bytes(16 * len(self._slots))), 0
        for digest in old:
            if digest:
                self.add(digest)


class Judge:
    """Validates rows and remembers identities seen in this file (as 8-byte digests)."""

    def __init__(self) -> None:
        self._seen = DigestSet()

    def judge(self, number: int, record: dict[str, str] | str | None) -> Row | Reject | None:
        if record is None:
            return None
        if isinstance(record, str):
            return Reject(number, record, {})
        try:
            row = self._parse(number, record)
        except ApiError as error:
            return Reject(number, f"{error.code}: {error.message}", record)
        digest = int.from_bytes(hashlib.blake2b(row.identity.encode(), digest_size=8).digest(), "big")
        if not self._seen.add(digest):
            return Reject(
                number, "duplicate_in_file: this email or partner_user_id appears earlier in the file", record
            )
        return row

    def _parse(self, number: int, record: dict[str, str]) -> Row:
        email = (record.get("email") or "").strip()
        puid = (record.get("partner_user_id") or "").strip()
        if not email and not puid:
            raise ApiError("missing_identity", message="The row has neither an email nor a partner_user_id.")
        first = (record.get("first_name") or "").strip()
        last = (record.get("last_name") or "").strip()
        data = {k: v for k, v in record.items() if k not in KNOWN and k and v != ""}
        if len(data) > DATA_KEYS_MAX or any(len(k) > 255 or len(v) > DATA_VALUE_MAX for k, v in data.items()):
            raise ApiError("data_too_long", message=f"Extra columns are at most {DATA_VALUE_MAX} characters each.")
        return Row(
            number=number,
            email=persons.check_email(email) if email else None,
            partner_user_id=persons.check_partner_user_id(puid) if puid else None,
            first_name=persons.check_name(first, "first_name") if first else None,
            last_name=persons.check_name(last, "last_name") if last else None,
            data=data,
        )
