# The text is meant to be multilingual; look-alike letters are the point.
# ruff: noqa: RUF001
"""Seeded, realistic recordings that exercise every corner of the mirror.

The data is built to be awkward on purpose: many languages (right-to-left
Arabic among them), emoji, quotes and text that looks like SQL or full-text
search syntax, int and float times, recordings still being processed, unknown
extra fields, and action items in every shape seen in the wild.

Metadata comes from one generator seeded once per emulator, so the same seed
yields the same recordings in the same order. Transcripts, summaries and
action items come from a generator seeded by ``(seed, recording id)`` when
they are first needed, so their content does not depend on access order and
100,000 recordings cost only their metadata in memory.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mirror.emulator.records import (
    ActionItems,
    EmulatedRecording,
    Recorder,
    Segment,
    Summaries,
    TagRef,
    Transcript,
    from_millis,
    to_millis,
)

T = TypeVar("T")

DEFAULT_NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
SPAN_MS = 3 * 365 * 86_400_000
DAY_MS = 86_400_000
OPTIONAL_PAYLOAD_FIELDS = (
    "description",
    "tags",
    "language",
    "transcript",
    "summary",
    "action_items",
)


@dataclass(frozen=True)
class Locale:
    """The words of one language the generated text is drawn from."""

    language: str
    weight: int
    speakers: tuple[str, ...]
    titles: tuple[str, ...]
    phrases: tuple[str, ...]


# Awkward fragments mixed into every language's text: quotes, emoji and
# operators that a careless full-text or SQL query would misread.
TRICKY = (
    'He said "ship it" AND left.',
    "Budget -marketing +sales, NOT final.",
    'Use prefix* search OR exact "phrase"',
    "O'Brien's draft; DROP TABLE recordings; --",
    "NEAR(launch date) col:value ^boost",
    "🎉 Done! 🚀✨ 👩🏽‍💻",
    "50% off * 2 = 100%?",
    "Back\\slash and tab\tinside",
)

LOCALES = (
    Locale(
        "English",
        40,
        ("Alice", "Bob", "Priya", "Chen", "Marcus", "Fatima"),
        ("Team Standup", "Quarterly Review", "Customer Call", "1:1 with {s}"),
        (
            "Let's go over this week's priorities.",
            "I think we should push the release to Friday.",
            "Can you share the numbers from the last sprint?",
            "The customer asked about pricing again.",
            "We agreed to revisit this next week.",
            "Who owns the follow-up with legal?",
            "That's a blocker for the migration.",
            "Sounds good to me.",
        ),
    ),
    Locale(
        "Deutsch",
        10,
        ("Jürgen", "Änne", "Lukas", "Sophie"),
        ("Wöchentliche Abstimmung", "Kundengespräch Müller GmbH", "Übergabe"),
        (
            "Lass uns die Prioritäten für diese Woche durchgehen.",
            "Die Straße ist wegen Bauarbeiten gesperrt.",
            "Größere Änderungen kommen erst im nächsten Quartal.",
            "Wir müssen das Angebot bis Freitag überarbeiten.",
            "Das klingt vernünftig, aber teuer.",
        ),
    ),
    Locale(
        "日本語",
        10,
        ("佐藤", "鈴木", "高橋", "田中"),
        ("週次定例会議", "顧客打ち合わせ", "振り返り"),
        (
            "今週の優先事項を確認しましょう。",
            "リリースは金曜日に延期したほうがいいと思います。",
            "前回のスプリントの数字を共有してもらえますか？",
            "お客様からまた価格について質問がありました。",
            "来週もう一度検討しましょう。",
        ),
    ),
    Locale(
        "العربية",
        10,
        ("محمد", "فاطمة", "أحمد", "ليلى"),
        ("الاجتماع الأسبوعي", "مكالمة مع العميل", "مراجعة الميزانية"),
        (
            "دعونا نراجع أولويات هذا الأسبوع.",
            "أعتقد أننا يجب أن نؤجل الإصدار إلى يوم الجمعة.",
            "هل يمكنك مشاركة أرقام الربع الأخير؟",
            "سأل العميل عن الأسعار مرة أخرى.",
            "اتفقنا على مناقشة هذا الأسبوع القادم.",
        ),
    ),
    Locale(
        "Español",
        10,
        ("José", "María", "Iñaki", "Lucía"),
        ("Reunión semanal", "Llamada con el cliente", "Revisión del año"),
        (
            "Repasemos las prioridades de esta semana.",
            "¿Podrías compartir los números del último sprint?",
            "El cliente preguntó otra vez por el precio.",
            "Mañana lo revisamos con el equipo de diseño.",
            "¡Perfecto, así lo haremos!",
        ),
    ),
    Locale(
        "Français",
        6,
        ("Élodie", "François", "Zoé"),
        ("Point hebdomadaire", "Appel client", "Rétrospective"),
        (
            "Passons en revue les priorités de la semaine.",
            "Le client a demandé « une remise » encore une fois.",
            "On se revoit jeudi à 14 h.",
            "C'est bloquant pour la mise en production.",
        ),
    ),
    Locale(
        "中文",
        6,
        ("王伟", "李娜", "张敏"),
        ("周例会", "客户电话", "季度总结"),
        (
            "我们来看一下本周的优先事项。",
            "客户又问了价格的问题。",
            "这个问题下周再讨论。",
            "发布可能要推迟到周五。",
        ),
    ),
    Locale(
        "Русский",
        4,
        ("Ольга", "Дмитрий", "Сергей"),
        ("Еженедельная встреча", "Звонок клиенту"),
        (
            "Давайте обсудим приоритеты на эту неделю.",
            "Клиент снова спросил о цене.",
            "Вернёмся к этому на следующей неделе.",
        ),
    ),
    Locale(
        "עברית",
        4,
        ("נועה", "יוסי", "דנה"),
        ("פגישה שבועית", "שיחה עם לקוח"),
        (
            "בואו נעבור על סדרי העדיפויות של השבוע.",
            "הלקוח שאל שוב על המחיר.",
            "נחזור לזה בשבוע הבא.",
        ),
    ),
)

USERS = (
    Recorder("usr_001", "alice@example.com", "Alice Example"),
    Recorder("usr_002", "bob.smith@example.com", "Bob Smith"),
    Recorder("usr_003", "zoe.angstrom@example.com", "Zoë Ångström"),
    Recorder("usr_004", "yamada@example.jp", "山田 太郎"),
    Recorder("usr_005", "m.ali@example.com", "محمد العلي"),
    Recorder("usr_006", "jose.nunez@example.es", "José Núñez"),
    Recorder("usr_007", "conor.obrien@example.ie", "Conor O'Brien"),
    Recorder("usr_008", "sam@example.com", 'Sam "The Hammer" Lee 🔨'),
)

TAGS = (
    TagRef("tag_meeting", "Meeting", "#3366ff"),
    TagRef("tag_weekly", "Weekly", "#22aa55"),
    TagRef("tag_sales", "Sales", "#ff8800"),
    TagRef("tag_1on1", "1:1", None),
    TagRef("tag_kunde", "Kunde", "#aa00aa"),
    TagRef("tag_jp", "日本", "#cc0000"),
    TagRef("tag_client_ar", "عميل", "#008888"),
    TagRef("tag_launch", "🚀 Launch", "#000000"),
    TagRef("tag_quoted", '"quoted" AND -minus*', None),
    TagRef("tag_legal", "Legal", "#777777"),
)

SEGMENT_COUNTS = (3, 20, 60, 120, 200, 350)
SUMMARY_NAMES = ("overview", "key_decisions", "next_steps", "risks")
EXTRA_CHOICES: tuple[dict[str, Any], ...] = (
    {},
    {"source": "pocket-ios"},
    {"folder": {"id": "fld_0042", "name": "Q4 ✨"}, "is_starred": True},
    {"metadata": {"device": "Pocket One", "firmware": "2.1.0"}, "shared": None},
    {"participants_count": 4, "audio_format": "opus"},
)
SEGMENT_EXTRA_CHOICES: tuple[dict[str, Any], ...] = (
    {},
    {},
    {"confidence": 0.93},
    {"speaker_id": "spk_1", "words": None},
)


class Dice:
    """Seeded choices, built on ``random()`` alone for speed.

    ``random.Random.choice`` and ``sample`` cost several times more per call,
    which shows when making 100,000 recordings. ``draw()`` is the bare
    float in ``[0, 1)`` for hot loops.
    """

    def __init__(self, seed: int | str):
        self.draw = random.Random(seed).random

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.draw() < probability

    def below(self, bound: int) -> int:
        """An integer in ``[0, bound)``."""
        return int(self.draw() * bound)

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        return low + int(self.draw() * (high - low + 1))

    def uniform(self, low: float, high: float) -> float:
        """A float in ``[low, high)``."""
        return low + self.draw() * (high - low)

    def pick(self, items: Sequence[T]) -> T:
        """One of ``items``."""
        return items[int(self.draw() * len(items))]

    def some(self, items: Sequence[T], count: int) -> list[T]:
        """``count`` distinct items (all, if fewer), in a random order."""
        pool = list(items)
        count = min(count, len(pool))
        for index in range(count):
            other = index + self.below(len(pool) - index)
            pool[index], pool[other] = pool[other], pool[index]
        return pool[:count]


def locale_of(seed: int, recording_id: str) -> Locale:
    """The language a recording's text is written in, fixed by seed and id."""
    point = zlib.crc32(f"{seed}:{recording_id}".encode()) % _TOTAL_WEIGHT
    for locale in LOCALES:
        if point < locale.weight:
            return locale
        point -= locale.weight
    return LOCALES[0]


