"""Run the real ``nghttp -nv`` and read its frame log into values tests can assert on.

nghttp prints each received header as ``[ t] recv (stream_id=N) name: value`` *before* the line of
the frame that carried it (``[ t] recv HEADERS frame <length=.., flags=.., stream_id=N>``), and
the promised stream of a PUSH_PROMISE on the line after that (``(padlen=0, promised_stream_id=2)``).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from conftest import require_program

_HEADER = re.compile(r"^\[\s*([\d.]+)\] recv \(stream_id=(\d+)\) ([^:]+|:[a-z]+): (.*)$")
_FRAME = re.compile(
    r"^\[\s*([\d.]+)\] (recv|send) (\w+) frame <length=(\d+), flags=0x([0-9a-f]+), stream_id=(\d+)>"
)
_PROMISED = re.compile(r"promised_stream_id=(\d+)")


@dataclass
class Frame:
    t_s: float
    direction: str
    type: str
    stream_id: int
    length: int
    end_stream: bool
    headers: list[tuple[str, str]] = field(default_factory=list)
    promised_stream_id: int | None = None

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n == name), None)


@dataclass
class Log:
    frames: list[Frame]
    output: str

    def received(self, kind: str) -> list[Frame]:
        return [f for f in self.frames if f.direction == "recv" and f.type == kind]

    @property
    def informational(self) -> list[Frame]:
        """HEADERS frames carrying a 1xx status."""
        return [f for f in self.received("HEADERS") if (f.header(":status") or "").startswith("1")]

    @property
    def promises(self) -> list[Frame]:
        return self.received("PUSH_PROMISE")

    def final_headers(self, stream_id: int) -> Frame:
        return next(
            f
            for f in self.received("HEADERS")
            if f.stream_id == stream_id and not (f.header(":status") or "").startswith("1")
        )

    def stream_ended(self, stream_id: int) -> bool:
        return any(
            f.end_stream for f in self.frames if f.direction == "recv" and f.stream_id == stream_id
        )

    def data_frames(self, stream_id: int) -> list[Frame]:
        return [f for f in self.received("DATA") if f.stream_id == stream_id]


def parse(output: str) -> Log:
    frames: list[Frame] = []
    pending: dict[int, list[tuple[str, str]]] = {}
    lines = output.splitlines()
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header:
            pending.setdefault(int(header.group(2)), []).append((header.group(3), header.group(4)))
            continue
        match = _FRAME.match(line)
        if not match:
            continue
        t_s, direction, kind, length, flags, stream_id = match.groups()
        frame = Frame(
            t_s=float(t_s),
            direction=direction,
            type=kind,
            stream_id=int(stream_id),
            length=int(length),
            end_stream=kind in ("HEADERS", "DATA") and bool(int(flags, 16) & 0x1),
        )
        if direction == "recv" and kind in ("HEADERS", "PUSH_PROMISE"):
            frame.headers = pending.pop(frame.stream_id, [])
        if kind == "PUSH_PROMISE" and index + 2 < len(lines):
            promised = _PROMISED.search(lines[index + 1] + lines[index + 2])
            frame.promised_stream_id = int(promised.group(1)) if promised else None
        frames.append(frame)
    return Log(frames=frames, output=output)


def nghttp(url: str, *args: str, timeout_s: float = 20.0) -> Log:
    """Run ``nghttp -nv URL`` (bodies discarded) and parse what it printed."""
    program = require_program("nghttp")
    result = subprocess.run(
        [program, "-nv", *args, url], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert result.returncode == 0, (
        f"nghttp failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return parse(result.stdout)
