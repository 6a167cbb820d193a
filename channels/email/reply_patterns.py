"""The line shapes mail clients use to introduce a quoted or forwarded mail.

Learned from public reply-parsing test suites (talon, email_reply_parser, quotequail) and from
what Chinese clients write: QQ Mail and Foxmail (`原始邮件` rule, `发件人:`/`发送时间:` block),
NetEase 163/126 (`在 … 写道：`, `转发邮件信息`, 邮箱大师's `回复的原邮件` table),
Alimail (`主　题`), Outlook in Chinese (`发件人:`/`发送时间:`/`收件人:`/`主题:`),
Apple Mail and Gmail in Chinese (`… 于2026年12月6日周日 10:15写道：`). Each pattern is
deliberately narrow: a citizen's own lines (“时间：昨晚十点”, “>>>”) must not look like a quote
header.
"""

from __future__ import annotations

import re

_DASH = r"[-_=—–~*\s]"
_FORWARD_WORDS = (
    r"Forwarded message|Forwarded Message|Begin forwarded message|Message transféré|"
    r"Weitergeleitete Nachricht|Mensaje reenviado|Mensagem encaminhada|Doorgestuurd bericht|"
    r"Videresendt meddelelse|Vidarebefordrat meddelande|Inoltrato messaggio|Messaggio inoltrato|"
    r"Пересылаемое сообщение|转发邮件信息|转发的邮件|轉寄郵件|轉寄的郵件|开始转发的邮件|"
    r"以下是转发的邮件|以下为转发的邮件|開始轉寄的郵件|已转发邮件|Début du message réexpédié|"
    r"Inizio messaggio inoltrato|Anfang der weitergeleiteten Nachricht|"
    r"Comienzo del mensaje reenviado"
)
_ORIGINAL_WORDS = (
    r"Original Message|Original|Reply Message|Ursprüngliche Nachricht|Antwort Nachricht|"
    r"Oprindelig meddelelse|Oprindelig besked|Opprinnelig melding|Ursprungligt meddelande|"
    r"Alkuperäinen viesti|"
    r"Message d'origine|Mensaje original|Mensagem original|Messaggio originale|"
    r"Oorspronkelijk bericht|Wiadomość oryginalna|Původní zpráva|Исходное сообщение|"
    r"原始邮件|原始郵件|原邮件|回复的原邮件|原始信件"
)
FORWARD_SEPARATOR = re.compile(
    rf"^\s*>?\s*(?:{_DASH}{{2,}}\s*(?:{_FORWARD_WORDS})\s*:?\s*{_DASH}*"
    rf"|(?:{_FORWARD_WORDS})\s*[:：]?\s*{_DASH}*)$",
    re.IGNORECASE,
)
ORIGINAL_SEPARATOR = re.compile(
    rf"^\s*>?\s*{_DASH}{{2,}}\s*(?:{_ORIGINAL_WORDS})\s*{_DASH}{{2,}}$", re.IGNORECASE
)
RULE_LINE = re.compile(r"^\s*(?:[-_=—–]\s*){4,}$")

