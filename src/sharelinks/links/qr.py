"""QR codes with segno: PNG (written here, to an exact pixel size) and SVG.

The PNG writer places segno's module matrix centred on a canvas of exactly the requested size, which
segno's own PNG output (whole modules only) cannot do, and needs no imaging library.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from functools import lru_cache

import segno

LEVELS = ("L", "M", "Q", "H")
SIZE_MIN, SIZE_MAX = 64, 2048
MARGIN_MAX = 64
COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_color(value: str) -> tuple[int, int, int] | None:
    match = COLOR_RE.match(value)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@lru_cache(maxsize=512)
def png(
    content: str,
    width: int,
    height: int,
    margin: int,
    level: str = "M",
    dark: tuple[int, int, int] = (0, 0, 0),
    light: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """An RGB PNG of exactly width x height: the symbol as large as fits inside `margin` pixels."""
    qr = segno.make(content, error=level.lower(), micro=False, boost_error=False)
    modules = [list(row) for row in qr.matrix]
    count = len(modules)
    scale = max(1, min(width - 2 * margin, height - 2 * margin) // count)
    left = (width - count * scale) // 2
    top = (height - count * scale) // 2
    light_px, dark_px = bytes(light), bytes(dark)
    blank = b"\x00" + light_px * width
    rows: list[bytes] = []
    for y in range(height):
        module_row = (y - top) // scale
        if y < top or module_row >= count:
            rows.append(blank)
            continue
        line = bytearray(light_px * left)
        for bit in modules[module_row]:
            line += (dark_px if bit else light_px) * scale
        line += light_px * (width - len(line) // 3)
        rows.append(b"\x00" + bytes(line[: width * 3]))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=512)
def svg(
    content: str, size: int, margin_modules: int, level: str = "M", dark: str = "#000", light: str = "#fff"
) -> bytes:
    qr = segno.make(content, error=level.lower(), micro=False, boost_error=False)
    scale = max(1, size // (qr.symbol_size(scale=1, border=margin_modules)[0]))
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=scale, border=margin_modules, dark=dark, light=light, xmldecl=False)
    return out.getvalue()


def png_for_link(content: str, size: int, border_modules: int, level: str, dark: tuple[int, int, int],
                 light: tuple[int, int, int]) -> bytes:  # fmt: skip
    """A square PNG of `size` pixels with a quiet zone of `border_modules` modules."""
    count = segno.make(content, error=level.lower(), micro=False, boost_error=False).symbol_size(scale=1, border=0)[0]
    scale = max(1, size // (count + 2 * border_modules))
    return png(content, size, size, (size - count * scale) // 2, level, dark, light)
