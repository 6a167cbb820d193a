"""The fixture's contract when Kannel is missing: skip locally, fail loudly in CI."""

from __future__ import annotations

import pytest

from . import kannel_peer


def test_missing_binaries_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kannel_peer, "BEARERBOX", "/nonexistent/bearerbox")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Kannel binaries missing"):
        kannel_peer.require_kannel()


def test_missing_binaries_skip_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kannel_peer, "BEARERBOX", "/nonexistent/bearerbox")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        kannel_peer.require_kannel()


def test_present_binaries_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    kannel_peer.require_kannel()  # installed on this machine and in CI