# header keys of a quoted mail's header block, by role, in the languages clients write
_FROM_KEYS = (
    "From|Von|De|Od|Fra|Från|Van|Da|Lähettäjä|От|Feladó|Kimden|Mittente|Remitente|"
    "发件人|發件人|寄件者|寄件人|差出人"
)
_DATE_KEYS = (
    "Sent|Date|Message du|Dato|Gesendet|Datum|Envoyé|Sendt|Skickat|Wysłane|Wysłano|Verzonden|"
    "Inviato|Enviado|Fecha|"
    "Data|Lähetetty|Отправлено|Дата|Dátum|Tarih|发送时间|發送時間|寄件日期|发送日期|日期|時間|时间|"
    "送信日時"
)
_OTHER_KEYS = (
    "To|Cc|Bcc|Subject|Reply-To|Sujet|Pour|Répondre à|Copie à|An|Betreff|Kopie|À|Objet|Til|"
    "Emne|Till|Ämne|Do|Temat|"
    "DW|Aan|Onderwerp|A|Oggetto|Para|Asunto|Assunto|Vastaanottaja|Aihe|Кому|Тема|Копия|"
    "Címzett|Tárgy|Kime|Konu|收件人|收件者|抄送|副本|主题|主題|主旨|主\u3000题|主\u3000題|宛先|件名"
)
_KEY_TAIL = r"\s*\**\s*(?:[:：]|\|)"  # "From:", "*From:*", "发件人：", 邮箱大师's "发件人 |"
FROM_FIELD = re.compile(rf"^\s*[>|*\s]*(?:{_FROM_KEYS})\s*{_KEY_TAIL}", re.IGNORECASE)
DATE_FIELD = re.compile(rf"^\s*[>|*\s]*(?:{_DATE_KEYS}){_KEY_TAIL}", re.IGNORECASE)
HEADER_FIELD = re.compile(
    rf"^\s*[>|*\s]*(?P<key>{_FROM_KEYS}|{_DATE_KEYS}|{_OTHER_KEYS}){_KEY_TAIL}\s*(?P<value>.*)$",
    re.IGNORECASE,
)
# "From: a Sent: b To: c Subject: d" on one line (an HTML block whose breaks were lost)
INLINE_HEADER = re.compile(
    rf"^\s*\**(?:{_FROM_KEYS})\**\s*[:：].{{1,200}}\s\**(?:{_DATE_KEYS})\**\s*[:：].{{1,200}}"
    rf"\s\**(?:To|Subject|收件人|主题|An|Betreff|À|Objet)\**\s*[:：]",
    re.IGNORECASE,
)
KEY_ROLES: dict[str, str] = {
    **{k.lower(): "from" for k in _FROM_KEYS.split("|")},
    **{k.lower(): "date" for k in _DATE_KEYS.split("|")},
    "subject": "subject",
    "sujet": "subject",
    "betreff": "subject",
    "objet": "subject",
    "主题": "subject",
    "主題": "subject",
    "主旨": "subject",
    "主\u3000题": "subject",
    "主\u3000題": "subject",
    "件名": "subject",
    "emne": "subject",
    "ämne": "subject",
    "temat": "subject",
    "onderwerp": "subject",
    "oggetto": "subject",
    "asunto": "subject",
    "assunto": "subject",
    "тема": "subject",
}

_WROTE = (
    r"wrote|writes|sent|a écrit|schrieb|skrev|schreef|het volgende geschreven|geschreven|"
    r"napisał(?:\(a\))?|napisała|escribió|escreveu|ha scritto|kirjoitti|написал(?:\(а\))?|"
    r"đã viết|írta|yazdı|写道|寫道|提到"
)
WROTE_END = re.compile(rf"(?:{_WROTE})\s*[:：]\s*[-–—]*\s*$", re.IGNORECASE)
WROTE_DASHED = re.compile(rf"^\s*[-–—]{{2,}}.{{0,200}}\b(?:{_WROTE})\s*[-–—]{{2,}}\s*$", re.I)
DATE_LIKE = re.compile(
    r"\d{1,4}\s*[-/.年]\s*\d{1,2}|\d{1,2}:\d{2}|\d{1,2}\s*月\s*\d{1,2}|"
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|janv|févr|mars|avr|mai|juin|juil|"
    r"août|sept|oct|nov|déc)[a-zé]*\.?,?\s+\d|\d{1,2}\.?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
    r"Sep|Oct|Nov|Dec|janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)",
    re.IGNORECASE,
)
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|<\s*mailto:", re.IGNORECASE)
# "reply text On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:" sharing one line
INLINE_ON = re.compile(r"(?:\s|-{2,})\s*(On\s.{5,200}(?:wrote|sent)\s*:)\s*$", re.IGNORECASE)
HEADER_START = re.compile(
    r"^\s*[-–—]*\s*(?:On|Le|Am|El|Em|Il|Op|Den|På|W dniu|Dne|Vào|В|在|于|於|"
    r"\d{1,4}\s*[-/.年]\s*\d)",
    re.IGNORECASE,
)

SIGNATURE_DELIMITER = re.compile(r"^\s*--\s*$|^\s*__\s*$")
MOBILE_TAGLINE = re.compile(
    r"^\s*(?:发自我的|發自我的|从我的.{0,20}发送|從我的.{0,20}傳送|来自我的|來自我的|"
    r"[从從]\s*(?:Outlook|iPhone|iPad|Android|手机).{0,20}(?:发送|傳送)|"
    r"发自\s*(?:网易|QQ|手机|iPad|iPhone|华为|小米|荣耀|Android|安卓)|来自\s*(?:网易|QQ|手机|华为)|"
    r"Sent from (?:my |Mail for|Samsung|Yahoo|Outlook|Acompli|Gmail|iPad|iPhone|the )|"
    r"Sent via |Get Outlook for|Envoyé de mon|Envoyé à partir de|Von meinem .{0,20}gesendet|"
    r"Gesendet von|Enviado desde mi|Enviado do meu|"
    r"Inviato da|Verzonden vanaf mijn|Wysłane z mojego|Sendt fra min|Skickat från min)",
    re.IGNORECASE,
)
