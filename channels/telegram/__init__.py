"""Telegram channel (aiogram 3): a citizen bot and staff alerts in one bot.

`connector.build(parts, settings)`, from the few parts of the core it names (`TelegramParts`),
gives the webhook route `POST /channels/telegram`, the staff link route, the long poller
(mode=polling) and the notifier's `TelegramSender`.
"""
