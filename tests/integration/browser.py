"""Headless Chromium (the Debian package) as a test sees a page: its DOM after rendering, and its pixels.

The report page must show in a browser, not only parse: Chromium renders it from a file, prints the DOM it
built and takes a screenshot, whose pixels tell whether the chart lines were drawn in their colours. The
screenshot is a PNG that Chromium writes as 8-bit RGB(A) without interlacing; that much of PNG is decoded
here, so the check needs no imaging library.
"""

from __future__ import annotations

import collections.abc
import pathlib
import shutil
import struct
import subprocess
import zlib

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("chromium is not installed: hack/install-deps installs it")
    return found


def dom(page: pathlib.Path) -> str:
    """The DOM Chromium built from the page, serialised."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def screenshot(page: pathlib.Path, picture: pathlib.Path, *, width: int = 1000, height: int = 2400) -> bytes:
    subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--screenshot={picture}",
            f"--window-size={width},{height}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return picture.read_bytes()


def pixels(png: bytes) -> collections.abc.Iterator[tuple[int, int, int]]:
    """Every pixel's (red, green, blue) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind, data = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            chunks.append(data)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise AssertionError(
            f"only 8-bit RGB(A) non-interlaced PNGs are decoded, not {depth}/{colour}/{interlace}"
        )
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(b"".join(chunks))
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for index in range(stride):
            left = line[index - channels] if index >= channels else 0
            up = previous[index]
            corner = previous[index - channels] if index >= channels else 0
            line[index] = (line[index] + _predict(kind, left, up, corner)) & 0xFF
        for index in range(0, stride, channels):
            yield line[index], line[index + 1], line[index + 2]
        previous = line


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - corner  # Paeth
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


def count_colour(png: bytes, colour: str, *, tolerance: int = 24) -> int:
    """How many pixels are within `tolerance` of `colour` (#rrggbb) in every channel."""
    wanted = tuple(int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return sum(
        all(abs(channel - target) <= tolerance for channel, target in zip(pixel, wanted, strict=True))
        for pixel in pixels(png)
    )
