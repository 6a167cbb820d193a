"""The step-by-step request (a form answered with buttons): what each answer does to the draft.

The steps come in the catalogue's order (type → text → place → phone by default). An answer
that does not fit the open step asks it again; files are taken while the description or the
place is asked (a file's caption is the description when that is asked); a skipped step counts
as answered. Pure: the engine loads, locks, stores and files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from intake.domain.messages import InboundMessage, MessageKind
from intake.guided.catalogue import FormRules
from intake.guided.draft import Draft, part_of

FILE_KINDS = frozenset({MessageKind.IMAGE, MessageKind.FILE, MessageKind.VOICE, MessageKind.VIDEO})
FILE_STEPS = frozenset({"text", "place"})  # the steps during which files are taken
AGAIN = {"type": "type_again", "text": "text_again"}  # else the question itself once more


@dataclass(frozen=True, slots=True)
class FormAnswer:
    """What one answer did: `cancelled`, or the notes to say and whether the step moved on."""

    cancelled: bool = False
    notes: tuple[str, ...] = ()  # text names, with `count` as their value
    moved: bool = False
    reprompt: str | None = None  # the text name to ask the open step with again


def take(rules: FormRules, draft: Draft, message: InboundMessage) -> FormAnswer:
    """Apply one message to the form's open step."""
    typed = message.text.strip() if message.kind is MessageKind.TEXT else ""
    need = draft.asking
    if typed and rules.is_cancel(typed):
        return FormAnswer(cancelled=True)
    if message.kind in FILE_KINDS and need in FILE_STEPS:
        return _file(draft, message)
    if need == "type" and typed and (chosen := rules.request_type_of(typed)) is not None:
        draft.request_type = chosen.value
        return FormAnswer(moved=True)
    if need == "text" and typed:
        _describe(draft, message, typed)
        return FormAnswer(moved=True)
    if need == "place" and message.location is not None and message.kind is MessageKind.LOCATION:
        draft.location = asdict(message.location)
        return FormAnswer(moved=True)
    if need in ("place", "phone") and typed and rules.is_skip(typed):
        draft.skipped.append(need)
        return FormAnswer(moved=True)
    if need == "place" and typed:
        draft.place = typed[:300]
        return FormAnswer(moved=True)
    if need == "phone" and (phone := message.vouched_phone) is not None:
        draft.phone, draft.phone_vouched = phone, True
        return FormAnswer(moved=True)
    return FormAnswer(reprompt=AGAIN.get(need, f"ask_{need}"))


def _file(draft: Draft, message: InboundMessage) -> FormAnswer:
    """A file while the description or place is asked: kept (its caption is the description
    when that is asked); one that the channel could not fetch is said to be too large."""
    part = part_of(message)
    caption = message.text.strip() if draft.asking == "text" else ""
    part.text = caption
    if part.attachments or caption:
        draft.parts.append(part)
    note = "attached" if message.attachments else "too_large"
    return FormAnswer(notes=(note,), moved=bool(caption))


def _describe(draft: Draft, message: InboundMessage, text: str) -> None:
    """The description: one text, a later one replaces it (files already sent stay)."""
    for part in draft.parts:
        part.text = ""
    part = part_of(message)
    part.text = text
    draft.parts.append(part)


def attachment_count(draft: Draft) -> int:
    return sum(len(p.attachments) for p in draft.parts)
