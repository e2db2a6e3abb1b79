"""Tests of the Golomb-coded-set cache digest (draft-ietf-httpbis-cache-digest-02)."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import ON_CI
from fuzzing import fuzz
from h2push._core.digest import (
    DEFAULT_LOG2_P,
    MAX_DIGEST_BYTES,
    MAX_LOG2,
    CacheDigest,
    DigestError,
    Key,
    hash_value,
)

# A copy of the project's shared vectors, kept in the repository so a plain clone runs them.
VECTORS_PATH = Path(__file__).resolve().parent / "vectors" / "cache_digest.json"


def _load_vectors() -> dict[str, Any] | None:
    try:
        return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


VECTORS = _load_vectors()


def vector_cases(section: str) -> list[Any]:
    if VECTORS is None:
        return [pytest.param(None, id="vectors-missing")]
    return [pytest.param(case, id=f"{section}-{i}") for i, case in enumerate(VECTORS[section])]


def need(case: dict[str, Any] | None) -> dict[str, Any]:
    if case is None:
        message = f"cache digest test vectors not found at {VECTORS_PATH}"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return case


def url(i: int, prefix: str = "https://example.com/static/") -> str:
    return f"{prefix}{i}.js"


def bits(text: str) -> bytes:
    """Bytes from a string of '0'/'1' (spaces ignored), zero-padded to a byte."""
    text = text.replace(" ", "")
    text += "0" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8, "big")


# --------------------------------------------------------------------------------------------
# The shared test vectors


def test_vectors_file_has_every_section() -> None:
    vectors = need(VECTORS)
    for section in ("hash_sha256_top64", "encode", "decode"):
        assert vectors[section], section


@pytest.mark.parametrize("case", vector_cases("hash_sha256_top64"))
def test_vector_hash(case: dict[str, Any] | None) -> None:
    case = need(case)
    top64 = int(case["top64_hex"], 16)
    for width in range(2 * MAX_LOG2 + 1):
        log2_n = min(width, MAX_LOG2)
        got = hash_value(case["url"], case["etag"], log2_n=log2_n, log2_p=width - log2_n)
        assert got == top64 >> (64 - width), width


@pytest.mark.parametrize("case", vector_cases("encode"))
def test_vector_encode(case: dict[str, Any] | None) -> None:
    case = need(case)
    digest = CacheDigest.from_urls(case["urls"], log2_p=case["log2_p"])
    assert digest.encode().hex() == case["digest_hex"]
    assert digest.to_base64url() == case["digest_base64url"]
    assert base64.urlsafe_b64decode(case["digest_base64url"] + "==") == bytes.fromhex(
        case["digest_hex"]
    )
    assert CacheDigest.decode(bytes.fromhex(case["digest_hex"])) == digest
    assert all(u in digest for u in case["urls"])


@pytest.mark.parametrize("case", vector_cases("decode"))
def test_vector_decode(case: dict[str, Any] | None) -> None:
    case = need(case)
    digest = CacheDigest.from_base64url(case["digest_base64url"])
    assert (digest.log2_n, digest.log2_p) == (case["log2_n"], case["log2_p"])
    for member in case["contains"]:
        assert digest.contains(member)
        assert member in digest
    assert digest.to_base64url() == case["digest_base64url"]


# --------------------------------------------------------------------------------------------
# Hash values and N


def test_hash_value_keeps_the_top_bits() -> None:
    wide = hash_value(url(1), log2_n=31, log2_p=31)
    for log2_n in range(8):
        for log2_p in range(8):
            narrow = hash_value(url(1), log2_n=log2_n, log2_p=log2_p)
            assert narrow == wide >> (62 - log2_n - log2_p)
    assert hash_value(url(1), log2_n=0, log2_p=0) == 0


def test_hash_value_appends_the_etag_as_written() -> None:
    assert hash_value("/a", '"x"', log2_n=31, log2_p=31) == hash_value(
        '/a"x"', log2_n=31, log2_p=31
    )
    assert hash_value("/a", 'W/"x"', log2_n=31, log2_p=31) != hash_value(
        "/a", '"x"', log2_n=31, log2_p=31
    )


def test_non_ascii_is_percent_encoded_as_utf8() -> None:
    encoded = hash_value("/caf%C3%A9.css", log2_n=31, log2_p=31)
    assert hash_value("/café.css", log2_n=31, log2_p=31) == encoded
    assert CacheDigest.from_urls(["/café.css"]).contains("/caf%C3%A9.css")
    assert hash_value("/a", '"é"', log2_n=4, log2_p=4) == hash_value(
        "/a", '"%C3%A9"', log2_n=4, log2_p=4
    )


def test_lone_surrogate_is_a_digest_error() -> None:
    with pytest.raises(DigestError, match="percent-encoded"):
        hash_value("/\ud800", log2_n=1, log2_p=7)
    with pytest.raises(DigestError, match="etag"):
        CacheDigest().contains("/a", "\udfff")


@pytest.mark.parametrize(("log2_n", "log2_p"), [(-1, 7), (32, 7), (0, -1), (0, 32), (True, 7)])
def test_hash_value_rejects_bad_parameters(log2_n: int, log2_p: int) -> None:
    with pytest.raises(DigestError, match="log2_"):
        hash_value("/a", log2_n=log2_n, log2_p=log2_p)


def test_keys_must_be_str() -> None:
    with pytest.raises(TypeError, match="url must be a str"):
        hash_value(b"/a", log2_n=1, log2_p=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="etag must be a str"):
        CacheDigest().contains("/a", b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "log2_n"),
    [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 2), (6, 3), (11, 3), (12, 4), (22, 4), (23, 5)],
)
def test_n_is_the_count_rounded_to_the_nearest_power_of_two(count: int, log2_n: int) -> None:
    digest = CacheDigest.from_urls(url(i) for i in range(count))
    assert digest.log2_n == log2_n
    assert count <= digest.capacity


@pytest.mark.parametrize("log2_n", range(12))
def test_n_changes_where_the_count_crosses_2_to_the_k_plus_half(log2_n: int) -> None:
    largest = math.floor(2 ** (log2_n + 0.5))
    keys = [url(i) for i in range(largest + 1)]
    assert CacheDigest.from_urls(keys[:largest]).log2_n == log2_n
    assert CacheDigest.from_urls(keys).log2_n == log2_n + 1


def test_n_matches_round_log2_for_many_counts() -> None:
    # from_urls counts exactly with integers; compare with the floating-point formula.
    from h2push._core import digest as module

    for count in range(1, 20_000):
        assert module._nearest_log2(count) == round(math.log2(count)), count
    assert module._nearest_log2(10**12) == MAX_LOG2


@pytest.mark.parametrize(("log2_n", "capacity"), [(0, 1), (1, 2), (2, 5), (3, 11), (6, 90)])
def test_capacity(log2_n: int, capacity: int) -> None:
    assert CacheDigest(log2_n=log2_n).capacity == capacity
    assert capacity == math.floor(2**log2_n * math.sqrt(2))


# --------------------------------------------------------------------------------------------
# Building: duplicates, keys, validation


def test_identical_keys_count_once() -> None:
    once = CacheDigest.from_urls([url(1), url(2), url(3), url(4)])
    twice = CacheDigest.from_urls([url(1), url(2), url(3), url(4), url(1), (url(2), None)])
    assert once == twice
    assert once.log2_n == 2


def _colliding_pair(log2_n: int, log2_p: int) -> tuple[str, str]:
    seen: dict[int, str] = {}
    for i in range(10_000):
        value = hash_value(url(i), log2_n=log2_n, log2_p=log2_p)
        if value in seen:
            return seen[value], url(i)
        seen[value] = url(i)
    raise AssertionError("no collision")  # pragma: no cover


def test_colliding_keys_count_towards_n_but_are_written_once() -> None:
    first, second = _colliding_pair(1, 4)
    digest = CacheDigest.from_urls([first, second], log2_p=4)
    assert digest.log2_n == 1  # two keys
    assert len(digest.values) == 1  # one value
    assert first in digest
    assert second in digest
    single = CacheDigest(log2_n=1, log2_p=4, values=digest.values)
    assert digest.encode() == single.encode()
    assert CacheDigest.decode(digest.encode()) == digest


def test_etag_keys() -> None:
    digest = CacheDigest.from_urls([("/app.css", '"v1"'), ("/app.js", None), "/logo.png"])
    assert digest.contains("/app.css", '"v1"')
    assert ("/app.css", '"v1"') in digest
    assert ("/app.js", None) in digest
    assert "/app.js" in digest
    assert "/logo.png" in digest
    # A changed ETag is a different key: absent unless it is a 1-in-P false positive.
    stale = sum(digest.contains("/app.css", f'"v{i}"') for i in range(2, 200))
    assert stale <= 8


def test_from_urls_rejects_a_bare_str_and_non_keys() -> None:
    with pytest.raises(TypeError, match="single str"):
        CacheDigest.from_urls("/app.css")
    with pytest.raises(TypeError, match="digest key"):
        CacheDigest.from_urls([("/a", '"e"', "extra")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="digest key"):
        CacheDigest.from_urls([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="digest key"):
        CacheDigest.from_urls([("/a", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="digest key"):
        _ = 42 in CacheDigest()


def test_from_urls_with_a_fixed_n() -> None:
    digest = CacheDigest.from_urls([url(i) for i in range(3)], log2_n=6)
    assert (digest.log2_n, digest.log2_p) == (6, DEFAULT_LOG2_P)
    with pytest.raises(DigestError, match="capacity"):
        CacheDigest.from_urls([url(i) for i in range(3)], log2_n=0)
    with pytest.raises(DigestError, match="log2_n"):
        CacheDigest.from_urls([], log2_n=32)
    with pytest.raises(DigestError, match="log2_p"):
        CacheDigest.from_urls([], log2_p=32)


def test_default_digest_is_empty_n1_p128() -> None:
    assert CacheDigest() == CacheDigest.from_urls([])
    assert CacheDigest().encode() == bytes.fromhex("01c0")
    assert "/anything" not in CacheDigest()


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"log2_n": 32}, DigestError, "log2_n"),
        ({"log2_n": -1}, DigestError, "log2_n"),
        ({"log2_p": 32}, DigestError, "log2_p"),
        ({"log2_p": 1.0}, DigestError, "log2_p"),
        ({"log2_n": 0, "log2_p": 1, "values": frozenset({2})}, DigestError, "outside"),
        ({"values": frozenset({-1})}, DigestError, "outside"),
        ({"log2_n": 0, "values": frozenset({1, 2})}, DigestError, "capacity"),
        ({"values": {1}}, TypeError, "frozenset"),
        ({"values": frozenset({"1"})}, TypeError, "ints"),
    ],
)
def test_construction_checks_every_field(
    fields: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        CacheDigest(**fields)


def test_digest_is_immutable_and_hashable() -> None:
    digest = CacheDigest.from_urls([url(1)])
    with pytest.raises(AttributeError):
        digest.log2_n = 3  # type: ignore[misc]
    assert {digest, CacheDigest.from_urls([url(1)])} == {digest}


# --------------------------------------------------------------------------------------------
# Growing and merging


def test_with_urls_keeps_n_and_p() -> None:
    start = CacheDigest(log2_n=6)
    grown = start.with_urls([url(1), url(2)]).with_urls([url(3), url(2)])
    assert (grown.log2_n, grown.log2_p) == (6, 7)
    assert grown == CacheDigest.from_urls([url(1), url(2), url(3)], log2_n=6)
    assert start.values == frozenset()


def test_with_urls_refuses_to_overfill() -> None:
    digest = CacheDigest.from_urls([url(i) for i in range(90)], log2_n=6)
    assert len(digest.values) == 90
    with pytest.raises(DigestError, match="capacity"):
        digest.with_urls([url(i) for i in range(90, 100)])


def test_merge() -> None:
    left = CacheDigest.from_urls([url(i) for i in range(10)], log2_n=5)
    right = CacheDigest.from_urls([url(i) for i in range(5, 20)], log2_n=5)
    merged = left.merge(right)
    assert merged == CacheDigest.from_urls([url(i) for i in range(20)], log2_n=5)
    assert merged == right.merge(left)
    assert all(url(i) in merged for i in range(20))


def test_merge_needs_the_same_n_and_p() -> None:
    with pytest.raises(DigestError, match="rebuild from the keys"):
        CacheDigest(log2_n=5).merge(CacheDigest(log2_n=6))
    with pytest.raises(DigestError, match="rebuild from the keys"):
        CacheDigest(log2_p=5).merge(CacheDigest(log2_p=7))
    full = CacheDigest.from_urls([url(i) for i in range(5)], log2_n=2)
    with pytest.raises(DigestError, match="capacity"):
        full.merge(CacheDigest.from_urls([url(9)], log2_n=2))


# --------------------------------------------------------------------------------------------
# Sizes and false positives


def test_tracker_budget_64_resources_at_p128() -> None:
    # The cookie tracker keeps up to 64 pushed resources at N = 64, P = 128 in 200 bytes.
    digest = CacheDigest.from_urls([url(i) for i in range(64)], log2_n=6)
    assert len(digest.encode()) <= 74
    assert len(digest.to_base64url()) <= 99
    # The worst case: one gap as long as it can be (63 unary bits), every other gap empty.
    worst = CacheDigest(log2_n=6, values=frozenset(range(2**13 - 64, 2**13)))
    assert len(worst.encode()) == math.ceil((10 + 64 * 8 + 63) / 8) == 74
    assert len(worst.to_base64url()) == 99 < 200


@given(count=st.integers(1, 300), log2_p=st.integers(0, 12), seed=st.integers(0, 2**32))
@settings(max_examples=50)
def test_encoded_size_bound(count: int, log2_p: int, seed: int) -> None:
    digest = CacheDigest.from_urls([url(i, f"/{seed}/") for i in range(count)], log2_p=log2_p)
    n = 2**digest.log2_n
    bound_bits = 10 + len(digest.values) * (1 + log2_p) + n - 1
    assert len(digest.encode()) <= math.ceil(bound_bits / 8)


def test_average_bits_per_entry_is_about_log2p_plus_1_6() -> None:
    digest = CacheDigest.from_urls([url(i) for i in range(2048)])
    assert digest.log2_n == 11
    per_entry = (8 * len(digest.encode()) - 10) / len(digest.values)
    assert 8.3 < per_entry < 8.9, per_entry


@pytest.mark.parametrize("log2_p", [4, 7])
def test_false_positive_rate(log2_p: int) -> None:
    # 256 members (exactly N), 10 000 non-members; the exact rate is len(values) / (N * P).
    members = [url(i) for i in range(256)]
    digest = CacheDigest.from_urls(members, log2_p=log2_p)
    assert digest.log2_n == 8
    assert all(digest.contains(member) for member in members)
    trials = 10_000
    hits = sum(digest.contains(url(i, "https://example.com/other/")) for i in range(trials))
    p = 2**log2_p
    assert hits / trials <= 1.2 / p, (hits, trials / p)


# --------------------------------------------------------------------------------------------
# Property tests: round trips and membership

urls_st = st.text(max_size=40)
etags_st = st.none() | st.text(max_size=12).map(lambda t: f'"{t}"')
keys_st: st.SearchStrategy[Key] = urls_st | st.tuples(urls_st, etags_st)


@given(keys=st.lists(keys_st, max_size=120), log2_p=st.integers(0, MAX_LOG2))
@example(keys=[], log2_p=0)
@example(keys=["/a"], log2_p=MAX_LOG2)
def test_round_trip(keys: list[Key], log2_p: int) -> None:
    digest = CacheDigest.from_urls(keys, log2_p=log2_p)
    data = digest.encode()
    assert CacheDigest.decode(data) == digest
    assert CacheDigest.decode(data).encode() == data
    text = digest.to_base64url()
    assert "=" not in text
    assert CacheDigest.from_base64url(text) == digest
    assert CacheDigest.from_base64url(text + "=" * (-len(text) % 4)) == digest
    for key in keys:
        assert key in digest


@given(keys=st.lists(urls_st, min_size=1, max_size=40), log2_p=st.integers(1, 10))
def test_members_stay_members_through_growth(keys: list[str], log2_p: int) -> None:
    half = len(keys) // 2
    base = CacheDigest.from_urls(keys[:half], log2_p=log2_p, log2_n=6)
    grown = CacheDigest.decode(base.encode()).with_urls(keys[half:])
    assert grown == CacheDigest.from_urls(keys, log2_p=log2_p, log2_n=6)
    assert all(key in grown for key in keys)


@given(
    log2_n=st.integers(0, MAX_LOG2),
    log2_p=st.integers(0, MAX_LOG2),
    data=st.data(),
)
def test_round_trip_of_arbitrary_values(log2_n: int, log2_p: int, data: st.DataObject) -> None:
    limit = 2 ** (log2_n + log2_p)
    capacity = CacheDigest(log2_n=log2_n).capacity
    values = data.draw(
        st.frozensets(st.integers(0, limit - 1), max_size=min(capacity, 64)), label="values"
    )
    digest = CacheDigest(log2_n=log2_n, log2_p=log2_p, values=values)
    try:
        encoded = digest.encode()
    except DigestError:
        # Sparse values at a large N can need more than MAX_DIGEST_BYTES of unary bits.
        return
    assert len(encoded) <= MAX_DIGEST_BYTES
    assert CacheDigest.decode(encoded) == digest


def test_encode_refuses_what_decode_would_refuse() -> None:
    wide = CacheDigest(log2_n=31, log2_p=31, values=frozenset(range(2000)))
    with pytest.raises(DigestError, match="more than 4096 bytes"):
        wide.encode()
    # One value, but a quotient of 2**30: counted before any bit is written.
    sparse = CacheDigest(log2_n=31, log2_p=31, values=frozenset({2**61}))
    started = time.perf_counter()
    with pytest.raises(DigestError, match="more than 4096 bytes"):
        sparse.encode()
    assert time.perf_counter() - started < 0.5
    with pytest.raises(DigestError):
        sparse.to_base64url()


# --------------------------------------------------------------------------------------------
# Decoding untrusted input


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "shorter than its 10-bit header"),
        (b"\x01", "shorter than its 10-bit header"),
        (bytes.fromhex("01c000"), "padding is at most 7"),
        (bytes.fromhex("01f74000"), "padding is at most 7"),
        (bits("00000 00111 1 000"), "cut short"),
        (bits("00000 00001 1 0 01 0"), "outside range"),  # N=1, P=2: values below 2
        (bits("00000 00111 1 0000000 1 0000000"), "more than the 1 values"),
        (bits("00001 00001 1 0 1 0 1 0"), "more than the 2 values"),  # N=2, P=2: 0, 1, 2
        (bits("00001 00000 001"), "outside range"),  # N=2, P=1: a value of 2
    ],
)
def test_decode_rejects_malformed(data: bytes, match: str) -> None:
    with pytest.raises(DigestError, match=match):
        CacheDigest.decode(data)


def test_decode_examples_at_the_edges() -> None:
    assert CacheDigest.decode(bits("00000 00000")) == CacheDigest(log2_p=0)
    assert CacheDigest.decode(bits("00000 00000 1")).values == frozenset({0})
    assert CacheDigest.decode(bits("00001 00000 1 1")).values == frozenset({0, 1})
    assert CacheDigest.decode(bits("00001 00000 01")).values == frozenset({1})
    assert CacheDigest.decode(bits("00000 00111 1 1111111")).values == frozenset({127})


def test_decode_rejects_oversized_input() -> None:
    valid = CacheDigest.from_urls([url(1)]).encode()
    with pytest.raises(DigestError, match="4097 bytes"):
        CacheDigest.decode(valid + bytes(MAX_DIGEST_BYTES + 1 - len(valid)))
    with pytest.raises(DigestError, match="bytes"):
        CacheDigest.decode(bytes(10 * MAX_DIGEST_BYTES))


@given(prefix=st.binary(max_size=64), extra=st.integers(1, 3 * MAX_DIGEST_BYTES))
@settings(max_examples=30)
def test_decode_rejects_any_oversized_input(prefix: bytes, extra: int) -> None:
    data = prefix + bytes(MAX_DIGEST_BYTES + extra - len(prefix))
    with pytest.raises(DigestError, match="more than the 4096 accepted"):
        CacheDigest.decode(data)


def _decode_time_s(data: bytes) -> float:
    started = time.perf_counter()
    with contextlib.suppress(DigestError):
        CacheDigest.decode(data)
    return time.perf_counter() - started


@pytest.mark.parametrize(
    "data",
    [
        # log2_n = 31, log2_p = 31, then all ones: ~1000 huge values, cut short at the end.
        bytes([0xFF, 0xFF]) + b"\xff" * (MAX_DIGEST_BYTES - 2),
        # log2_n = 31, log2_p = 31, then all zeros: one long unary run, then too much padding.
        bytes([0xFF, 0xC0]) + bytes(MAX_DIGEST_BYTES - 2),
        # log2_n = 31, log2_p = 0: every bit a value, as many values as the bits allow.
        bytes([0xF8, 0x3F]) + b"\xff" * (MAX_DIGEST_BYTES - 2),
        # log2_n = 0, log2_p = 31: capacity 1, so the second value is refused.
        bytes([0x07, 0xC0 | 0x20]) + b"\xff" * (MAX_DIGEST_BYTES - 2),
    ],
    ids=["n31-p31-ones", "n31-p31-zeros", "n31-p0-ones", "n0-p31-ones"],
)
def test_crafted_headers_cost_little(data: bytes) -> None:
    assert _decode_time_s(data) < 1.0


def test_crafted_header_huge_quotient_decodes_to_one_value() -> None:
    # log2_n = 31, log2_p = 31: 32 726 zero bits, a one, a 31-bit remainder; nothing else.
    length = 8 * MAX_DIGEST_BYTES
    quotient = length - 10 - 32
    digest = CacheDigest.decode(bits("1111111111" + "0" * quotient + "1" + "1" * 31))
    assert digest.values == frozenset({quotient * 2**31 + 2**31 - 1})
    assert len(digest.encode()) == MAX_DIGEST_BYTES


def test_many_values_from_log2_p_zero() -> None:
    digest = CacheDigest.decode(bytes([0xF8, 0x3F]) + b"\xff" * 100)
    assert len(digest.values) == 6 + 800
    assert digest.values == frozenset(range(806))


def _assert_decodes_canonically_or_fails(data: bytes) -> None:
    try:
        digest = CacheDigest.decode(data)
    except DigestError:
        return
    assert digest.encode() == data
    assert len(digest.values) <= digest.capacity


@fuzz
@given(data=st.binary(max_size=MAX_DIGEST_BYTES))
def test_fuzz_decode_arbitrary_bytes(data: bytes) -> None:
    _assert_decodes_canonically_or_fails(data)


@fuzz
@given(
    log2_n=st.integers(0, MAX_LOG2),
    log2_p=st.integers(0, MAX_LOG2),
    tail=st.binary(max_size=256),
)
def test_fuzz_decode_every_header(log2_n: int, log2_p: int, tail: bytes) -> None:
    header = (log2_n << 11 | log2_p << 6).to_bytes(2, "big")
    _assert_decodes_canonically_or_fails(header + tail)
    low_bits = tail[0] & 0x3F if tail else 0
    _assert_decodes_canonically_or_fails(bytes([header[0], header[1] | low_bits]))


@given(
    keys=st.lists(urls_st, max_size=60),
    log2_p=st.integers(0, 12),
    flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=3),
    cut=st.integers(0, 4),
)
def test_fuzz_decode_mutated_digests(
    keys: list[str], log2_p: int, flips: list[int], cut: int
) -> None:
    data = bytearray(CacheDigest.from_urls(keys, log2_p=log2_p).encode())
    for flip in flips:
        bit = flip % (8 * len(data))
        data[bit // 8] ^= 0x80 >> (bit % 8)
    _assert_decodes_canonically_or_fails(bytes(data))
    _assert_decodes_canonically_or_fails(bytes(data[: max(0, len(data) - cut)]))
    _assert_decodes_canonically_or_fails(bytes(data) + bytes(cut))


# --------------------------------------------------------------------------------------------
# base64url


def test_base64url_accepts_padding() -> None:
    assert CacheDigest.from_base64url("AcA=") == CacheDigest.from_base64url("AcA")
    assert CacheDigest.from_base64url("AfdA") == CacheDigest.from_urls(
        ["https://example.com/style.css"]
    )
    assert (
        CacheDigest.from_base64url("EeUM-QA=").values
        == CacheDigest.from_base64url("EeUM-QA").values
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "shorter than its 10-bit header"),
        ("AcA==", "padding"),
        ("AfdA=", "padding"),
        ("AcA===", "padding"),
        ("=", "padding"),
        ("AcB", "unused bits"),
        ("A", "not base64url"),
        ("AcA ", "not base64url"),
        (" AcA", "not base64url"),
        ("Ac\nA", "not base64url"),
        ("EeUM+QA", "not base64url"),
        ("EeUM/QA", "not base64url"),
        ("AcA=A", "not base64url"),
        ("AcÀ", "not base64url"),
        ("\uff21cA", "not base64url"),  # a fullwidth A
        ("A" * 5465, "base64url characters"),
    ],
)
def test_base64url_rejects(text: str, match: str) -> None:
    with pytest.raises(DigestError, match=match):
        CacheDigest.from_base64url(text)


def test_base64url_size_limit_matches_the_byte_limit() -> None:
    largest = base64.urlsafe_b64encode(bytes(MAX_DIGEST_BYTES)).decode("ascii")
    with pytest.raises(DigestError, match="padding is at most 7"):  # reaches decode()
        CacheDigest.from_base64url(largest)
    with pytest.raises(DigestError, match="more than the 4096 accepted"):
        CacheDigest.from_base64url(largest.rstrip("=") + "AA")


def test_base64url_errors_quote_little_of_the_input() -> None:
    with pytest.raises(DigestError) as caught:
        CacheDigest.from_base64url("A" * 4000 + "\n")
    assert len(str(caught.value)) < 120
    assert "4001 characters" in str(caught.value)


def test_base64url_needs_a_str() -> None:
    with pytest.raises(TypeError, match="str"):
        CacheDigest.from_base64url(b"AcA")  # type: ignore[arg-type]


@fuzz
@given(text=st.text(max_size=200))
def test_fuzz_from_base64url_arbitrary_text(text: str) -> None:
    try:
        digest = CacheDigest.from_base64url(text)
    except DigestError:
        return
    assert digest.to_base64url() == text.rstrip("=")


@fuzz
@given(text=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="))
def test_fuzz_from_base64url_alphabet(text: str) -> None:
    try:
        digest = CacheDigest.from_base64url(text)
    except DigestError:
        return
    assert digest.to_base64url() == text.rstrip("=")
