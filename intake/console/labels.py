"""Chinese labels (English second where short) for the words the console shows."""

from __future__ import annotations

from intake.domain.enums import RequestType, Role, TicketStatus

STATUS = {s.value: s.label_zh for s in TicketStatus}
TYPE = {t.value: t.label_zh for t in RequestType}
ROLE = {
    Role.AGENT.value: "话务员",
    Role.HANDLER.value: "承办单位",
    Role.SUPERVISOR.value: "督办",
    Role.ADMIN.value: "管理员",
}
CHANNEL = {
    "web": "网站",
    "wechat": "微信",
    "sms": "短信",
    "email": "邮件",
    "telegram": "Telegram",
    "phone": "电话",
    "wecom": "企业微信",
}
DEADLINE = {"green": "正常", "yellow": "即将超期", "red": "已超期", "paused": "暂停计时"}
ACTION = {
    "accept": "受理",
    "dispatch": "派单",
    "reply": "答复",
    "close": "办结",
    "return": "退单",
    "extend": "延期",
    "approve_extension": "批准延期",
    "reject_extension": "驳回延期",
    "ask": "补充信息",
    "end_wait": "结束等待",
    "reopen": "重新办理",
    "note": "备注",
    "categorize": "改类",
    "decline": "不予受理",
}
EVENT = {
    "received": "收到诉求",
    "follow_up": "群众补充",
    "accepted": "受理",
    "dispatched": "派单",
    "returned": "退单",
    "replied": "答复",
    "closed": "办结",
    "reopened": "重新办理",
    "note": "备注",
    "extension_requested": "申请延期",
    "extension_granted": "批准延期",
    "extension_rejected": "驳回延期",
    "notified": "已通知",
    "delivery_failed": "发送失败",
    "delivery_report": "送达回执",
    "rated": "评价",
    "triaged": "智能分拣",
    "status_query": "进度查询",
    "repeat": "重复诉求",
    "linked": "关联工单",
    "info_requested": "请群众补充信息",
    "info_received": "群众已补充",
    "categorized": "改类",
    "wait_ended": "结束等待",
}


def of(table: dict[str, str], value: str | None) -> str:
    return table.get(value or "", value or "—")
