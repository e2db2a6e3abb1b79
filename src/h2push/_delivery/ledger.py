"""The push ledger: what h2push pushed on each connection a process serves, in a byte budget.

Framework-free; the ASGI middleware keys it by the connection's name when the server gives one
(:data:`CONNECTION_EXTENSION`), else by ``(scope["client"], scope["server"])``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from h2push._delivery.asgi_types import Scope

# What one entry and one remembered URL cost besides the URL's characters (CPython, 64-bit:
# the dict slot and key tuples, the Connection, a set slot and the str header).
_ENTRY_BYTES = 400
_URL_BYTES = 100


class Connection:
    """What h2push pushed on one connection (URL paths, str) and when it last planned for it.

    ``pushed`` is read-only to all but :class:`Connections`: a first visit's set is shared
    (a frozenset), and copied on the next addition. ``bytes`` is what the ledger counts the
    entry to take.
    """

    __slots__ = ("bytes", "last_seen", "pushed")

    def __init__(
        self, now: float, pushed: frozenset[str] = frozenset(), size: int = _ENTRY_BYTES
    ) -> None:
        self.last_seen = now
        self.pushed: set[str] | frozenset[str] = pushed
        self.bytes = size  # what the entry is counted to take, with the URLs of ``pushed``


ConnectionKey = tuple[tuple[object, ...], tuple[object, ...] | None]

#: The scope extension in which a server names a request's connection: ``{"id": N}``, N unique
#: per connection for the life of the process (h2push serve sets it; other servers do not).
CONNECTION_EXTENSION = "h2push.connection"

#: The memory the push ledger may take, in bytes (URL text and a fixed cost per entry and URL),
#: unless :class:`H2PushMiddleware` is given ``max_ledger_bytes``.
DEFAULT_MAX_LEDGER_BYTES = 8 << 20


class Connections:
    """The push ledger of the connections one process serves: a budget and a memory.

    ASGI gives an application no handle on its connection (the ASGI HTTP spec), so a
    connection is known by its two ends, ``(scope["client"], scope["server"])``: no two open
    TCP connections share them, and TCP's TIME-WAIT keeps a closed connection's pair from
    being reused for a while (60 s on Linux). Memory stays bounded in entries and in bytes:
    entries idle for ``idle_s`` seconds are dropped whenever any connection is planned for
    (oldest first, so the sweep costs what it drops), and the least recently used ones (never
    the one used last) while more than ``capacity`` connections are known or the URLs
    remembered take more than ``max_bytes``. A new connection mistaken for an old one is
    pushed less; a connection forgotten while open starts a new budget (each response is
    still held to ``max_pushes``).
    """

    __slots__ = (
        "_clock",
        "_entries",
        "_last_entry_bytes",
        "_last_set",
        "_last_set_bytes",
        "_now",
        "_sweep_after",
        "bytes",
        "capacity",
        "idle_s",
        "max_bytes",
    )

    def __init__(
        self,
        *,
        idle_s: float = 30.0,
        capacity: int = 10_000,
        max_bytes: int = DEFAULT_MAX_LEDGER_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s = idle_s
        if capacity < 1:
            raise ValueError(f"capacity {capacity} must be at least 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0  # what the entries are counted to take (see _ENTRY_BYTES)
        self._now = clock
        self._entries: OrderedDict[ConnectionKey, Connection] = OrderedDict()
        self._last_set: frozenset[str] = frozenset()
        self._last_set_bytes = 0
        # A new entry of the last set takes this (an entry and the set's URLs): one int.
        self._last_entry_bytes = _ENTRY_BYTES
        self._clock = float("-inf")  # the time last read, shared by entries within a second
        # No entry is idle before this time (the oldest's last_seen + idle_s, or later).
        self._sweep_after = float("-inf")

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: ConnectionKey) -> Connection:
        """The entry of connection ``key``, new if it is unknown or was idle too long."""
        now = self._time()
        if now >= self._sweep_after:
            self._sweep(now)
        entry = self._entries.get(key)
        if entry is None:
            return self._add(key, Connection(now))
        entry.last_seen = now
        self._entries.move_to_end(key)
        return entry

    def first_visit(self, key: ConnectionKey, urls: frozenset[str]) -> Connection | None:
        """Record ``urls`` as pushed on connection ``key``, if nothing was pushed on it yet.

        A first visit pushes its kind's set to every new connection: the set itself is kept
        (copied only when the connection is pushed more, :meth:`record`), and the bytes it
        takes are counted once per set object, while it is the last one seen.

        Returns:
            The connection's entry, or None when something was pushed on it already (then
            nothing is recorded: the request is planned knowing what).
        """
        if urls is not self._last_set:
            self._last_set = urls
            self._last_set_bytes = sum(_URL_BYTES + len(url) for url in urls)
            self._last_entry_bytes = _ENTRY_BYTES + self._last_set_bytes
        now = self._time()
        if now >= self._sweep_after:
            self._sweep(now)
        entry = self._entries.get(key)
        if entry is None:
            return self._add(key, Connection(now, urls, self._last_entry_bytes))
        entry.last_seen = now
        self._entries.move_to_end(key)
        if entry.pushed:
            return None
        entry.pushed = urls
        entry.bytes += self._last_set_bytes
        self.bytes += self._last_set_bytes
        if self.bytes > self.max_bytes:
            self._evict()
        return entry

    def _time(self) -> float:
        """The clock's time, as the same float object for a second: entries share it."""
        now = self._now()
        if now - self._clock < 1.0:
            return self._clock
        self._clock = now
        return now

    def _add(self, key: ConnectionKey, entry: Connection) -> Connection:
        """Keep ``entry`` as connection ``key``'s, the most recently used; evict as needed."""
        entries = self._entries
        entries[key] = entry
        self.bytes += entry.bytes
        if len(entries) > self.capacity or self.bytes > self.max_bytes:
            self._evict()
        return entry

    def record(self, entry: Connection, urls: Iterable[str]) -> None:
        """Add ``urls`` to what ``entry``'s connection was pushed, within the byte budget."""
        added = 0
        for url in urls:
            if url not in entry.pushed:
                if isinstance(entry.pushed, frozenset):  # a first visit's shared set
                    entry.pushed = set(entry.pushed)
                entry.pushed.add(url)
                added += _URL_BYTES + len(url)
        entry.bytes += added
        self.bytes += added
        if self.bytes > self.max_bytes:
            self._evict()

    def _drop(self, key: ConnectionKey) -> None:
        self.bytes -= self._entries.pop(key).bytes

    def _sweep(self, now: float) -> None:
        """Drop the entries idle for longer than ``idle_s`` (least recently used first)."""
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if now - oldest.last_seen <= self.idle_s:
                # Entries only grow younger towards the end: none is idle before this.
                self._sweep_after = oldest.last_seen + self.idle_s
                return
            self._drop(key)
        self._sweep_after = now + self.idle_s

    def _evict(self) -> None:
        """Drop the least recently used entries while over a bound; never the most recent."""
        entries = self._entries
        while len(entries) > 1 and (len(entries) > self.capacity or self.bytes > self.max_bytes):
            self.bytes -= entries.popitem(last=False)[1].bytes


def connection_key(scope: Scope) -> ConnectionKey | None:
    """The key of an ASGI scope's connection in the ledger, or None when it cannot be known.

    The server's own name for the connection when it gives one (``h2push serve`` puts
    ``{"id": N}`` under ``scope["extensions"]["h2push.connection"]``), else
    ``(client, server)`` as tuples; None when the scope names no client.
    """
    extensions = scope.get("extensions")
    if extensions and CONNECTION_EXTENSION in extensions:
        named = extensions[CONNECTION_EXTENSION]
        if isinstance(named, dict) and "id" in named:
            return ((CONNECTION_EXTENSION, named["id"]), None)
    client, server = scope.get("client"), scope.get("server")
    if not client:
        return None
    # Servers give tuples (the spec allows any two-item iterable): kept as they are.
    if type(client) is not tuple:
        client = tuple(client)
    if server and type(server) is not tuple:
        server = tuple(server)
    return (client, server or None)