_TOTAL_WEIGHT = sum(locale.weight for locale in LOCALES)


class RecordingFactory:
    """Makes recordings for one emulator and fills in their lazy parts.

    Args:
        seed: fixes every generated value.
        now: the generated recordings are spread over the three years
            before this moment.
    """

    def __init__(self, seed: int, now: dt.datetime = DEFAULT_NOW):
        self.seed = seed
        self.now = now
        self._rng = Dice(seed)

    def make_many(self, count: int, taken: set[str]) -> list[EmulatedRecording]:
        """Make ``count`` recordings whose ids are not in ``taken``."""
        return [self.make(taken) for _ in range(count)]

    def make(
        self, taken: set[str], created_at: dt.datetime | None = None
    ) -> EmulatedRecording:
        """Make one recording; its id is added to ``taken``."""
        rng = self._rng
        recording_id = self._new_id(taken)
        locale = locale_of(self.seed, recording_id)
        created = created_at or from_millis(self._created_millis(rng))

        record = EmulatedRecording(
            id=recording_id,
            created_at=created,
            title=_title(rng, locale),
            description=_description(rng, locale),
            duration=_duration(rng),
            language=locale.language if not rng.chance(0.05) else None,
            recorder=rng.pick(USERS),
            tags=_tags(rng),
            extra=dict(rng.pick(EXTRA_CHOICES)),
            segment_extra=dict(rng.pick(SEGMENT_EXTRA_CHOICES)),
            omitted=_omitted(rng),
            parts=self,
        )
        record.updated_at = created + dt.timedelta(minutes=rng.between(1, 599))
        return record

    def transcript(self, record: EmulatedRecording) -> Transcript | None:
        """The recording's transcript; about one in twelve is still processing."""
        rng = self._parts_rng(record, "transcript")
        if rng.chance(0.08):
            return None
        locale = locale_of(self.seed, record.id)
        return _segments(rng, locale)

    def summaries(self, record: EmulatedRecording) -> Summaries | None:
        """The recording's summaries by name; some have none yet."""
        rng = self._parts_rng(record, "summaries")
        if rng.chance(0.1):
            return None
        locale = locale_of(self.seed, record.id)
        names = rng.some(SUMMARY_NAMES, rng.between(1, 3))
        return {name: _summary_markdown(rng, locale, name) for name in names}

    def action_items(self, record: EmulatedRecording) -> ActionItems | None:
        """The recording's action items, in every shape seen in the wild."""
        rng = self._parts_rng(record, "action_items")
        if rng.chance(0.12):
            return None
        locale = locale_of(self.seed, record.id)
        return [_action_item(rng, locale) for _ in range(rng.between(0, 5))]

    def _parts_rng(self, record: EmulatedRecording, part: str) -> Dice:
        return Dice(f"{self.seed}:{record.id}:{part}")

    def _new_id(self, taken: set[str]) -> str:
        while True:
            candidate = f"rec_{self._rng.below(1 << 48):012x}"
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    def _created_millis(self, rng: Dice) -> int:
        millis = to_millis(self.now) - rng.below(SPAN_MS)
        edge = rng.uniform(0.0, 1.0)
        if edge < 0.02:
            return millis - millis % DAY_MS + DAY_MS - 1
        if edge < 0.04:
            return millis - millis % DAY_MS
        return millis


