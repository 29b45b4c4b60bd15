"""Texts for similarity tests: (reference, a paraphrase of it, an unrelated text), in
Russian and English."""

from __future__ import annotations

PARAPHRASES = [
    (
        "В городе открыли новую станцию метро.",
        "Новую станцию метро открыли в городе.",
        "Завтра ожидается сильный снегопад на севере.",
    ),
    (
        "The city opened a new metro station.",
        "A new metro station was opened in the city.",
        "Heavy snow is expected in the north tomorrow.",
    ),
]
