"""The one catalogue of what citizens and staff read: bot replies and notifications.

`<lang>/<name>.j2` Jinja templates (Chinese, the hotline's working language, and English) and
the SMS providers' approved template codes (`sms_codes.yaml`). The core renders its own
answers in the same breath from it (WeChat's passive reply, the Telegram bot) and the
notifier renders its messages from it (the instant replies too: the core names their
template and facts, `intake.ingest.replies.reply_for`), so that a passive reply and the
notification it stands in for are one template with the same facts. Operators override any
file by putting one of the same name in the folder named by `INTAKE_NOTIFY__TEMPLATES_DIR`
(alias `INTAKE_CATALOG__REPLIES_FILE`).
"""

from intake.texts.renderer import SHIPPED, Rendered, Renderer

__all__ = ["SHIPPED", "Rendered", "Renderer"]
