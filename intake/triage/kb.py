"""Knowledge-base retrieval: direct answers (直接答复) and suggested answers for agents.

An entry's keyword groups say what the question must be about (e.g. {社保卡} and {补办, 丢,
挂失}); the share of groups found is the main score, so an answer is only offered when every
aspect of the entry is present. The jieba-token similarity to the entry's example questions adds
a smaller part and ranks entries that match equally well.

A wrong automatic close is worse than none, so the bot closes a ticket with an answer only when
the message is a short question (not a letter), every group of the entry is named in one
question sentence (its main question, not anywhere in the text) and the entry beats the
runner-up by a margin. Otherwise the matching entries are suggested to the agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from intake.triage.catalogue import KbEntry, KbRules
from intake.triage.models import KbAnswer
from intake.triage.passage import Passage
from intake.triage.similarity import STOPWORDS, Fingerprint, similarity
from intake.triage.text import Hit, Matcher, Segmenter, char_ngrams, drop_nested, normalise

KB = "kb"
GROUP_WEIGHT = 0.8


@dataclass(frozen=True, slots=True)
class KbCandidate:
    entry: KbEntry
    score: float
    matched: tuple[str, ...]
    in_question: bool = False  # every group named in one question sentence

    def as_answer(self) -> KbAnswer:
        entry = self.entry
        return KbAnswer(entry.id, entry.title, self.score, entry.answer, self.matched)


class KnowledgeBase:
    """Entries plus their precomputed question fingerprints."""

    def __init__(
        self,
        entries: Sequence[KbEntry],
        rules: KbRules,
        segmenter: Segmenter,
        generic: Iterable[str] = (),
    ):
        self.entries = tuple(entries)
        self.rules = rules
        self.threshold = rules.threshold
        self._segmenter = segmenter
        self._questions = tuple(
            tuple(self._fingerprint(q) for q in entry.questions) for entry in self.entries
        )
        self._groups = tuple(
            tuple(tuple(normalise(w) for w in group) for group in entry.keyword_groups)
            for entry in self.entries
        )
        # everything an entry says about itself: a question's topic words must be found here
        self._vocabulary = tuple(
            normalise(
                "".join((entry.title, entry.answer, *entry.questions))
                + "".join(w for group in entry.keyword_groups for w in group)
            )
            for entry in self.entries
        )
        self._generic = frozenset(generic) | STOPWORDS
        self._all_words = tuple(
            frozenset(w for group in groups for w in group) for groups in self._groups
        )
        common = tuple(w for w in (normalise(v) for v in rules.not_words) if w)
        self._not_words = tuple(
            common + tuple(w for w in (normalise(v) for v in entry.not_words) if w)
            for entry in self.entries
        )
        self._foreign = tuple(self._sibling_words(index) for index in range(len(self.entries)))

    def _sibling_words(self, index: int) -> tuple[str, ...]:
        """The words by which a sibling entry (one sharing a keyword group's word with this one:
        社保卡 for card replacement and card activation) asks its own question ("激活"), unless
        this entry's text mentions them too or they say nothing about a topic (`generic`)."""
        mine = self._groups[index]
        words: list[str] = []
        for other, groups in enumerate(self._groups):
            if other == index or not any(set(g) & set(m) for g in groups for m in mine):
                continue
            for group in groups:
                if any(set(group) & set(m) for m in mine):
                    continue
                words.extend(
                    w
                    for w in group
                    if len(w) > 1
                    and w not in self._generic
                    and w not in self._vocabulary[index]
                    and w not in self._all_words[index]
                )
        return tuple(dict.fromkeys(words))

    def _fingerprint(self, text: str) -> Fingerprint:
        normalised = normalise(text)
        words = self._segmenter.words(normalised, STOPWORDS)
        return Fingerprint(frozenset(char_ngrams(normalised)), frozenset(words))

    def register(self, matcher: Matcher) -> None:
        for index, entry in enumerate(self.entries):
            for group, words in enumerate(entry.keyword_groups):
                matcher.add_all((KB, index, group), words)

    def rank(self, hits: Sequence[Hit], passage: Passage, *, similar: bool) -> list[KbCandidate]:
        """Every entry the hits touch, best first. With `similar` (only worth its jieba cost
        when the best may close the ticket) the similarity to the entry's questions is
        measured on the whole of a short message, else entries rank by their groups (and
        whether a question sentence names them all)."""
        groups: dict[int, dict[int, str]] = {}
        # when it may close: "暖气费" names heating, not its "气费" (gas)
        for hit in drop_nested(list(hits)) if similar else hits:
            _, index, group = hit.key
            groups.setdefault(index, {}).setdefault(group, hit.keyword)
        if not groups:
            return []
        questions = [passage.text[s:e] for s, e in passage.question_sentences]
        query = self._fingerprint(passage.text) if similar else None
        ranked = []
        for index, found in groups.items():
            share = len(found) / len(self._groups[index])
            closest = max(
                (similarity(query, q) for q in self._questions[index] if query is not None),
                default=0.0,
            )
            score = round(GROUP_WEIGHT * share + (1 - GROUP_WEIGHT) * closest, 4)
            # only an entry whose every group is in the text can have them all in one question
            asked = share == 1 and any(self._covers(index, q) for q in questions)
            ranked.append(KbCandidate(self.entries[index], score, tuple(found.values()), asked))
        ranked.sort(key=lambda c: (-c.score, not c.in_question))
        return ranked

    def _covers(self, index: int, sentence: str) -> bool:
        return all(any(w in sentence for w in group) for group in self._groups[index])

    def _covers_as_words(self, index: int, sentence: str) -> bool:
        """Every group named by an occurrence that is not part of another entry's longer word:
        "暖气费" (heating) holds "气费" (gas), which then does not count for the gas entry."""
        longer = [w for n, words in enumerate(self._all_words) if n != index for w in words]
        for group in self._groups[index]:
            if not any(_stands(sentence, word, longer) for word in group):
                return False
        return True

    def unexplained(self, index: int, text: str) -> list[str]:
        """The topic words of a question that the entry never mentions ("辞退" asked of the
        work-injury entry, "商务签注" of the travel-endorsement one): it answers another
        question. A word counts as mentioned when it, or one of its two-character parts, is in
        the entry's title, questions, keywords or answer. Each word counts once (a title
        repeats the question)."""
        vocabulary, out = self._vocabulary[index], []
        for word in self._segmenter.words(text, self._generic):
            if word.isdigit() or word in vocabulary:
                continue
            if any(word[i : i + 2] in vocabulary for i in range(len(word) - 1)):
                continue
            out.append(word)
        return list(dict.fromkeys(out))

    def another_question(self, index: int, text: str) -> str | None:
        """A word of the message that means another question than the entry answers: one of
        its `not` words and the knowledge base's (kb.yaml), or the action of a sibling entry
        ("社保卡激活" is not a replacement)."""
        found = next((w for w in self._not_words[index] if w in text), None)
        if found is None:
            found = next((w for w in self._foreign[index] if w in text), None)
        return found

    def why_not_close(self, ranked: Sequence[KbCandidate], passage: Passage) -> str | None:
        """None when the best candidate may close the ticket by itself, else the reason."""
        if not ranked or ranked[0].score < self.threshold:
            return "below threshold"
        if not passage.question_sentences:
            return "not a question"
        if passage.shape.letter_reason:
            return f"a letter ({passage.shape.letter_reason})"
        best = ranked[0]
        if not best.in_question:
            return "the entry does not answer the question asked"
        index = self.entries.index(best.entry)
        questions = [passage.text[s:e] for s, e in passage.question_sentences]
        if not any(self._covers_as_words(index, q) for q in questions):
            return "the entry's words are only parts of other words"
        asked = "，".join(passage.text[s:e] for s, e in passage.question_clauses)
        other = self.another_question(index, passage.text)
        if other is not None:
            return f"asks another question than the entry answers: {other}"
        unexplained = self.unexplained(index, asked)
        if len(unexplained) > self.rules.max_unexplained:
            return f"asks about what the entry does not cover: {'、'.join(unexplained)}"
        # a runner-up the question rules out ("增加经营范围" is no new licence) is no rival
        runner_up = next(
            (
                c
                for c in ranked[1:]
                if self.another_question(self.entries.index(c.entry), passage.text) is None
            ),
            None,
        )
        if runner_up is not None and best.score - runner_up.score < self.rules.margin:
            return f"too close to {runner_up.entry.id} ({runner_up.score:.2f})"
        return None

    def suggestions(self, ranked: Sequence[KbCandidate]) -> tuple[KbAnswer, ...]:
        """The entries good enough to offer an agent, best first."""
        good = [c for c in ranked if c.score >= self.rules.suggest_threshold]
        return tuple(c.as_answer() for c in good[: self.rules.suggest_max])


def _stands(sentence: str, word: str, longer: Sequence[str]) -> bool:
    """An occurrence of word in sentence that no longer word of `longer` contains."""
    position = sentence.find(word)
    while position >= 0:
        end = position + len(word)
        if not any(
            len(other) > len(word)
            and word in other
            and any(
                sentence.startswith(other, start)
                for start in range(max(0, end - len(other)), position + 1)
            )
            for other in longer
        ):
            return True
        position = sentence.find(word, position + 1)
    return False
