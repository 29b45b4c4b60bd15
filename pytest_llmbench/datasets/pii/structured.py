"""Structured personal data found by pattern, and by checksum where the number has one.

Each finder takes the text and yields spans; `find_structured` runs them all. Every pattern
is bounded (no unbounded repetition before a check that can fail), so a hostile string of
any length is scanned in linear time. Checksums keep precision high: a 16-digit number that
fails Luhn is not a card, a 10-digit one that fails the INN check is not an INN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pytest_llmbench.datasets.pii import checksums
from pytest_llmbench.datasets.pii.spans import Span

EMAIL = re.compile(
    r"(?<![\w.+%-])[\w.+%-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w-])"
)
# Profile links on the social networks and messengers common in Russian and English posts.
PROFILE = re.compile(
    r"(?<![\w.@/-])(?:https?://)?(?:www\.|m\.)?"
    r"(?:t\.me|telegram\.me|vk\.com|vk\.ru|instagram\.com|facebook\.com|fb\.com|twitter\.com"
    r"|x\.com|ok\.ru/profile|ok\.ru|tiktok\.com/@?|youtube\.com/@|linkedin\.com/in"
    r"|threads\.net/@?|github\.com|wa\.me|dzen\.ru|vc\.ru/u)"
    r"/[\w.+-]{2,64}(?:/[\w.+-]{1,64}){0,2}/?",
    re.IGNORECASE,
)
HANDLE = re.compile(r"(?<![\w@.+/-])@[A-Za-z][A-Za-z0-9_.]{2,31}(?<!\.)(?![\w@])")
# A run of digits with the separators phone numbers are written with. Digits are ASCII
# digits in every number pattern: other scripts' digits are not read as numbers.
PHONE_RUN = re.compile(
    r"(?<![\w+])\+?(?:[0-9][ \-()\u00a0]{0,2}){7,15}[0-9](?![0-9])(?!\w)(?![.,:][0-9])"
)
CARD = re.compile(r"(?<![0-9.,-])(?:[0-9]{4}[ -]?){3}[0-9]{4}(?:[ -]?[0-9]{3})?(?![0-9-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4}){3,8}(?![A-Za-z0-9])")
INN = re.compile(r"(?<![0-9.,/:-])([0-9]{12}|[0-9]{10})(?![0-9.,/:-][0-9]|[0-9])")
# The word ИНН before the number, at most two words between ("ИНН организации 7707083893").
INN_CONTEXT = re.compile(
    r"(?:ИНН|INN|TIN|налогоплательщика?)(?:\W{1,4}\w{1,20}){0,2}\W{1,6}$", re.IGNORECASE
)
SNILS = re.compile(r"(?<![0-9.,+-])(?:[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}|[0-9]{11})(?![0-9-])")
SNILS_LAYOUT = re.compile(r"[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}")  # never read as a phone
PASSPORT = re.compile(
    r"(?<![0-9+-])([0-9]{2} ?[0-9]{2})[ \u00a0]{0,2}(?:(?:№|N|No\.?|номер|number)[ \u00a0]{0,2})?"
    r"([0-9]{6})(?![0-9-])",
    re.IGNORECASE,
)
PASSPORT_CONTEXT = re.compile(
    r"(?:паспорт\w*|passport|сери[яи]|series)[^\n0-9]{0,24}$",
    re.IGNORECASE,
)
# "45 06 123456": two, two and six digits is a passport's own layout, found without a word.
PASSPORT_LAYOUT = re.compile(r"[0-9]{2} [0-9]{2} [0-9]{6}")
CONTEXT_CHARS = 40


def digits_of(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def emails(text: str) -> Iterator[Span]:
    for m in EMAIL.finditer(text):
        yield Span("EMAIL", m.start(), m.end())


def profiles(text: str) -> Iterator[Span]:
    for m in PROFILE.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".-+":
            end -= 1
        yield Span("PROFILE", m.start(), end)


def handles(text: str) -> Iterator[Span]:
    for m in HANDLE.finditer(text):
        yield Span("HANDLE", m.start(), m.end())


def phone_digits_ok(candidate: str) -> bool:
    if candidate.count("(") != candidate.count(")") or "  " in candidate.strip():
        return False
    if SNILS_LAYOUT.fullmatch(candidate):
        return False
    digits = digits_of(candidate)
    if candidate.startswith("+"):
        if digits.startswith("7"):
            return len(digits) == 11
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    # Russian national formats: 8 and ten digits, or 7 and ten with separators.
    if len(digits) == 11 and digits[0] == "8":
        return True
    return len(digits) == 11 and digits[0] == "7" and not candidate.isdigit()


def phones(text: str) -> Iterator[Span]:
    position = 0
    while (m := PHONE_RUN.search(text, position)) is not None:
        candidate = m.group()
        start = m.start()
        position = m.end()
        # A run that is too long may be a phone followed by another number: shorten it at
        # a separator until it reads as a phone, and look for the next one after it.
        while True:
            stripped = candidate.rstrip(" -(\u00a0")
            if phone_digits_ok(stripped):
                yield Span("PHONE", start, start + len(stripped))
                position = start + len(stripped)
                break
            cut = max(stripped.rfind(" "), stripped.rfind("-"), stripped.rfind("\u00a0"))
            if cut <= 0:
                break
            candidate = stripped[:cut]


def cards(text: str) -> Iterator[Span]:
    for m in CARD.finditer(text):
        value = m.group()
        digits = digits_of(value)
        # Sixteen digits that pass Luhn are the card, whatever follows ("4000 ... 0002 500"
        # is a card and a price); nineteen (some Mir and Maestro cards) only when they fail.
        if len(digits) == 19 and checksums.luhn(digits[:16]):
            value, digits = value[: _end_of_digit(value, 16)], digits[:16]
        if digits[0] in "23456" and checksums.luhn(digits):
            yield Span("CARD", m.start(), m.start() + len(value))


def _end_of_digit(value: str, count: int) -> int:
    """Where the `count`-th digit of `value` ends."""
    seen = 0
    for index, char in enumerate(value):
        if "0" <= char <= "9":
            seen += 1
            if seen == count:
                return index + 1
    return len(value)


def ibans(text: str) -> Iterator[Span]:
    position = 0
    while (m := IBAN.search(text, position)) is not None:
        value = m.group()
        position = m.start() + 2  # none found here: look again past these two letters
        # The run may have swallowed words or another IBAN after it: drop groups from the
        # right until the check holds, and look for the next one after what was taken.
        while len(value) > 4:
            if checksums.iban(value.replace(" ", "")):
                yield Span("IBAN", m.start(), m.start() + len(value))
                position = m.start() + len(value)
                break
            cut = value.rfind(" ")
            if cut <= 4:
                break
            value = value[:cut]


def inns(text: str) -> Iterator[Span]:
    for m in INN.finditer(text):
        digits = m.group(1)
        if not checksums.inn(digits):
            continue
        # Twelve digits with two check digits stand on their own; ten (one check digit,
        # right by chance one time in ten) need the word before them.
        before = text[max(0, m.start() - CONTEXT_CHARS) : m.start()]
        if len(digits) == 12 or INN_CONTEXT.search(before):
            yield Span("INN", m.start(), m.end())


def snilses(text: str) -> Iterator[Span]:
    for m in SNILS.finditer(text):
        if checksums.snils(digits_of(m.group())):
            yield Span("SNILS", m.start(), m.end())


def passports(text: str) -> Iterator[Span]:
    for m in PASSPORT.finditer(text):
        before = text[max(0, m.start() - CONTEXT_CHARS) : m.start()]
        if PASSPORT_CONTEXT.search(before) or PASSPORT_LAYOUT.fullmatch(m.group()):
            yield Span("PASSPORT", m.start(), m.end())


# In order of precedence where two overlap: the checked numbers first, then the patterns.
FINDERS = (emails, profiles, handles, ibans, cards, snilses, inns, passports, phones)


def find_structured(text: str) -> list[Span]:
    """Every structured span in `text`, overlaps not yet resolved, in precedence order."""
    return [span for finder in FINDERS for span in finder(text)]
