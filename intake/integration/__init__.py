"""Machine clients of the hotline: Open311 partners' API keys and department webhooks.

The tables live here (on the core's metadata) so that the Open311 channel, the webhook
worker and the CLI share one home for them; nothing here imports a channel or the notifier.
"""
