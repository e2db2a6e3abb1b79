"""A trace as text, in the manner of ``nghttp -nv`` followed by a summary."""

from __future__ import annotations

from collections.abc import Sequence

from h2push._tools.trace.models import SETTING_NAMES, CacheCheck, Frame, Trace

# --------------------------------------------------------------------------- text output


def _stamp(t_ms: float) -> str:
    return f"[{t_ms:10.3f}ms]"


INDENT = " " * 15


def _frame_lines(frame: Frame) -> list[str]:
    """Lines for one frame in the manner of ``nghttp -nv``."""
    details = [
        f"length={frame.length}",
        f"flags=0x{frame.flags:02x}",
        f"stream_id={frame.stream_id}",
    ]
    if frame.promised_stream_id is not None:
        details.append(f"promised_stream_id={frame.promised_stream_id}")
    lines = [f"{_stamp(frame.t_ms)} {frame.direction} {frame.type} frame <{', '.join(details)}>"]
    if frame.flag_names:
        lines.append(f"{INDENT}; {' | '.join(frame.flag_names)}")
    if frame.settings is not None:
        lines.append(f"{INDENT}(niv={len(frame.settings)})")
        lines.extend(
            f"{INDENT}[{name}{_setting_code(name)}:{value}]" for name, value in frame.settings
        )
    if frame.error_code is not None:
        fields = []
        if frame.last_stream_id is not None:
            fields.append(f"last_stream_id={frame.last_stream_id}")
        fields.append(f"error_code={frame.error_name}(0x{frame.error_code:02x})")
        if frame.debug_data:
            fields.append(f"debug_data={frame.debug_data!r}")
        lines.append(f"{INDENT}({', '.join(fields)})")
    if frame.increment is not None:
        lines.append(f"{INDENT}(window_size_increment={frame.increment})")
    if frame.opaque_data is not None:
        lines.append(f"{INDENT}(opaque_data={frame.opaque_data})")
    if frame.headers is not None:
        lines.extend(f"{INDENT}{name}: {value}" for name, value in frame.headers)
    return lines


def _setting_code(name: str) -> str:
    codes = {setting: code for code, setting in SETTING_NAMES.items()}
    return f"(0x{codes[name]:02x})" if name in codes else ""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}ms"


def format_text(result: Trace, cache: Sequence[CacheCheck] = ()) -> str:
    """Render a trace as text: connection, every frame, then a summary.

    Times are milliseconds since the TCP connect started. Plain text, readable in a pipe.
    ``cache`` (:func:`cache_checks`) adds, per hinted or pushed response, whether a browser can
    reuse it: ``no-store``, must revalidate (``no-cache``, ``max-age=0``), ``Vary``.
    """
    info = result.connection
    lines = [
        f"{_stamp(info.connected_ms)} connected to {info.peer}",
        f"{_stamp(info.tls_ms)} {info.tls_version} {info.cipher}, ALPN {info.alpn}",
    ]
    for frame in result.frames:
        lines.extend(_frame_lines(frame))
    main = result.main
    request = dict(result.request_headers)
    lines += [
        "",
        f"main response: {request[':method']} {request[':path']} -> "
        f"{main.status if main.status is not None else 'no status'}, "
        f"{main.body_bytes} bytes, headers at {_ms(main.headers_ms)}, "
        f"complete at {_ms(main.completed_ms)}" + (f", reset {main.reset}" if main.reset else ""),
    ]
    if not result.early_hints:
        lines.append("103 early hints: none")
    for hint in result.early_hints:
        lines.append(f"103 early hints at {_ms(hint.t_ms)}: {len(hint.links)} link(s)")
        lines.extend(f"  {link}" for link in hint.links)
    if not result.pushes:
        refused = "" if result.enable_push else " (SETTINGS_ENABLE_PUSH=0 was sent)"
        lines.append(f"pushed: none{refused}")
    else:
        table = [("stream", "path", "status", "bytes", "promised", "complete")]
        table += [
            (
                str(pushed.stream_id),
                pushed.path,
                str(pushed.status) if pushed.status is not None else "-",
                str(pushed.body_bytes),
                _ms(pushed.promised_ms),
                f"reset {pushed.reset}" if pushed.reset else _ms(pushed.completed_ms),
            )
            for pushed in result.pushes
        ]
        widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
        lines.append(f"pushed: {len(result.pushes)}")
        lines.extend(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in table
        )
    if cache:
        flagged = [check for check in cache if check.problems]
        if not flagged:
            lines.append(f"caching: all {len(cache)} hinted/pushed response(s) reusable")
        else:
            lines.append(
                f"caching: {len(flagged)} hinted/pushed response(s) a browser fetches again:"
            )
            lines.extend(
                f"  {check.path} ({check.delivery}): {'; '.join(check.problems)}"
                for check in flagged
            )
    return "\n".join(lines)
