"""Valid Russian and international identifiers made from a random source: the planted
values of the labelled PII set (tests/datasets/pii/build_labelled.py) and of the property
tests. Written from the standards, apart from the detector's checksum code."""

from __future__ import annotations

import random
import re

IBAN_COUNTRIES = {"DE": 18, "GB": 18, "FR": 23, "KZ": 16, "NL": 14, "ES": 20, "IT": 23}


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(rng: random.Random, valid: bool = True) -> str:
    prefix = rng.choice(["4", "5", "2200", "2202", "2204", "4276", "5469"])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(15 - len(prefix)))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    style = rng.choice(["space", "space", "plain", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


def inn10(rng: random.Random, valid: bool = True) -> str:
    d = [rng.randint(0, 9) for _ in range(9)]
    d[0] = rng.randint(1, 9)
    c = sum(w * x for w, x in zip([2, 4, 10, 3, 5, 9, 4, 6, 8], d, strict=True)) % 11 % 10
    if not valid:
        c = (c + rng.randint(1, 9)) % 10
    return "".join(map(str, d)) + str(c)


def inn12(rng: random.Random) -> str:
    d = [rng.randint(0, 9) for _ in range(10)]
    d[0] = rng.randint(1, 9)
    c1 = sum(w * x for w, x in zip([7, 2, 4, 10, 3, 5, 9, 4, 6, 8], d, strict=True)) % 11 % 10
    d.append(c1)
    c2 = sum(w * x for w, x in zip([3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8], d, strict=True)) % 11 % 10
    d.append(c2)
    return "".join(map(str, d))


def snils(rng: random.Random, valid: bool = True) -> str:
    while True:
        d = [rng.randint(0, 9) for _ in range(9)]
        n = "".join(map(str, d))
        if int(n) > 1001998 and not re.search(r"(\d)\1\1", n):
            break
    s = sum(x * (9 - i) for i, x in enumerate(d))
    c = 0 if s % 101 in (100, 101) else s % 101
    if c == 100:
        c = 0
    if not valid:
        c = (c + rng.randint(1, 50)) % 100
    cs = f"{c:02d}"
    style = rng.choice(["full", "full", "full", "plain"])
    if style == "plain":
        return n + cs
    return f"{n[:3]}-{n[3:6]}-{n[6:]} {cs}"


def iban(rng: random.Random) -> str:
    country = rng.choice(list(IBAN_COUNTRIES))
    length = IBAN_COUNTRIES[country]
    if country == "GB":
        bban = rng.choice(["WEST", "NWBK", "BARC"]) + "".join(
            rng.choice("0123456789") for _ in range(14)
        )
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(length))
    moved = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in moved)
    check = 98 - int(numeric) % 97
    raw = f"{country}{check:02d}{bban}"
    if rng.random() < 0.6:
        return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    return raw


def phone_ru(rng: random.Random) -> str:
    code = rng.choice(["912", "915", "903", "926", "977", "999", "950", "4012", "495", "800"])
    rest = "".join(rng.choice("0123456789") for _ in range(10 - len(code)))
    a, b, c = rest[:-4], rest[-4:-2], rest[-2:]
    lead = rng.choice(["+7", "8", "+7", "8"])
    style = rng.randrange(7)
    if style == 0:
        return f"{lead} ({code}) {a}-{b}-{c}"
    if style == 1:
        return f"{lead} {code} {a} {b} {c}"
    if style == 2:
        return f"{lead}{code}{rest}"
    if style == 3:
        return f"{lead}-{code}-{a}-{b}-{c}"
    if style == 4:
        return f"{lead}({code}){a}-{b}{c}"
    if style == 5:
        return f"{lead} {code} {a}-{b}-{c}"
    return f"{lead} ({code}) {a} {b} {c}"


def phone_intl(rng: random.Random) -> str:
    return rng.choice(
        [
            f"+44 20 7946 {rng.randint(1000, 9999)}",
            f"+1 415 555 {rng.randint(1000, 9999)}",
            f"+49 30 {rng.randint(1000000, 9999999)}",
            f"+375 29 {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",
            f"+380 44 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            f"+998 90 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            "+33 1 " + " ".join(str(rng.randint(10, 99)) for _ in range(4)),
            f"+1-202-555-{rng.randint(1000, 9999)}",
            f"+44{rng.randint(7000000000, 7999999999)}",
        ]
    )
