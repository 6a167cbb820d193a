"""WeCom (企业微信): staff alerts as app messages and group-robot posts, card taps back."""
