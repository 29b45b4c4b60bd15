"""The PII detectors (pytest_llmbench.datasets.pii): each kind in the formats it is written
in, checksums that keep look-alike numbers out, names in Russian and English, and the
placeholders: consistent per dataset, idempotent, leaving no found value behind."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from support.pii_values import card, iban, inn10, inn12, phone_intl, phone_ru, snils

from pytest_llmbench.datasets.pii import PLACEHOLDER, Placeholders, Span, checksums, find, normalise
from pytest_llmbench.datasets.pii.dataset import scrub_text
from pytest_llmbench.datasets.pii.names import place_like
from pytest_llmbench.datasets.pii.spans import resolve

pytest.importorskip("natasha", reason="the pii extra (natasha) is not installed")


def found(text: str, names: bool = True) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find(text, names=names)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Пишите: Ivan.Petrov@Mail.ru!", [("EMAIL", "Ivan.Petrov@Mail.ru")]),
        ("звоните +7 (912) 345-67-89.", [("PHONE", "+7 (912) 345-67-89")]),
        ("тел. 8 912 345 67 89, Вера", [("PHONE", "8 912 345 67 89")]),
        ("8(4012)53-22-10 и 89123456789", [("PHONE", "8(4012)53-22-10"), ("PHONE", "89123456789")]),
        ("+7-912-345-67-89", [("PHONE", "+7-912-345-67-89")]),
        ("UK: +44 20 7946 0958", [("PHONE", "+44 20 7946 0958")]),
        ("US +1 (617) 555-0199", [("PHONE", "+1 (617) 555-0199")]),
        (
            "пишите @ivan_petrov или в t.me/ivan_petrov",
            [("HANDLE", "@ivan_petrov"), ("PROFILE", "t.me/ivan_petrov")],
        ),
        (
            "https://www.instagram.com/masha.ivanova/ и vk.com/id48213377.",
            [
                ("PROFILE", "https://www.instagram.com/masha.ivanova/"),
                ("PROFILE", "vk.com/id48213377"),
            ],
        ),
        ("карта 4111 1111 1111 1111", [("CARD", "4111 1111 1111 1111")]),
        (
            "IBAN DE89 3704 0044 0532 0130 00, получатель фонд",
            [("IBAN", "DE89 3704 0044 0532 0130 00")],
        ),
        ("ИНН 7707083893", [("INN", "7707083893")]),
        ("ИНН организации 7707083893", [("INN", "7707083893")]),
        ("самозанятый 500100732259", [("INN", "500100732259")]),
        ("СНИЛС 112-233-445 95", [("SNILS", "112-233-445 95")]),
        ("паспорт 45 06 123456", [("PASSPORT", "45 06 123456")]),
        ("паспорт 4506 123456", [("PASSPORT", "4506 123456")]),
        ("паспорт серии 4506 № 123456", [("PASSPORT", "4506 № 123456")]),
    ],
)
def test_each_structured_kind_is_found_in_the_formats_it_is_written_in(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(text, names=False) == expected


@pytest.mark.parametrize(
    "text",
    [
        "карта лояльности 4111 1111 1111 1112",  # fails Luhn
        "ИНН 7707083894",  # fails the INN check
        "номер договора 7707083893",  # passes it, but ten digits need the word ИНН
        "бланк 112-233-445 96",  # fails the SNILS check
        "IBAN DE89 3704 0044 0532 0130 01",  # fails mod 97
        "счёт 4506 123456 от 03.11.2025",  # a passport's digits without the word
        "заказ № 20251109-4471, 12 500 руб., в 18:00, 03.11.2025",
        "Штрихкод 4600000000000, кадастровый 39:05:010203:456",
        "р/с 40703810520000001234",
        "письмо на адрес user at example dot org",
        "٤٥٠٦ ١٢٣٤٥٦ and ８９１２３４５６７８９",  # other scripts' digits
    ],
)
def test_look_alike_numbers_and_prose_are_not_personal_data(text: str) -> None:
    assert found(text, names=False) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Вчера Иван Петров открыл пекарню.", ["Иван Петров"]),
        ("Спасибо Марии Ивановой за помощь!", ["Марии Ивановой"]),
        ("Our reporter John Smith spoke to residents.", ["John Smith"]),
        ("Call Kevin O'Brien today.", ["Kevin O'Brien"]),
        ("Lecture by Dr. Harris on Thursday.", ["Dr. Harris"]),
        ("Водовоз стоит на улице Гагарина, 17.", []),
        ("Встреча в библиотеке имени Пушкина.", []),
        ("Магазины на Ленина, 40 и Гагарина, 5.", []),
        ("Новости Заречинска: Сегодня открылся рынок.", []),
        ("Grace period ends on Monday. Mark your calendars.", []),
    ],
)
def test_person_names_are_found_and_places_named_after_people_are_not(
    text: str, expected: list[str]
) -> None:
    assert [value for kind, value in found(text) if kind == "PERSON"] == expected


def test_an_existing_placeholder_is_not_personal_data() -> None:
    assert found("Звоните <PHONE_2>, спросить <PERSON_1> (<EMAIL_3>).") == []


def test_the_same_value_gets_the_same_placeholder_in_every_form() -> None:
    table = Placeholders(lemma=None)
    first = scrub_text("Звоните +7 (912) 345-67-89, пишите Ivan@Mail.ru", table, names=False)
    second = scrub_text(
        "тел. 8 912 345 67 89, ivan@mail.ru, или 8 915 000 11 22", table, names=False
    )
    assert first == "Звоните <PHONE_1>, пишите <EMAIL_1>"
    assert second == "тел. <PHONE_1>, <EMAIL_1>, или <PHONE_2>"
    assert table.report_counts() == {"EMAIL": 2, "PHONE": 3}


def test_a_found_name_is_replaced_everywhere_but_where_it_names_a_place() -> None:
    from pytest_llmbench.datasets.pii.dataset import placeholders
    from pytest_llmbench.datasets.pii.spans import Known

    known = Known({"Гагарина": "PERSON", "Лосев": "PERSON"}, place_like)
    text = "Лосев забил. Остановка «Гагарина», улица Гагарина, 5; Гагарина поздравили."
    assert scrub_text(text, placeholders(names=True), known=known, found=[]) == (
        "<PERSON_1> забил. Остановка «Гагарина», улица Гагарина, 5; <PERSON_2> поздравили."
    )


def test_a_person_is_one_placeholder_in_every_grammatical_case() -> None:
    from pytest_llmbench.datasets.pii.dataset import placeholders

    table = placeholders(names=True)
    text = "Мария Сидорова пришла. Спасибо Марии Сидоровой! Иван Петров тоже."
    assert scrub_text(text, table, names=True) == (
        "<PERSON_1> пришла. Спасибо <PERSON_1>! <PERSON_2> тоже."
    )


@pytest.mark.parametrize(
    ("kind", "a", "b"),
    [
        ("PHONE", "8 (912) 345-67-89", "+79123456789"),
        ("EMAIL", "Ivan.Petrov@Mail.RU", "ivan.petrov@mail.ru"),
        ("HANDLE", "@Ivan_Petrov", "@ivan_petrov"),
        ("PROFILE", "https://www.t.me/ivan/", "t.me/ivan"),
        ("IBAN", "de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("PERSON", "John  Smith", "john smith"),
    ],
)
def test_values_are_normalised_before_they_are_compared(kind: str, a: str, b: str) -> None:
    assert normalise(kind, a) == normalise(kind, b)


SEEDED = st.integers(0, 2**32).map(random.Random)  # the makers take a random source
MAKERS: dict[str, Callable[[random.Random], str]] = {
    "CARD": card,
    "INN": lambda rng: inn12(rng),
    "SNILS": snils,
    "IBAN": iban,
    "PHONE": lambda rng: phone_ru(rng) if rng.random() < 0.7 else phone_intl(rng),
}
CONTEXT = {"INN": "ИНН ", "SNILS": "СНИЛС ", "CARD": "карта ", "IBAN": "IBAN ", "PHONE": "тел. "}
WORDS = st.sampled_from(
    ["Сегодня", "в", "Заречинске", "открыли", "рынок.", "Цена", "500", "руб.,", "с", "9:00",
     "до", "18:00.", "News:", "the", "market", "opens", "at", "№", "12", "—", "03.11.2025"]
)  # fmt: skip
PROSE = st.lists(WORDS, max_size=8).map(" ".join)


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A text of prose with valid identifiers planted in it, and the (kind, value) pairs."""
    rng = draw(SEEDED)
    pieces, values = [draw(PROSE)], []
    for kind in draw(st.lists(st.sampled_from(sorted(MAKERS)), min_size=1, max_size=4)):
        value = MAKERS[kind](rng)
        values.append((kind, value))
        pieces.extend([f"{CONTEXT[kind]}{value}", draw(PROSE)])
    return " ".join(p for p in pieces if p) + ".", values


