"""What the bot says in its own words (the core's replies come from `intake.ingest.replies`, the
guided request's questions from the core's catalogue, `intake.guided`).

Chinese first, English after: the hotline serves residents and foreign nationals alike.
"""

from __future__ import annotations

WELCOME = (
    "您好，这里是12345政务服务便民热线。\n"
    "• 发送 /new 按步骤反映诉求（类型 → 内容 → 位置 → 手机号，可附照片或文件）\n"
    "• 也可以直接发送文字、图片或位置\n"
    "• 发送 /status 或 /my 查看您的工单进度\n"
    "紧急情况请拨打110、119、120、122。\n\n"
    "Hello, this is the 12345 government service hotline.\n"
    "• Send /new to file a request step by step (type → description → location → phone; "
    "photos and files welcome)\n"
    "• Or simply send text, a photo or your location\n"
    "• Send /status or /my to see your requests\n"
    "In an emergency call 110, 119, 120 or 122."
)
RATING_THANKS = "已记录 / Recorded"
RATING_BAD = "无法识别的按钮 / Unknown button"
STAFF_HINT = (
    "您的账号已关联工作人员身份：工单通知会发到这里，可直接点击按钮受理或查看。\n"
    "Your chat is linked to a staff account: alerts arrive here with buttons."
)
LINK_USAGE = "用法 / Usage: /link CODE（在工作台获取 / from the staff API）"
LINK_BAD = "关联码无效或已过期。 / The code is invalid or has expired."
LINK_INACTIVE = "该工作人员账号已停用。 / This staff account is inactive."
LINKED = "已关联：{name}（{department}）。工单通知将发送到这里。\nLinked: alerts will arrive here."
NOT_STAFF = "仅限已关联的在岗工作人员操作。 / Only linked, active staff may do this."
ACCEPTED = "已受理 / Accepted"
ACCEPTED_NOTE = "工单 {number} 已由 {name} 受理，当前状态：{status}。"
TICKET_DETAIL = (
    "工单 {number}（{status}）\n类型：{request_type}\n标题：{title}\n地址：{address}\n"
    "办理时限：{due}\n内容：{content}"
)
