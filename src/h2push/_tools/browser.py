"""Drive headless Chromium over the DevTools protocol and read Resource Timing.

A hint is proven by a browser acting on it: after a page load, Chromium reports every resource it
fetched because of a ``103 Early Hints`` response (RFC 8297) with
``PerformanceResourceTiming.initiatorType == "early-hints"``. This module starts Chromium, loads a
page, and returns those timings as plain values (:class:`PageLoad`).

Chromium acts on a 103 only under conditions this module and its callers must meet:

* The certificate is trusted. A self-signed test certificate is trusted with
  ``--ignore-certificate-errors-spki-list`` and the certificate's :func:`spki_sha256_base64`;
  plain ``--ignore-certificate-errors`` loads the page but Chromium then ignores 103 responses.
* The HTTP cache is on and the hinted resources are cacheable: Chromium preloads them into its
  HTTP cache and the page reads them from there. A ``Cache-Control: no-store`` resource, or a
  browser whose cache DevTools disabled (``Network.setCacheDisabled``, the "Disable cache" box),
  fetches them again with their ordinary initiator. No browser automation library is involved:
  only the ``Page``, ``Runtime``, ``Log`` and (when asked) ``Network`` domains are enabled, over a
  plain websocket.
* The 103 reaches Chromium after it has finished sending the request. Over loopback a server that
  answers at once sometimes wins that race and Chromium drops the 103; any real round trip, or a
  few milliseconds of server delay, avoids it.

Example::

    with Chromium(spki=[spki_sha256_base64(cert_pem)]) as browser:
        load = browser.load("https://127.0.0.1:8443/")
        assert load.initiator_of("/style.css") == "early-hints"
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from h2push._core.errors import H2PushError
from h2push._tools._common import EXECUTABLE_NAMES, find_chromium

_STOP_TIMEOUT_S: Final = 5.0
_STDERR_TAIL_CHARS: Final = 2000

# Collected in the page after the load event; every time is in ms since navigation start
# (DOMHighResTimeStamp), every size in bytes. W3C Resource Timing 2, Navigation Timing 2, Paint
# Timing.
_COLLECT_TIMINGS_JS: Final = """(() => {
  const pick = (e) => ({
    name: e.name,
    initiatorType: e.initiatorType,
    startTime: e.startTime,
    responseStart: e.responseStart,
    responseEnd: e.responseEnd,
    transferSize: e.transferSize,
    encodedBodySize: e.encodedBodySize,
    nextHopProtocol: e.nextHopProtocol,
  });
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return {
    navigation: nav ? Object.assign(pick(nav), {
      requestStart: nav.requestStart,
      firstInterimResponseStart: nav.firstInterimResponseStart ?? 0,
      finalResponseHeadersStart: nav.finalResponseHeadersStart ?? nav.responseStart,
      domContentLoadedEventEnd: nav.domContentLoadedEventEnd,
      loadEventEnd: nav.loadEventEnd,
      responseStatus: nav.responseStatus ?? 0,
    }) : null,
    firstContentfulPaint: fcp ? fcp.startTime : null,
    resources: performance.getEntriesByType("resource").map(pick),
  };
})()"""


class BrowserError(H2PushError):
    """Chromium is missing, did not start, timed out, or reported a failure over DevTools."""


class BrowserTimeoutError(BrowserError):
    """Chromium did not start, answer, or finish loading a page within the time allowed."""


def chromium_command(
    *,
    user_data_dir: Path,
    executable: str | None = None,
    spki: Sequence[str] = (),
    port: int = 0,
    extra_args: Sequence[str] = (),
    quic_origins: Sequence[str] = (),
) -> list[str]:
    """Return the command line that starts headless Chromium for early-hint measurements.

    The flags keep the browser quiet and deterministic: no GPU, no QUIC (so the page is fetched
    over the HTTP/2 connection the test server offers) unless ``quic_origins`` asks for it, no
    first-run, sync, component or background traffic. It opens ``about:blank`` and serves
    DevTools on loopback.

    Args:
        user_data_dir (Path): The profile directory; Chromium writes ``DevToolsActivePort`` here.
        executable (str | None): The Chromium program; found with :func:`find_chromium` when None.
        spki (Sequence[str]): Base64 SHA-256 SPKI digests (:func:`spki_sha256_base64`) of
            certificates to trust. Without them a self-signed server fails to load, and plain
            ``--ignore-certificate-errors`` makes Chromium ignore 103 responses.
        port (int): The DevTools port; 0 lets Chromium choose a free one and report it in
            ``user_data_dir / "DevToolsActivePort"``.
        extra_args (Sequence[str]): More flags, placed before the start URL.
        quic_origins (Sequence[str]): ``HOST:PORT`` origins to reach over HTTP/3 (QUIC, RFC
            9114) from the first request, without waiting for an ``Alt-Svc``
            (``--enable-quic --origin-to-force-quic-on``); the SPKI digests cover QUIC too.

    Returns:
        list[str]: The program followed by its arguments, ready for :class:`subprocess.Popen`.

    Raises:
        BrowserError: ``executable`` is None and no Chromium is installed.
        ValueError: ``port`` is outside 0-65535, or an SPKI digest or an origin contains a comma.
    """
    if executable is None:
        executable = find_chromium()
        if executable is None:
            names = ", ".join(EXECUTABLE_NAMES)
            raise BrowserError(f"Chromium is not installed (looked for {names} on PATH)")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0-65535, got {port}")
    if any("," in digest for digest in spki):
        raise ValueError(f"spki: a digest cannot contain ',': {list(spki)!r}")
    if any("," in origin for origin in quic_origins):
        raise ValueError(f"quic_origins: an origin cannot contain ',': {list(quic_origins)!r}")
    if quic_origins:
        quic = ["--enable-quic", f"--origin-to-force-quic-on={','.join(quic_origins)}"]
    else:
        quic = ["--disable-quic"]
    command = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        *quic,
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data_dir}",
    ]
    if spki:
        command.append(f"--ignore-certificate-errors-spki-list={','.join(spki)}")
    command.append(f"--remote-debugging-port={port}")
    command.extend(extra_args)
    command.append("about:blank")
    return command


@dataclass(frozen=True, kw_only=True)
class ResourceTiming:
    """One ``PerformanceResourceTiming`` entry (W3C Resource Timing Level 2).

    Attributes:
        name (str): The absolute URL fetched.
        initiator_type (str): What started the fetch: ``"early-hints"`` for a resource a 103
            response preloaded, otherwise ``"link"``, ``"script"``, ``"css"``, ``"img"`` and so on.
        start_time_ms (float): When the fetch started, in ms since navigation start.
        response_start_ms (float): When the first response byte arrived, in ms since navigation
            start (0 when the browser hides it).
        response_end_ms (float): When the last byte arrived, in ms since navigation start.
        transfer_size (int): Bytes received including headers; 0 when served from cache.
        encoded_body_size (int): Body bytes received, before content decoding.
        next_hop_protocol (str): ALPN of the connection: ``"h2"``, ``"http/1.1"``, ``"h3"``.
    """

    name: str
    initiator_type: str
    start_time_ms: float
    response_start_ms: float
    response_end_ms: float
    transfer_size: int
    encoded_body_size: int
    next_hop_protocol: str

    @property
    def path(self) -> str:
        """str: The URL's path, without query or fragment (``"/style.css"``)."""
        return urlsplit(self.name).path or "/"

    @property
    def duration_ms(self) -> float:
        """float: Fetch start to last byte, in ms."""
        return self.response_end_ms - self.start_time_ms

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> ResourceTiming:
        """Build from the JSON shape of a performance entry (camelCase keys, as in the DOM)."""
        return cls(
            name=str(entry["name"]),
            initiator_type=str(entry["initiatorType"]),
            start_time_ms=float(entry["startTime"]),
            response_start_ms=float(entry["responseStart"]),
            response_end_ms=float(entry["responseEnd"]),
            transfer_size=int(entry["transferSize"]),
            encoded_body_size=int(entry["encodedBodySize"]),
            next_hop_protocol=str(entry["nextHopProtocol"]),
        )


