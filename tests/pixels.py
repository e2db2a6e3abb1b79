"""Read pixels of the PNG screenshots Chromium takes, without an imaging library."""

from __future__ import annotations

import struct
import zlib


def png_pixels(png: bytes, points: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The RGB colour at each (x, y) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = depth = colour = interlace = 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert (depth, colour in (2, 6), interlace) == (8, True, 0), "unsupported PNG layout"
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(idat)
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(max(py for _, py in points) + 1):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filters (RFC 2083 section 6)
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + best) & 0xFF
        rows.append(line)
        previous = line
    return [(rows[y][x * bpp], rows[y][x * bpp + 1], rows[y][x * bpp + 2]) for x, y in points]
