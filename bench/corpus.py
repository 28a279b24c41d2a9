"""Generates an N-record raw CSV in the corpus's dialect from the 2,292-row reconstruction.

Every generated pair is distinct: each ends with a numbered clause (the number is the record's index), and many
also have their sentences reordered or a sentence of another row added, always the same way on both sides so
that the pair stays a translation. A small, fixed share of records is planted damage that the pipeline must
account for: records with a wrong number of fields, an empty French side or HTML markup (about 0.5% in all), and
exact or whitespace-only duplicates of a recent record (about 1%). The same seed gives the same file.
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter, deque
from pathlib import Path

# A sentence ends at . ! or ? followed by a space and something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'«(A-ZÀ-Ý0-9])")

# English and French of the numbered clause; `{n}` is the record's index, which makes the pair unique.
_CLAUSES = (
    ("This is example {n} of the course.", "Ceci est l'exemple {n} du cours."),
    ("We come back to this in exercise {n}.", "Nous y revenons dans l'exercice {n}."),
    ("Figure {n} shows the result.", "La figure {n} montre le résultat."),
    ("See note {n} for the derivation.", "Voir la note {n} pour la démonstration."),
    ("The code for step {n} is in the notebook.", "Le code de l'étape {n} se trouve dans le notebook."),
)

BAD_SHARE = 0.005
DUPLICATE_SHARE = 0.01
# Duplicates copy one of the last records written, as repeated paragraphs sit close together in real notes.
_RECENT = 512


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(text)


def _read_pairs(source: Path) -> list[tuple[list[str], list[str]]]:
    with source.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file, delimiter=";")
        next(reader)
        return [(_sentences(row[0]), _sentences(row[1])) for row in reader if len(row) == 2 and row[0] and row[1]]


def _vary(pairs: list[tuple[list[str], list[str]]], index: int, rng: random.Random) -> tuple[str, str]:
    english, french = pairs[index % len(pairs)]
    roll = rng.random()
    if roll < 0.25 and len(english) == len(french) > 1:
        order = list(range(len(english)))
        rng.shuffle(order)
        english, french = [english[k] for k in order], [french[k] for k in order]
    elif roll < 0.35:
        other_english, other_french = pairs[rng.randrange(len(pairs))]
        # Only a sentence whose counterpart is known: the other row's first, when both sides split alike.
        if len(other_english) == len(other_french):
            english, french = english + other_english[:1], french + other_french[:1]
    clause_english, clause_french = _CLAUSES[index % len(_CLAUSES)]
    return (
        " ".join(english) + " " + clause_english.format(n=index),
        " ".join(french) + " " + clause_french.format(n=index),
    )


def generate(source: Path, target: Path, rows: int, seed: int = 0) -> Counter[str]:
    """Writes `rows` records (plus the header) to `target`; returns how many of each kind were written."""
    pairs = _read_pairs(source)
    rng = random.Random(seed)
    kinds: Counter[str] = Counter()
    recent: deque[tuple[str, str]] = deque(maxlen=_RECENT)
    with target.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter=";", lineterminator="\n")
        writer.writerow(["English", "French"])
        for index in range(rows):
            roll = rng.random()
            if roll < BAD_SHARE:
                english, french = _vary(pairs, index, rng)
                kind = ("wrong_field_count", "empty_french", "markup")[index % 3]
                kinds[kind] += 1
                if kind == "wrong_field_count":
                    # A stray unquoted delimiter, as a hand edit leaves it: three fields instead of two.
                    file.write(";".join(re.sub(r'[;"]', ",", side) for side in (english, french, "")) + "\n")
                elif kind == "empty_french":
                    writer.writerow([english, ""])
                else:
                    writer.writerow([english, f'<div class="note">{french}</div>'])
            elif roll < BAD_SHARE + DUPLICATE_SHARE and recent:
                english, french = recent[rng.randrange(len(recent))]
                if index % 2:
                    kinds["duplicate_exact"] += 1
                else:
                    kinds["duplicate_spacing"] += 1
                    english, french = english.replace(" ", "  ", 1), french + " "
                writer.writerow([english, french])
            else:
                english, french = _vary(pairs, index, rng)
                recent.append((english, french))
                kinds["unique"] += 1
                writer.writerow([english, french])
    return kinds