@dataclass(frozen=True, kw_only=True)
class NavigationTiming:
    """The document's ``PerformanceNavigationTiming`` entry (W3C Navigation Timing Level 2).

    Times are in ms since navigation start. When a 103 arrived, ``response_start_ms`` is when it
    arrived (equal to ``first_interim_response_start_ms``) and ``final_response_headers_start_ms``
    is when the final response began; without one, the two are equal.

    Attributes:
        name (str): The document URL (after redirects).
        request_start_ms (float): When the request was sent.
        response_start_ms (float): First byte of any response, interim (1xx) or final.
        first_interim_response_start_ms (float): First byte of the first 1xx response; 0 when
            there was none.
        final_response_headers_start_ms (float): First byte of the final response.
        response_end_ms (float): Last byte of the document.
        dom_content_loaded_event_end_ms (float): End of ``DOMContentLoaded``.
        load_event_end_ms (float): End of the ``load`` event.
        transfer_size (int): Bytes received for the document, including headers.
        encoded_body_size (int): Document body bytes received, before content decoding.
        next_hop_protocol (str): ALPN of the connection: ``"h2"``, ``"http/1.1"``, ``"h3"``.
        response_status (int): The final status code; 0 when the browser does not report it.
    """

    name: str
    request_start_ms: float
    response_start_ms: float
    first_interim_response_start_ms: float
    final_response_headers_start_ms: float
    response_end_ms: float
    dom_content_loaded_event_end_ms: float
    load_event_end_ms: float
    transfer_size: int
    encoded_body_size: int
    next_hop_protocol: str
    response_status: int

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> NavigationTiming:
        """Build from the JSON shape of a navigation entry (camelCase keys, as in the DOM)."""
        return cls(
            name=str(entry["name"]),
            request_start_ms=float(entry["requestStart"]),
            response_start_ms=float(entry["responseStart"]),
            first_interim_response_start_ms=float(entry["firstInterimResponseStart"]),
            final_response_headers_start_ms=float(entry["finalResponseHeadersStart"]),
            response_end_ms=float(entry["responseEnd"]),
            dom_content_loaded_event_end_ms=float(entry["domContentLoadedEventEnd"]),
            load_event_end_ms=float(entry["loadEventEnd"]),
            transfer_size=int(entry["transferSize"]),
            encoded_body_size=int(entry["encodedBodySize"]),
            next_hop_protocol=str(entry["nextHopProtocol"]),
            response_status=int(entry["responseStatus"]),
        )


