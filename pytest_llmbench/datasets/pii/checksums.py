"""The check digits that tell a number that is an identifier from one that only looks like one.

Each function takes the digits (or, for IBAN, the letters and digits) with separators
already removed, and says whether the check holds. Pure, no allocation beyond the input.
"""

from __future__ import annotations

INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
# The country's IBAN length, for the countries whose IBANs are common in Russian and
# English texts; any other country is accepted at 15 to 34 characters.
IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BY": 28, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GE": 22, "GR": 27, "IE": 22,
    "IT": 27, "KZ": 20, "LT": 20, "LV": 21, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "SE": 24, "TR": 26, "UA": 29, "AE": 23, "AZ": 28, "IL": 23,
}  # fmt: skip


def luhn(digits: str) -> bool:
    """Payment card numbers (ISO/IEC 7812): the Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(w * (ord(d) - 48) for w, d in zip(weights, digits, strict=False)) % 11 % 10


def inn(digits: str) -> bool:
    """A Russian taxpayer number: 10 digits (organisations), 12 (individuals)."""
    if len(digits) == 10:
        return _weighted(digits, INN10_WEIGHTS) == ord(digits[9]) - 48
    if len(digits) == 12:
        return (
            _weighted(digits, INN12_WEIGHTS_1) == ord(digits[10]) - 48
            and _weighted(digits, INN12_WEIGHTS_2) == ord(digits[11]) - 48
        )
    return False


def snils(digits: str) -> bool:
    """A Russian insurance number (SNILS): 9 digits and a 2-digit check. The check is defined
    only above 001-001-998; no number has the same digit three times in a row."""
    if len(digits) != 11 or int(digits[:9]) <= 1001998:
        return False
    if any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(7)):
        return False
    total = sum((9 - i) * (ord(d) - 48) for i, d in enumerate(digits[:9]))
    check = total % 101 % 100  # 100 and 101 both give 00
    return check == int(digits[9:])


def iban(compact: str) -> bool:
    """An IBAN (ISO 13616): two letters, two check digits, the account; mod 97 == 1."""
    if not (15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    moved = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(char, 36)) for char in moved))
    except ValueError:
        return False
    return number % 97 == 1