@given(planted())
def test_generated_valid_identifiers_are_found_and_replaced(
    case: tuple[str, list[tuple[str, str]]],
) -> None:
    text, values = case
    # Each value is inside a span of its kind, in order: a span may take in a number right
    # after an international phone ("+44 20 7946 1000 12" is one E.164 number, or two);
    # covering too much is the safe way to be wrong.
    spans = found(text, names=False)
    assert [kind for kind, _ in spans] == [kind for kind, _ in values]
    assert all(value in span for (_, value), (_, span) in zip(values, spans, strict=True))
    scrubbed = scrub_text(text, Placeholders(), names=False)
    assert all(value not in scrubbed for _, value in values)
    assert len(PLACEHOLDER.findall(scrubbed)) == len(values)


@given(planted())
def test_the_same_value_twice_is_one_placeholder_and_other_values_other_numbers(
    case: tuple[str, list[tuple[str, str]]],
) -> None:
    text, values = case
    table = Placeholders()
    once = scrub_text(text, table, names=False)
    again = scrub_text(text, table, names=False)
    assert once == again
    distinct = {(kind, normalise(kind, value)) for kind, value in values}
    assert len(set(PLACEHOLDER.findall(once))) == len(distinct)


TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "S")), max_size=200)


def survives(value: str, text: str) -> bool:
    """Whether `value` is in `text` other than inside a longer word."""
    return re.search(rf"(?<![^\W\d_]){re.escape(value)}(?![^\W\d_])", text) is not None