@dataclass(frozen=True, kw_only=True)
class DevToolsEvent:
    """One DevTools protocol event as the browser sent it (Chrome DevTools Protocol, tip-of-tree).

    Attributes:
        method (str): The event, as ``"Domain.event"``: ``"Network.responseReceived"``.
        params (Mapping[str, Any]): Its parameters, decoded from JSON; the protocol's own names.
    """

    method: str
    params: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class PageLoad:
    """What one page load reported: document timing, every subresource, and console errors.

    Attributes:
        url (str): The URL asked for.
        navigation (NavigationTiming): The document's timing.
        resources (tuple[ResourceTiming, ...]): Subresources in the order the browser fetched them.
        first_contentful_paint_ms (float | None): First contentful paint in ms since navigation
            start; None when nothing was painted before the timings were read.
        console_errors (tuple[str, ...]): Uncaught exceptions, ``console.error`` calls and
            browser log errors (failed loads, blocked requests) seen during the load.
        console_warnings (tuple[str, ...]): Browser log warnings of the load, with the ``Log``
            domain on: a preload the page did not use within a few seconds of the load event, a
            preload whose credentials mode does not match its use, a font that did not decode.
        network_events (tuple[DevToolsEvent, ...]): The ``Network`` domain's events of the
            load, in order, with ``Chromium(network_domain=True)``; empty otherwise.
    """

    url: str
    navigation: NavigationTiming
    resources: tuple[ResourceTiming, ...]
    first_contentful_paint_ms: float | None = None
    console_errors: tuple[str, ...] = ()
    console_warnings: tuple[str, ...] = ()
    network_events: tuple[DevToolsEvent, ...] = ()

    @property
    def load_event_end_ms(self) -> float:
        """float: End of the document's ``load`` event, in ms since navigation start."""
        return self.navigation.load_event_end_ms

    @property
    def early_hints_received(self) -> bool:
        """bool: Whether the browser saw a 1xx response before the final one."""
        return self.navigation.first_interim_response_start_ms > 0

    def by_path(self) -> dict[str, ResourceTiming]:
        """Return the resources keyed by URL path; the first fetch wins when a path repeats."""
        found: dict[str, ResourceTiming] = {}
        for resource in self.resources:
            found.setdefault(resource.path, resource)
        return found

    def initiator_of(self, path: str) -> str | None:
        """Return the initiator type of the first fetch of ``path`` (``"/app.js"``), or None."""
        resource = self.by_path().get(path)
        return None if resource is None else resource.initiator_type

    def hinted_paths(self) -> frozenset[str]:
        """Return the paths of the resources the browser took from a 103 Early Hints response."""
        return frozenset(r.path for r in self.resources if r.initiator_type == "early-hints")