def _title(rng: Dice, locale: Locale) -> str | None:
    if rng.chance(0.03):
        return None
    title = rng.pick(locale.titles).replace("{s}", rng.pick(locale.speakers))
    if rng.chance(0.1):
        title = f"{title} — {rng.pick(TRICKY)}"
    return title


def _description(rng: Dice, locale: Locale) -> str | None:
    if rng.chance(0.3):
        return None
    return " ".join(rng.some(locale.phrases, 2))


def _duration(rng: Dice) -> int | float:
    seconds = rng.between(30, 7200)
    if rng.chance(0.5):
        return seconds
    return round(seconds + rng.uniform(0.0, 1.0), 3)


def _tags(rng: Dice) -> list[TagRef] | None:
    if rng.chance(0.1):
        return None
    return rng.some(TAGS, rng.pick((0, 1, 1, 2, 2, 3)))


def _omitted(rng: Dice) -> frozenset[str]:
    """Which optional fields this recording sends absent, rather than null."""
    return _OMISSIONS[rng.below(len(_OMISSIONS))]


# Every subset of the optional fields, made once and shared by all records.
_OMISSIONS = tuple(
    frozenset(
        name for bit, name in enumerate(OPTIONAL_PAYLOAD_FIELDS) if mask & (1 << bit)
    )
    for mask in range(1 << len(OPTIONAL_PAYLOAD_FIELDS))
)


