"""Reading one keyword in its sentence: is it meant, now, or only mentioned?

`not_now` says why an emergency keyword does not report danger happening now (negated,
quoted, a comparison, a hypothetical, the past, a habit); `passing` says why an out-of-scope
keyword is only mentioned in passing (a refusal, a threat, an alternative). Each returns a
short reason for the decision trail, or None when the keyword stands.
"""

from __future__ import annotations

from intake.triage.cues import Cues, any_in
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
    """A now word ("现在", "正在", "刚才") in the keyword's sentence or the one before or after
    it: letters set the scene in one sentence and tell the danger in the next ("我现在就在楼下。
    三楼那家窗户一直往外冒黑烟"). Past cues after the now word in the keyword's own sentence win:
    in "生的时候我大出血，…，现在宝宝已经两个多月了" the now is about something else."""
    sentence_start, sentence_end = passage.sentence(position)
    before_start = passage.sentence(sentence_start - 2)[0] if sentence_start >= 2 else 0
    last = len(passage.text)
    after_end = passage.sentence(sentence_end + 1)[1] if sentence_end + 1 < last else sentence_end
    _, clause_end = passage.clause(position)
    own = passage.text[sentence_start:clause_end]
    if any_in(cues.now, own):
        return True
    around = passage.text[before_start:sentence_start] + passage.text[sentence_end:after_end]
    return any_in(cues.now, around)


def over(passage: Passage, start: int, cues: Cues) -> str | None:
    """The message says the danger is over or harmless ("幸好没人受伤", "火已经扑灭了") after
    the keyword or before it in its sentence: an account of an incident, not a call."""
    text = passage.text
    sentence_start, _ = passage.sentence(start)
    for word in cues.over:
        found = text.find(word, sentence_start)
        if found >= 0:
            return "over"
    return None


def asks_about_event(passage: Passage, cues: Cues) -> bool:
    """A sentence that asks (a question, or an asking word) asks about procedures or money
    ("请问能报销吗", "对方不赔怎么办"), or the message complains about someone's conduct; a
    `consulting` word in a story asks for nothing."""
    return any_in(cues.complaint, passage.text) or _asks_with(passage, cues, cues.consulting)


def asks_for_repair(passage: Passage, cues: Cues) -> bool:
    """A sentence that asks for a repair or for a department to come ("请供电所赶紧来人")."""
    return _asks_with(passage, cues, cues.maintenance)


def _asks_with(passage: Passage, cues: Cues, words: tuple[str, ...]) -> bool:
    text = passage.text
    for start, end in passage.sentences():
        sentence = text[start:end]
        if not any_in(words, sentence):
            continue
        if passage.is_question(start, end) or any_in(cues.asking, sentence):
            return True
    return False


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
    if negated(before_clause, cues) or any_in(cues.passing, before_sentence):
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
    return any_in(cues.request, clause) or any_in(cues.question, clause)


def asks_for(passage: Passage, start: int, end: int, cues: Cues) -> bool:
    """True when the phrase at [start, end) is asked for: an asking word before it in its
    sentence ("请", "希望", "督促"; not the "请" of "申请" or "请假") or a question clause, and
    it is neither refused ("不想") nor a document shown as proof ("凭…判决书")."""
    text = passage.text
    sentence_start, _ = passage.sentence(start)
    clause_start, clause_end = passage.clause(start)
    before = text[sentence_start:start]
    if negated(text[clause_start:start], cues) or any_in(cues.passing, before):
        return False
    if any_in(cues.evidence, text[clause_start:start]):
        return False
    for word in cues.asking_not:
        before = before.replace(word, "")
    if any_in(cues.asking, before):
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
    if any_in(cues.metaphor, before_clause):
        return True
    return any_in(cues.metaphor_with, before_clause) and any(
        after_clause.startswith(w) or w in after_clause for w in cues.metaphor_same
    )


def hypothetical(before_sentence: str, after_clause: str, cues: Cues) -> bool:
    return any_in(cues.hypothetical, before_sentence) or any(
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