class Chromium:
    """A headless Chromium driven over the DevTools protocol; a context manager.

    Entering starts the browser with a fresh temporary profile and attaches to its one page;
    leaving stops the browser and the processes it started (by its own process id, which leads
    their process group) and deletes the profile. One instance serves one thread at a time.

    Only the ``Page``, ``Runtime`` and (optionally) ``Log`` and ``Network`` domains are enabled;
    nothing touches the HTTP cache that early-hint preloads go through, except an explicit
    :meth:`clear_cache`.

    Args:
        spki (Sequence[str]): SPKI digests of certificates to trust (:func:`spki_sha256_base64`).
        executable (str | None): The Chromium program; found on PATH when None.
        extra_args (Sequence[str]): More command-line flags.
        quic_origins (Sequence[str]): ``HOST:PORT`` origins to reach over HTTP/3 from the first
            request (see :func:`chromium_command`); none: QUIC stays off.
        log_domain (bool): Also enable the ``Log`` domain, so that browser-side errors (a failed
            subresource, a blocked request) land in :attr:`PageLoad.console_errors`.
        network_domain (bool): Also enable the ``Network`` domain and keep its events of each
            load in :attr:`PageLoad.network_events`: ``requestWillBeSent`` (initiator, time),
            ``responseReceivedEarlyHints`` (the 103's headers), ``responseReceived`` (status,
            headers), the ``ExtraInfo`` events (the headers really sent and received, cookies
            included), ``loadingFinished`` and ``loadingFailed``. Enabling the domain leaves the
            HTTP cache on, so early hints still work; ``Network.setCacheDisabled`` is never sent.
        start_timeout_s (float): How long to wait for Chromium to serve DevTools, in seconds.

    Raises:
        BrowserError: From :meth:`start` (on entering), when Chromium is missing or does not
            start in time.
    """

    def __init__(
        self,
        *,
        spki: Sequence[str] = (),
        executable: str | None = None,
        extra_args: Sequence[str] = (),
        quic_origins: Sequence[str] = (),
        log_domain: bool = True,
        network_domain: bool = False,
        start_timeout_s: float = 30.0,
    ) -> None:
        self._spki = tuple(spki)
        self._quic_origins = tuple(quic_origins)
        self._executable = executable
        self._extra_args = tuple(extra_args)
        self._log_domain = log_domain
        self._network_domain = network_domain
        self._network_events: list[DevToolsEvent] = []
        self._start_timeout_s = start_timeout_s
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: ClientConnection | None = None
        self._socket_scope = contextlib.ExitStack()
        self._next_id = 0
        self._errors: list[str] = []
        self._warnings: list[str] = []
        self._loaded: set[tuple[str, str]] = set()  # (frame id, loader id) that fired "load"

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The browser's process id while it runs, else None."""
        return None if self._process is None else self._process.pid

    @property
    def user_data_dir(self) -> Path | None:
        """The temporary profile directory while the browser runs, else None."""
        return None if self._directory is None else self._directory / "profile"

    def start(self) -> None:
        """Start Chromium and attach to its page.

        Raises:
            BrowserTimeoutError: Chromium does not serve DevTools within ``start_timeout_s``.
            BrowserError: Chromium is missing, already started, or exits early.
        """
        if self._process is not None:
            raise BrowserError("this Chromium is already started")
        directory = Path(tempfile.mkdtemp(prefix="h2push-chromium-"))
        self._directory = directory
        profile = directory / "profile"
        profile.mkdir()
        try:
            command = chromium_command(
                executable=self._executable,
                user_data_dir=profile,
                spki=self._spki,
                port=0,
                extra_args=self._extra_args,
                quic_origins=self._quic_origins,
            )
            with (directory / "stderr.log").open("wb") as stderr:
                try:
                    self._process = subprocess.Popen(
                        command,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=stderr,
                        start_new_session=True,
                    )
                except OSError as error:
                    raise BrowserError(f"cannot run {command[0]}: {error}") from error
            deadline = time.monotonic() + self._start_timeout_s
            port = self._wait_for_port(profile / "DevToolsActivePort", deadline)
            url = self._wait_for_page(port, deadline)
            try:
                # No proxy: the environment's proxy settings must not see loopback traffic.
                self._socket = self._socket_scope.enter_context(
                    connect(
                        url,
                        open_timeout=max(deadline - time.monotonic(), 0.1),
                        max_size=None,
                        proxy=None,
                    )
                )
            except (OSError, WebSocketException) as error:
                raise BrowserError(f"cannot open the DevTools websocket {url}: {error}") from error
            self._call("Page.enable", deadline=deadline)
            self._call("Page.setLifecycleEventsEnabled", {"enabled": True}, deadline=deadline)
            self._call("Runtime.enable", deadline=deadline)
            if self._log_domain:
                self._call("Log.enable", deadline=deadline)
            if self._network_domain:
                self._call("Network.enable", deadline=deadline)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Disconnect, stop Chromium and its child processes, and delete the profile.

        Safe to call more than once.
        """
        self._socket = None
        with contextlib.suppress(OSError, WebSocketException):
            self._socket_scope.close()
        if self._process is not None:
            _stop_process_group(self._process)
            self._process = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    # -- page operations ----------------------------------------------------------------------

    def load(self, url: str, *, timeout_s: float = 30.0, settle_s: float = 0.3) -> PageLoad:
        """Navigate to ``url``, wait for its load event, and return what the page reported.

        After the ``load`` event the browser is given ``settle_s`` more for late fetches and
        console messages before the timings are read.

        Args:
            url (str): An absolute ``http`` or ``https`` URL.
            timeout_s (float): Limit for navigation and load event together, in seconds.
            settle_s (float): Time to wait after the load event, in seconds.

        Returns:
            PageLoad: Navigation and resource timings and the console errors of this load.

        Raises:
            BrowserTimeoutError: The load event did not come within ``timeout_s``.
            BrowserError: The navigation failed (``net::ERR_CERT_AUTHORITY_INVALID``,
                ``net::ERR_CONNECTION_REFUSED``), or the page has no navigation timing entry.
        """
        deadline = time.monotonic() + timeout_s
        self._errors.clear()
        self._warnings.clear()
        self._loaded.clear()
        self._network_events.clear()
        result = self._call("Page.navigate", {"url": url}, deadline=deadline)
        error_text = result.get("errorText")
        if error_text:
            raise BrowserError(f"navigating to {url} failed: {error_text}")
        if "loaderId" not in result:
            raise BrowserError(f"navigating to {url} stayed in the same document: no page load")
        # The load event of this navigation, not a late one of a navigation it replaced.
        navigation = (str(result.get("frameId")), str(result["loaderId"]))
        while navigation not in self._loaded:
            self._receive(deadline, waiting_for=f"the load event of {url}")
        self._pump(min(time.monotonic() + settle_s, deadline))
        timings = self.evaluate(_COLLECT_TIMINGS_JS, timeout_s=max(deadline - time.monotonic(), 1))
        if not isinstance(timings, dict) or timings.get("navigation") is None:
            raise BrowserError(f"{url}: the page reported no navigation timing")
        fcp = timings.get("firstContentfulPaint")
        return PageLoad(
            url=url,
            navigation=NavigationTiming.from_entry(timings["navigation"]),
            resources=tuple(ResourceTiming.from_entry(e) for e in timings["resources"]),
            first_contentful_paint_ms=None if fcp is None else float(fcp),
            console_errors=tuple(self._errors),
            console_warnings=tuple(self._warnings),
            network_events=tuple(self._network_events),
        )

    def evaluate(self, expression: str, *, timeout_s: float = 10.0) -> Any:
        """Evaluate a JavaScript expression in the page and return its JSON value.

        A promise is awaited. Values that do not survive JSON (DOM nodes, functions) come back
        as None.

        Args:
            expression (str): JavaScript source of one expression.
            timeout_s (float): Limit in seconds.

        Returns:
            Any: The value as decoded from JSON.

        Raises:
            BrowserTimeoutError: The browser did not answer within ``timeout_s``.
            BrowserError: The expression threw.
        """
        deadline = time.monotonic() + timeout_s
        result = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            deadline=deadline,
        )
        details = result.get("exceptionDetails")
        if details is not None:
            raise BrowserError(f"evaluation failed: {_describe_exception(details)}")
        return result.get("result", {}).get("value")

    def screenshot(self, *, timeout_s: float = 10.0) -> bytes:
        """Capture the visible viewport.

        Args:
            timeout_s (float): Limit in seconds.

        Returns:
            bytes: A PNG image.

        Raises:
            BrowserTimeoutError: The browser did not answer within ``timeout_s``.
            BrowserError: The browser reported an error.
        """
        result = self._call(
            "Page.captureScreenshot",
            {"format": "png"},
            deadline=time.monotonic() + timeout_s,
        )
        return base64.b64decode(result["data"])

    def clear_cache(self, *, timeout_s: float = 10.0) -> None:
        """Empty the browser's HTTP cache, so that the next load fetches everything again.

        Uses ``Network.clearBrowserCache``, which works without ``Network.enable``. Early hints
        keep working afterwards; this is how repeated loads are made comparable to a first visit.

        Args:
            timeout_s (float): Limit in seconds.

        Raises:
            BrowserTimeoutError: The browser did not answer within ``timeout_s``.
            BrowserError: The browser reported an error.
        """
        self.call("Network.clearBrowserCache", timeout_s=timeout_s)

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """Send one DevTools protocol command to the page and return its result.

        Events that arrive meanwhile are handled as during :meth:`load`. Commands that change
        loading change what a load reports: ``Network.setCacheDisabled`` makes Chromium fetch
        hinted resources a second time, and ``Fetch.enable`` pauses every request until it is
        continued.

        Args:
            method (str): The command, as ``"Domain.method"``: ``"Page.reload"``.
            params (Mapping[str, Any] | None): Its parameters, JSON-serialisable.
            timeout_s (float): Limit in seconds.

        Returns:
            dict[str, Any]: The command's ``result`` object.

        Raises:
            BrowserTimeoutError: The browser did not answer within ``timeout_s``.
            BrowserError: The browser reported an error.
        """
        return self._call(method, params, deadline=time.monotonic() + timeout_s)

    # -- DevTools plumbing --------------------------------------------------------------------

    def _call(
        self, method: str, params: Mapping[str, Any] | None = None, *, deadline: float
    ) -> dict[str, Any]:
        """Send one DevTools command and return its result, handling events that arrive first."""
        socket = self._require_socket()
        self._next_id += 1
        call_id = self._next_id
        message = {"id": call_id, "method": method, "params": dict(params or {})}
        try:
            socket.send(json.dumps(message))
        except (OSError, WebSocketException) as error:
            raise BrowserError(f"DevTools connection lost sending {method}: {error}") from error
        while True:
            reply = self._receive(deadline, waiting_for=f"the reply to {method}")
            if reply.get("id") != call_id:
                continue
            if "error" in reply:
                failure = reply["error"]
                detail = f"{failure.get('message')} ({failure.get('code')})"
                raise BrowserError(f"{method} failed: {detail}")
            result = reply.get("result", {})
            return result if isinstance(result, dict) else {}

    def _receive(self, deadline: float, *, waiting_for: str) -> dict[str, Any]:
        """Receive one DevTools message before ``deadline``, recording the events it carries."""
        socket = self._require_socket()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserTimeoutError(f"timed out waiting for {waiting_for}")
        try:
            raw = socket.recv(timeout=remaining)
        except TimeoutError as error:
            raise BrowserTimeoutError(f"timed out waiting for {waiting_for}") from error
        except (OSError, WebSocketException) as error:
            raise BrowserError(f"DevTools connection lost waiting for {waiting_for}") from error
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise BrowserError(f"unexpected DevTools message: {raw!r:.200}")
        if "method" in message:
            self._on_event(message["method"], message.get("params", {}))
        return message

    def _pump(self, until: float) -> None:
        """Handle events until the monotonic time ``until``."""
        with contextlib.suppress(BrowserTimeoutError):
            while True:
                self._receive(until, waiting_for="events")

    def _on_event(self, method: str, params: Mapping[str, Any]) -> None:
        if self._network_domain and method.startswith("Network."):
            self._network_events.append(DevToolsEvent(method=method, params=params))
        elif method == "Page.lifecycleEvent" and params.get("name") == "load":
            self._loaded.add((str(params.get("frameId")), str(params.get("loaderId"))))
        elif method == "Runtime.exceptionThrown":
            self._errors.append(_describe_exception(params.get("exceptionDetails", {})))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            self._errors.append(" ".join(_describe_remote_objects(params.get("args", ()))))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                url = entry.get("url")
                text = str(entry.get("text", ""))
                self._errors.append(f"{text} ({url})" if url else text)
            elif entry.get("level") == "warning":
                self._warnings.append(str(entry.get("text", "")))

    def _require_socket(self) -> ClientConnection:
        if self._socket is None:
            raise BrowserError("Chromium is not started (use it as a context manager)")
        return self._socket

    def _wait_for_port(self, port_file: Path, deadline: float) -> int:
        """Return the DevTools port Chromium wrote to ``DevToolsActivePort``."""
        while True:
            self._check_running()
            with contextlib.suppress(OSError, ValueError, IndexError):
                lines = port_file.read_text(encoding="ascii").splitlines()
                if len(lines) >= 2:  # written in one go, but do not read a half-written file
                    return int(lines[0])
            if time.monotonic() >= deadline:
                raise BrowserTimeoutError(
                    f"Chromium did not serve DevTools in time{self._stderr_tail()}"
                )
            time.sleep(0.05)

    def _wait_for_page(self, port: int, deadline: float) -> str:
        """Return the websocket URL of Chromium's page target."""
        # An opener without proxies: the environment's HTTP proxy must not see loopback traffic.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            self._check_running()
            with contextlib.suppress(OSError, ValueError):
                timeout = max(min(deadline - time.monotonic(), 2.0), 0.1)
                with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as reply:
                    targets = json.load(reply)
                for target in targets:
                    if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
                        return str(target["webSocketDebuggerUrl"])
            if time.monotonic() >= deadline:
                raise BrowserTimeoutError(f"Chromium opened no page in time{self._stderr_tail()}")
            time.sleep(0.05)

    def _check_running(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            code = self._process.returncode
            raise BrowserError(f"Chromium exited with status {code}{self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        if self._directory is None:
            return ""
        with contextlib.suppress(OSError):
            text = (self._directory / "stderr.log").read_text(errors="replace").strip()
            if text:
                return f"; its stderr ends with:\n{text[-_STDERR_TAIL_CHARS:]}"
        return ""


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and the children in its process group (it leads a session of its own).

    The browser gets SIGTERM and :data:`_STOP_TIMEOUT_S` to exit (it takes about 0.1 s), then
    SIGKILL. Its renderer, GPU and utility processes share its process group id and get SIGKILL
    in case any outlived it; their exit is not awaited (reaping them is init's job).
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT_S)
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _describe_exception(details: Mapping[str, Any]) -> str:
    exception = details.get("exception", {})
    description = exception.get("description") or exception.get("value")
    text = str(description) if description is not None else str(details.get("text", "exception"))
    url = details.get("url")
    return f"{text} ({url}:{details.get('lineNumber', 0) + 1})" if url else text


def _describe_remote_objects(args: Iterable[Mapping[str, Any]]) -> list[str]:
    parts = []
    for arg in args:
        if "value" in arg:
            parts.append(str(arg["value"]))
        else:
            parts.append(str(arg.get("description", arg.get("type", "?"))))
    return parts
