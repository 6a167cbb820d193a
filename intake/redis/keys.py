"""Every Redis key the service uses, named in one place under one prefix.

For Redis Cluster, give a prefix with a hash tag (e.g. `{intake}:`) so that the keys one
Lua script touches share a slot.
"""

from __future__ import annotations

from dataclasses import dataclass

PIPELINE_GROUP = "pipeline"


@dataclass(frozen=True)
class Keys:
    prefix: str = "intake:"

    @property
    def inbound(self) -> str:
        return f"{self.prefix}stream:inbound"

    @property
    def events(self) -> str:
        return f"{self.prefix}stream:events"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}stream:deadletter"

    @property
    def attempts(self) -> str:
        return f"{self.prefix}attempts"

    def receipt(self, idempotency_key: str) -> str:
        return f"{self.prefix}receipt:{idempotency_key}"

    def pending_ticket(self, number: str) -> str:
        return f"{self.prefix}pending:{number}"

    @property
    def pending_prefix(self) -> str:
        return f"{self.prefix}pending:"

    def sequence(self, day: str) -> str:
        return f"{self.prefix}seq:{day}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def heartbeats(self, kind: str) -> str:
        """A sorted set: each live worker of `kind` scored with the time its beat expires."""
        return f"{self.prefix}heartbeat:{kind}"

    def bucket(self, name: str) -> str:
        """A token bucket's hash (`intake.ratelimit.buckets`): its tokens and their time."""
        return f"{self.prefix}bucket:{name}"

    @property
    def limits(self) -> str:
        """The prefix of the `limits` library's moving windows (`intake.ratelimit.attempts`)."""
        return f"{self.prefix}limits"

    def failure_delay(self, name: str) -> str:
        """The prefix of one `FailureDelay`'s hashes, one per digest of who failed."""
        return f"{self.prefix}limits:delay:{name}:"

    # guided requests (intake/guided/): one draft per citizen of a channel, its deadline in a
    # sorted set per channel, the answer each message got, and a lock per citizen
    def guided_draft(self, channel: str, account: str, user: str) -> str:
        return f"{self.prefix}{channel}:dialog:draft:{account}:{user}"

    def guided_step(self, channel: str, account: str, message_id: str) -> str:
        return f"{self.prefix}{channel}:dialog:step:{account}:{message_id}"

    def guided_lock(self, channel: str, account: str, user: str) -> str:
        return f"{self.prefix}{channel}:dialog:lock:{account}:{user}"

    def guided_deadlines(self, channel: str) -> str:
        return f"{self.prefix}{channel}:dialog:deadlines"

    # -- the core's hand-offs to the edges ------------------------------------------------
    def outcome(self, channel: str, external_id: str) -> str:
        """What the core made of one inbound message (`intake.ingest.outcomes`)."""
        return f"{self.prefix}outcome:{channel}:{external_id}"

    @property
    def replies(self) -> str:
        """The answers to citizens' own messages, queued for the notifier with the ack."""
        return f"{self.prefix}stream:replies"

    @property
    def delivery_reports(self) -> str:
        """The stream on which a channel hands delivery reports to the notifier."""
        return f"{self.prefix}stream:delivery-reports"

    def send_state(self, job_key: str) -> str:
        """A hash of one message's send state per channel (`intake.ingest.send_state`)."""
        return f"{self.prefix}notify:state:{job_key}"

    def flood(self, kind: str, value: str, hour: str) -> str:
        """How many messages one sender (a pseudonym, `intake.privacy.pseudonyms`) sent in one
        hour (`intake.pipeline.intent`)."""
        return f"{self.prefix}flood:{kind}:{value}:{hour}"

    # -- department webhooks (`intake.integration.webhook_worker`) --------------------------
    @property
    def webhook_prefix(self) -> str:
        return f"{self.prefix}webhook:"

    @property
    def webhook_due(self) -> str:
        return f"{self.prefix}webhook:due"

    def webhook_seen(self, event_id: str, department: str) -> str:
        return f"{self.prefix}webhook:seen:{event_id}:{department}"

    @property
    def webhook_queue_prefix(self) -> str:
        return f"{self.prefix}webhook:q:"

    def webhook_queue(self, department: str, ticket: str) -> str:
        return f"{self.prefix}webhook:q:{department}:{ticket}"

    # -- the notifier ------------------------------------------------------------------------
    @property
    def job_queue_prefix(self) -> str:
        """saq's keys (`notifier.queue`): `<prefix>saq:<queue>:…` and `<prefix>saq:job:…`."""
        return f"{self.prefix}saq:"

    def notified_event(self, event_id: str) -> str:
        """Marks a ticket event the notifier has turned into jobs."""
        return f"{self.prefix}notify:event:{event_id}"

    # -- access tokens of providers' APIs (WeChat, WeCom) -----------------------------------
    def access_token(self, provider: str, account: str) -> str:
        """`provider` is `wechat` or `wecom`; `account` the app id or `corp:agent`."""
        return f"{self.prefix}{provider}:{account}:access_token"

    # -- WeChat ------------------------------------------------------------------------------
    def wechat_nonce(self, app_id: str, timestamp: str, nonce: str) -> str:
        return f"{self.prefix}wechat:nonce:{app_id}:{timestamp}:{nonce}"

    def wechat_citizen(self, account: str, openid: str, what: str) -> str:
        """Per follower: `window` (the 48-hour customer-service window) or `unsubscribed`."""
        return f"{self.prefix}wechat:{account}:{openid}:{what}"

    def wechat_pictures(self, account: str, openid: str) -> str:
        return f"{self.prefix}wechat:pics:{account}:{openid}"

    def wechat_pictures_linked(self, account: str, openid: str) -> str:
        """The photos already linked to the follower's latest menu photo event."""
        return f"{self.wechat_pictures(account, openid)}:linked"

    @property
    def wechat_media_queue(self) -> str:
        return f"{self.prefix}wechat:media:queue"

    def wechat_media_job(self, account: str, media_id: str) -> str:
        return f"{self.prefix}wechat:media:job:{account}:{media_id}"

    # -- Telegram ----------------------------------------------------------------------------
    def telegram_update(self, bot_id: int, update_id: int) -> str:
        return f"{self.prefix}tg:update:{bot_id}:{update_id}"

    def telegram_link_code(self, code: str) -> str:
        return f"{self.prefix}tg:link:{code}"

    def telegram_staff_chat(self, chat_id: int) -> str:
        return f"{self.prefix}tg:staff-chat:{chat_id}"

    @property
    def telegram_fsm(self) -> str:
        """The prefix of aiogram's FSM storage keys."""
        return f"{self.prefix}tg:fsm"

    # -- e-mail ------------------------------------------------------------------------------
    def email_autoreply_cap(self, digest: str) -> str:
        """The prefix of one address's auto-reply counters, by a digest of the address."""
        return f"{self.prefix}email:autocap:{digest}"

    def email_cursor(self, mailbox: str) -> str:
        return f"{self.prefix}email:cursor:{mailbox}"

    def email_dead(self, external_id: str) -> str:
        return f"{self.prefix}email:dead:{external_id}"
