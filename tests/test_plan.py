"""The per-request plan, exhaustively, with no server."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h2push import Preload, RequestFacts, plan
from h2push._core.plan import is_navigation, push_headers

CSS = Preload(url="/app.css", as_="style", weight=5)
FONT = Preload(url="/f.woff2", as_="font", weight=4)
JS = Preload(url="/app.js", as_="script", weight=3)
RAW = Preload(url="/data.bin", weight=2)  # no `as`: pushed and linked, never hinted
LOGO = Preload(url="/logo.png", as_="image", weight=1, nopush=True)
CDN = Preload(url="https://cdn.example", rel="preconnect")
OTHER_ORIGIN = Preload(url="https://cdn.example/lib.js", as_="script", weight=9)
ALL = (RAW, LOGO, JS, CDN, CSS, OTHER_ORIGIN, FONT)

H2_NAVIGATION = RequestFacts(
    method="GET", path="/", navigation=True, can_early_hint=True, can_push=True
)


@pytest.mark.parametrize(
    ("mode", "accept", "expected"),
    [
        ("navigate", None, True),
        ("Navigate", "*/*", True),
        ("cors", "text/html", False),
        ("no-cors", None, False),
        (None, "text/html,application/xhtml+xml", True),
        (None, "*/*", False),
        (None, None, False),
    ],
)
def test_is_navigation(mode: str | None, accept: str | None, expected: bool) -> None:
    assert is_navigation(mode, accept) is expected


def test_navigation_over_http2_gets_hints_pushes_and_links() -> None:
    result = plan(H2_NAVIGATION, ALL)
    assert result.early_hints == (OTHER_ORIGIN, CSS, FONT, JS, LOGO, CDN)
    assert result.pushes == (CSS, FONT, JS, RAW)
    assert [p.url for p in result.links] == [
        "https://cdn.example/lib.js",
        "/app.css",
        "/f.woff2",
        "/app.js",
        "/data.bin",
        "/logo.png",
        "https://cdn.example",
    ]
    assert {p.url for p in result.links if p.nopush} == {
        "/app.css",
        "/f.woff2",
        "/app.js",
        "/data.bin",
        "/logo.png",
    }
    assert result.remember == {p.url for p in (*result.early_hints, *result.pushes)}
    assert result.early_hint_links[1] == b"</app.css>; rel=preload; as=style"
    assert result.link_header is not None
    assert "</app.css>; rel=preload; as=style; nopush" in result.link_header


def test_pushes_are_capped_highest_weight_first() -> None:
    assert plan(H2_NAVIGATION, ALL, max_pushes=2).pushes == (CSS, FONT)
    assert plan(H2_NAVIGATION, ALL, max_pushes=0).pushes == ()
    with pytest.raises(ValueError, match="negative"):
        plan(H2_NAVIGATION, ALL, max_pushes=-1)


def test_known_resources_are_not_pushed_but_still_hinted_and_linked() -> None:
    result = plan(H2_NAVIGATION, ALL, known={"/app.css", "/app.js"})
    assert result.pushes == (FONT, RAW)
    assert CSS in result.early_hints
    # Linked with nopush, so that a proxy does not push what the client has either.
    assert replace(CSS, nopush=True) in result.links


@pytest.mark.parametrize(
    "request_facts",
    [
        RequestFacts(method="HEAD", navigation=True, can_early_hint=True, can_push=True),
        RequestFacts(method="POST", navigation=True, can_early_hint=True, can_push=True),
        RequestFacts(method="GET", navigation=True, can_early_hint=True, can_push=False),
        RequestFacts(
            method="GET", navigation=True, can_early_hint=True, can_push=True, pushed=True
        ),
    ],
)
def test_no_pushes(request_facts: RequestFacts) -> None:
    assert plan(request_facts, ALL).pushes == ()


@pytest.mark.parametrize(
    "request_facts",
    [
        RequestFacts(navigation=False, can_early_hint=True, can_push=True),
        RequestFacts(navigation=True, can_early_hint=False, can_push=True),
        RequestFacts(navigation=True, can_early_hint=True, can_push=True, pushed=True),
    ],
)
def test_no_early_hints(request_facts: RequestFacts) -> None:
    assert plan(request_facts, ALL).early_hints == ()


def test_switches() -> None:
    assert plan(H2_NAVIGATION, ALL, early_hints=False).early_hints == ()
    assert plan(H2_NAVIGATION, ALL, push=False).pushes == ()
    assert all(not p.nopush or p is LOGO for p in plan(H2_NAVIGATION, ALL, push=False).links)


def test_http11_request_gets_only_links() -> None:
    result = plan(RequestFacts(navigation=True), ALL)
    assert result.early_hints == ()
    assert result.pushes == ()
    assert len(result.links) == len(ALL)
    assert result.remember == frozenset()


def test_duplicates_count_once() -> None:
    result = plan(H2_NAVIGATION, [CSS, JS, Preload(url="/app.css", as_="style", weight=99)])
    assert result.pushes == (CSS, JS)
    assert [p.url for p in result.links] == ["/app.css", "/app.js"]


def test_no_candidates_no_plan() -> None:
    result = plan(H2_NAVIGATION, [])
    assert (result.early_hints, result.pushes, result.links, result.link_header) == (
        (),
        (),
        (),
        None,
    )


def test_push_headers_suit_the_destination_and_copy_only_safe_headers() -> None:
    request = [
        (b"cookie", b"session=secret"),
        (b"accept-encoding", b"gzip, br"),
        (b"user-agent", b"ua/1"),
        (b"authorization", b"Bearer x"),
    ]
    headers = dict(push_headers(CSS, request))
    assert headers == {
        b"accept": b"text/css,*/*;q=0.1",
        b"accept-encoding": b"gzip, br",
        b"user-agent": b"ua/1",
    }
    assert dict(push_headers(FONT, []))[b"accept"] == b"*/*"


_facts = st.builds(
    RequestFacts,
    method=st.sampled_from(["GET", "HEAD", "POST"]),
    path=st.just("/"),
    navigation=st.booleans(),
    can_early_hint=st.booleans(),
    can_push=st.booleans(),
    pushed=st.booleans(),
)


# Twelve pushable same-origin preloads besides ALL, so the push limit binds in most examples.
_MANY = tuple(Preload(url=f"/r{i}.js", as_="script", weight=i % 4) for i in range(12))
_POOL = (*ALL, *_MANY)


@given(
    facts=_facts,
    candidates=st.lists(st.sampled_from(_POOL), max_size=24),
    known=st.sets(st.sampled_from([p.url for p in _POOL]), max_size=4),
    max_pushes=st.integers(0, 8),
)
def test_plan_invariants(
    facts: RequestFacts, candidates: list[Preload], known: set[str], max_pushes: int
) -> None:
    result = plan(facts, candidates, known=known, max_pushes=max_pushes)
    assert len(result.pushes) <= max_pushes
    for pushed in result.pushes:
        assert pushed.same_origin
        assert not pushed.nopush
        assert pushed.url not in known
        assert pushed in candidates
    weights = [p.weight for p in result.pushes]
    assert weights == sorted(weights, reverse=True)
    if result.pushes:
        assert facts.method == "GET"
        assert facts.can_push
        assert not facts.pushed
    if result.early_hints:
        assert facts.navigation
        assert facts.can_early_hint
        assert all(p.hintable for p in result.early_hints)
    assert {p.url for p in result.links} == {p.url for p in candidates}
    # The count, from the rules alone: every distinct eligible candidate up to the limit.
    may_push = facts.method == "GET" and facts.can_push and not facts.pushed
    eligible = {p.url for p in candidates if p.same_origin and not p.nopush and p.url not in known}
    assert len(result.pushes) == (min(max_pushes, len(eligible)) if may_push else 0)


@given(
    navigation=st.booleans(),
    candidates=st.lists(st.sampled_from(_POOL), max_size=24),
    known=st.sets(st.sampled_from([p.url for p in _POOL]), max_size=4),
    max_pushes=st.integers(0, 8),
)
def test_a_request_that_may_push_gets_every_eligible_preload_up_to_the_limit(
    navigation: bool, candidates: list[Preload], known: set[str], max_pushes: int
) -> None:
    facts = RequestFacts(method="GET", path="/", navigation=navigation, can_push=True)
    result = plan(facts, candidates, known=known, max_pushes=max_pushes)
    eligible = {p.url for p in candidates if p.same_origin and not p.nopush and p.url not in known}
    assert len(result.pushes) == min(max_pushes, len(eligible))
    assert len({p.url for p in result.pushes}) == len(result.pushes)
