"""Account configuration: keys validated at start-up, several accounts, templates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels.wechat.settings import WeChatAccount, WeChatSettings
from tests.wechat.wechat_helpers import KEY_CURRENT, KEY_PREVIOUS, account


def test_keys_in_order_current_then_previous() -> None:
    assert account().aes_keys() == [KEY_CURRENT, KEY_PREVIOUS]
    assert account(aes_key_previous=KEY_CURRENT).aes_keys() == [KEY_CURRENT]
    assert account(mode="plaintext", aes_key=None, aes_key_previous=None).aes_keys() == []


@pytest.mark.parametrize("bad", ["short", KEY_CURRENT + "A", "!" * 43])
def test_malformed_aes_key_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        account(aes_key=bad)


def test_safe_mode_needs_a_key() -> None:
    with pytest.raises(ValidationError, match="needs aes_key"):
        account(mode="safe", aes_key=None)


def test_secrets_do_not_show_in_repr() -> None:
    text = repr(account()) + str(account().model_dump())
    assert "city-secret" not in text and KEY_CURRENT not in text


def test_api_base_and_templates() -> None:
    acct = account(
        api_base="http://127.0.0.1:1234/",
        templates={"t": {"template_id": "TPL", "fields": {"thing1": "text"}}},
        default_template="t",
    )
    assert acct.api_base == "http://127.0.0.1:1234"
    assert acct.templates["t"].template_id == "TPL"
    with pytest.raises(ValidationError, match="default_template"):
        account(default_template="missing")


def test_several_accounts() -> None:
    settings = WeChatSettings.model_validate(
        {"accounts": [account().model_dump(), {**account().model_dump(), "app_id": "wx_d"}]}
    )
    assert settings.by_app_id("wx_d") is not None
    assert settings.by_app_id("nope") is None
    with pytest.raises(ValidationError, match="share one app_id"):
        WeChatSettings(accounts=[account(), account()])


def test_default_api_base_is_wechat() -> None:
    acct = WeChatAccount(app_id="wx", app_secret="s", token="t")  # type: ignore[arg-type]
    assert acct.api_base == "https://api.weixin.qq.com"
    assert acct.mode == "plaintext"
