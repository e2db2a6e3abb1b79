"""conftest.require_module: a missing framework skips locally and fails under CI=true."""

from __future__ import annotations

import pytest

import conftest


def test_an_installed_module_is_returned() -> None:
    module = conftest.require_module("json")
    assert module.dumps([1]) == "[1]"


def test_a_missing_module_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "ON_CI", True)
    with pytest.raises(pytest.fail.Exception, match="h2push_no_such_module is not installed"):
        conftest.require_module("h2push_no_such_module")


def test_a_missing_module_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "ON_CI", False)
    with pytest.raises(pytest.skip.Exception, match="h2push_no_such_module is not installed"):
        conftest.require_module("h2push_no_such_module")
