"""Long-sentence augmentation: two consecutive sentences of one page joined into one.

Real marketing sentences run longer than most hand-written training sentences, and an
L2-normalised feature vector dilutes a strong word in a long sentence. Joining sentence
pairs ("..., and ...") and giving the result the union of their labels teaches the model
that a claim stays a claim inside a longer sentence. Joined sentences keep their page as
group, so cross-validation never splits a page from its own joins.
"""

from __future__ import annotations

import itertools
import random

from training.data import Example

__all__ = ["joined_pairs"]

_ENDINGS = (".", "!", "?")


def joined_pairs(examples: list[Example], seed: int, fraction: float) -> list[Example]:
    rng = random.Random(seed)
    joined: list[Example] = []
    for first, second in itertools.pairwise(examples):
        if first.group != second.group or not first.text.rstrip().endswith(_ENDINGS) or len(second.text) < 2:
            continue
        if rng.random() >= fraction:
            continue
        text = first.text.rstrip().rstrip(".!? ") + ", and " + second.text[0].lower() + second.text[1:]
        labels = tuple(sorted(set(first.labels) | set(second.labels)))
        joined.append(Example(f"{first.id}+{second.id}", text, labels, first.domain, first.group))
    return joined
