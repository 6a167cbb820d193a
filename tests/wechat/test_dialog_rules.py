"""The WeChat channel's options: the guided conversation's timeout and the reply wait."""

from __future__ import annotations

import pytest

from channels.wechat.settings import ChannelOptions, WeChatSection
from intake.config import load_settings


def test_channel_options_from_settings() -> None:
    settings = load_settings(
        wechat={
            "app_id": "wx",
            "app_secret": "s",
            "token": "t",
            "reply_wait_s": 3,
            "dialog": {"timeout": "90s", "enabled": "true"},
        }
    )
    options = ChannelOptions.of(settings.wechat)
    assert options.dialog.timeout == 90 and options.reply_wait_s == 3
    assert ChannelOptions.of({"dialog": {"timeout": "10m"}}).dialog.timeout == 600
    assert ChannelOptions.of({}).dialog.timeout == 600 and ChannelOptions.of({}).fetch_media
    parsed = WeChatSection.model_validate(settings.wechat)
    assert parsed.accounts[0].app_id == "wx" and parsed.options == options
    with pytest.raises(ValueError):
        ChannelOptions.of({"dialog": {"timeout": "soon"}})
    with pytest.raises(ValueError):
        ChannelOptions.of({"reply_wait_s": 6})  # outside WeChat's window