# natasha reads every example (a few ms each): fewer examples, and no shrinking (minutes).
@settings(max_examples=60, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(
    st.one_of(
        TEXT,
        planted().map(lambda case: case[0]),
        st.tuples(TEXT, planted()).map(lambda pair: pair[0] + " " + pair[1][0]),
    )
)
@example("Сегодня БěA0 0Сегодня Бě0а¡")  # natasha takes "Бě" in one place, not the other
@example("А¢¢¡ан0А¢¢¡ан0")
def test_scrubbing_is_idempotent_and_leaves_no_found_value(text: str) -> None:
    values = [value for _, value in found(text)]
    scrubbed = scrub_text(text, Placeholders(), names=True)
    assert scrub_text(scrubbed, Placeholders(), names=True) == scrubbed
    assert not any(survives(value, scrubbed) for value in values)


@given(SEEDED)
def test_checksums_accept_what_the_standards_make(rng: random.Random) -> None:
    digits = "".join(c for c in card(rng) if c.isdigit())
    assert checksums.luhn(digits)
    assert checksums.inn(inn10(rng)) and checksums.inn(inn12(rng))
    assert checksums.snils("".join(c for c in snils(rng) if c.isdigit()))
    assert checksums.iban(iban(rng).replace(" ", ""))


@given(SEEDED, st.integers(1, 9))
def test_a_changed_check_digit_fails_the_check(rng: random.Random, delta: int) -> None:
    number = inn10(rng)
    assert not checksums.inn(number[:-1] + str((int(number[-1]) + delta) % 10))
    digits = "".join(c for c in card(rng) if c.isdigit())
    assert not checksums.luhn(digits[:-1] + str((int(digits[-1]) + delta) % 10))


OFFLINE = """
import socket

def refuse(*args, **kwargs):
    raise OSError("network used")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from pytest_llmbench.datasets.pii import find
text = "Вчера Иван Петров встретился с Марией Ивановой в Калининграде."
print([text[s.start : s.end] for s in find(text) if s.kind == "PERSON"])
"""


def test_natasha_finds_russian_names_with_no_network() -> None:
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "['Иван Петров', 'Марией Ивановой']\n",
        "",
    )


SPANS = st.lists(
    st.builds(Span, st.sampled_from(["A", "B"]), st.integers(0, 40), st.integers(0, 40)),
    max_size=30,
)


@given(SPANS)
def test_overlaps_are_resolved_in_favour_of_the_span_listed_first(spans: list[Span]) -> None:
    taken: list[Span] = []  # the plain quadratic reading of the rule
    for span in spans:
        if span.end > span.start and not any(
            span.start < t.end and t.start < span.end for t in taken
        ):
            taken.append(span)
    assert resolve(spans) == sorted(taken, key=lambda s: (s.start, s.end))


def test_russian_morphology_loads_without_pkg_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    """pymorphy2 (natasha's) looks its dictionary up through pkg_resources, which recent
    setuptools lacks and Python 3.12+ venvs do not install: the scrubber does not need it."""
    from pytest_llmbench.datasets.pii.names import _morph_vocab

    monkeypatch.setitem(sys.modules, "pkg_resources", None)  # import pkg_resources fails
    monkeypatch.delenv("PYMORPHY2_DICT_PATH", raising=False)
    vocab = _morph_vocab()
    assert vocab("Марией")[0].normal == "мария"
    assert "PYMORPHY2_DICT_PATH" not in os.environ  # set for the call only
