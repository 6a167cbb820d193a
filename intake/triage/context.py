"""Reading one keyword in its sentence: is it meant, now, or only mentioned?

`not_now` says why an emergency keyword does not report danger happening now (negated,
quoted, a comparison, a hypothetical, the past, a habit); `passing` says why an out-of-scope
keyword is only mentioned in passing (a refusal, a threat, an alternative). Each returns a
short reason for the decision trail, or None when the keyword stands.
"""

from __future__ import annotations

from intake.triage.cues import Cues
from intake.triage.passage import Passage


def not_now(passage: Passage, start: int, end: int, cues: Cues) -> str | None:
    """Why the keyword at [start, end) is not an emergency now, or None."""
    if passage.quoted(start, end):
        return "quoted"
    text = passage.text
    clause_start, clause_end = passage.clause(start)
    sentence_start, _ = passage.sentence(start)
    before_clause, after_clause = text[clause_start:start], text[end:clause_end]
    before_sentence = text[sentence_start:start]
    if negated(before_clause, cues):
        return "negated"
    if metaphor(before_clause, after_clause, cues):
        return "metaphor"
    if hypothetical(before_sentence, after_clause, cues):
        return "hypothetical"
    if past(before_sentence, before_clause, after_clause, cues):
        return "past"
    if _last_cue(before_sentence, cues.habitual) > _last_cue(before_sentence, cues.now):
        return "habitual"
    return None


def said_now(passage: Passage, position: int, cues: Cues) -> bool:
    """A now word ("现在", "正在", "刚才") before `position` in its sentence or anywhere in its
    clause: in "生的时候我大出血，…，现在宝宝已经两个多月了" the now is about something else."""
    sentence_start, _ = passage.sentence(position)
    _, clause_end = passage.clause(position)
    text = passage.text[sentence_start:clause_end]
    return any(word in text for word in cues.now)


def passing(passage: Passage, start: int, end: int, cues: Cues, *, letter: bool) -> str | None:
    """Why an out-of-scope keyword is only a mention, or None when it may be the request.

    In a letter a past event is also a mention ("之前仲裁过"); in a short message it is the
    matter itself ("已经上访过了，还没结果")."""
    if passage.quoted(start, end):
        return "quoted"
    text = passage.text
    clause_start, clause_end = passage.clause(start)
    sentence_start, _ = passage.sentence(start)
    before_clause, after_clause = text[clause_start:start], text[end:clause_end]
    before_sentence = text[sentence_start:start]
    if negated(before_clause, cues) or any(w in before_sentence for w in cues.passing):
        return "refused-or-threatened"
    if metaphor(before_clause, after_clause, cues):
        return "metaphor"
    if hypothetical(before_sentence, after_clause, cues):
        return "hypothetical"
    if letter and past(before_sentence, before_clause, after_clause, cues):
        return "past"
    return None


def asks(passage: Passage, position: int, cues: Cues) -> bool:
    """True when the clause holding `position` asks for something or asks a question."""
    start, end = passage.clause(position)
    clause = passage.text[start:end]
    return any(w in clause for w in cues.request) or any(w in clause for w in cues.question)


def asks_for(passage: Passage, start: int, end: int, cues: Cues) -> bool:
    """True when the phrase at [start, end) is asked for: an asking word before it in its
    sentence ("请", "希望", "督促"; not the "请" of "申请" or "请假") or a question clause, and
    it is neither refused ("不想") nor a document shown as proof ("凭…判决书")."""
    text = passage.text
    sentence_start, _ = passage.sentence(start)
    clause_start, clause_end = passage.clause(start)
    before = text[sentence_start:start]
    if negated(text[clause_start:start], cues) or any(w in before for w in cues.passing):
        return False
    if any(w in text[clause_start:start] for w in cues.evidence):
        return False
    for word in cues.asking_not:
        before = before.replace(word, "")
    if any(w in before for w in cues.asking):
        return True
    return passage.is_question(clause_start, clause_end) and not passage.quoted(start, end)


def negated(before_clause: str, cues: Cues) -> bool:
    """A negation right before the keyword: two-character words anywhere in the window, a
    one-character one only right before ("没着火", but not "没多久就晕倒了")."""
    window = before_clause[-cues.negation_window :]
    for word in cues.negation:
        if len(word) > 1 and word in window:
            return True
        if len(word) == 1 and word in window[-2:]:
            return True
    return False


def metaphor(before_clause: str, after_clause: str, cues: Cues) -> bool:
    if any(word in before_clause for word in cues.metaphor):
        return True
    return any(w in before_clause for w in cues.metaphor_with) and any(
        after_clause.startswith(w) or w in after_clause for w in cues.metaphor_same
    )


def hypothetical(before_sentence: str, after_clause: str, cues: Cues) -> bool:
    return any(w in before_sentence for w in cues.hypothetical) or any(
        after_clause.startswith(w) for w in cues.hypothetical_after
    )


def past(before_sentence: str, before_clause: str, after_clause: str, cues: Cues) -> bool:
    if any(before_clause.endswith(w) for w in cues.past_before_keyword):
        return True
    if any(after_clause.startswith(w) for w in cues.past_after_keyword) and not any(
        after_clause.startswith(w) for w in cues.past_after_keyword_not
    ):
        return True
    latest = _last_cue(before_sentence, cues.past)
    if cues.past_date is not None:
        for found in cues.past_date.finditer(before_sentence):
            latest = max(latest, found.start())
    return latest > _last_cue(before_sentence, cues.now)


def _last_cue(text: str, words: tuple[str, ...]) -> int:
    """Where the last of the words starts in text, or -1."""
    return max((text.rfind(word) for word in words), default=-1)