def _segments(rng: Dice, locale: Locale) -> Transcript:
    speakers: Sequence[str | None] = rng.some(
        locale.speakers, rng.between(2, min(4, len(locale.speakers)))
    )
    if rng.chance(0.1):
        speakers = [*speakers, None]
    floats = rng.chance(0.6)
    count = rng.pick(SEGMENT_COUNTS)

    # The hot loop of serving a transcript, so it draws numbers directly.
    draw, phrases = rng.draw, locale.phrases
    clock = 0.0
    segments = []
    for _ in range(count):
        length = 0.5 + draw() * 11.5
        text = phrases[int(draw() * len(phrases))]
        if draw() < 0.08:
            text = f"{text} {TRICKY[int(draw() * len(TRICKY))]}"
        speaker = speakers[int(draw() * len(speakers))]
        segments.append(_timed(speaker, text, clock, clock + length, floats))
        clock += length + draw() * 1.5
    return segments


def _timed(
    speaker: str | None, text: str, start: float, end: float, floats: bool
) -> Segment:
    """A segment with times as floats of 1/100 s, or as whole seconds."""
    if floats:
        return Segment(speaker, text, round(start, 2), round(end, 2))
    return Segment(speaker, text, int(start), int(end) + 1)


def _summary_markdown(rng: Dice, locale: Locale, name: str) -> str:
    heading = name.replace("_", " ").title()
    bullets = "\n".join(f"- {phrase}" for phrase in rng.some(locale.phrases, 2))
    return f"## {heading}\n\n{bullets}"


def _action_item(rng: Dice, locale: Locale) -> dict[str, Any]:
    text = rng.pick(locale.phrases)
    if rng.chance(0.1):
        text = rng.pick(TRICKY)
    assignee = rng.pick(USERS).display_name
    shape = rng.below(4)
    if shape == 0:
        return {"text": text}
    if shape == 1:
        return {"task": text, "assignee": assignee}
    if shape == 2:
        return {
            "label": text,
            "priority": rng.pick(("low", "medium", "high")),
            "dueDate": f"2026-{rng.between(1, 12):02d}-{rng.between(1, 28):02d}",
            "assignee": assignee,
            "status": rng.pick(("open", "done")),
        }
    return {"title": text, "source_segment": rng.between(0, 50)}
