"""Seeded fuzzing: cases with readable ids, byte mutations, and the checks every door shares.

A case is generated, not stored: the same seed always gives the same bytes, so a failing id (e.g.
`png-rgb/0-truncate-1234`) can be rebuilt and debugged. `tests/helpers/fuzz_images.py` and
`tests/helpers/fuzz_checkpoints.py` build the cases of the image and checkpoint doors on top of this.
"""

import dataclasses
import functools
import hashlib
import os
import random
import re

# Every default and slow fuzz run starts from this seed (`P2C_FUZZ_SEED` explores others).
DEFAULT_SEED = int(os.environ.get("P2C_FUZZ_SEED", "20261212"))

# What each case promises: it must be read; it must be refused with a clear error; or either (a damaged
# file may still decode, e.g. a flipped bit in pixel data), as long as it never fails any other way.
GOOD, BAD, EITHER = "good", "bad", "either"


@dataclasses.dataclass(frozen=True)
class Case:
    """One generated input.

    Attributes:
        id: readable and unique, `<seed input>/<mutation>` (also the pytest id).
        name: the file name to write it under (`str`; names that are not UTF-8 hold lone surrogates).
        source: the file's bytes, or a function that makes them (called once, when a test first reads
            `data`: collecting hundreds of cases stays cheap).
        expect: `GOOD`, `BAD` or `EITHER`.
        reason: for `BAD` cases, a fragment the error message must contain (`None`: any clear error).
    """

    id: str
    name: str
    source: object
    expect: str
    reason: object = None

    @functools.cached_property
    def data(self):
        return self.source() if callable(self.source) else self.source

    def __repr__(self):  # pytest ids and failure reports: no megabytes of bytes
        return f"Case({self.id!r}, {self.expect})"


def case_rng(seed, *labels):
    """A `random.Random` that depends only on the seed and the labels (not on the order cases are made in)."""
    digest = hashlib.sha256(repr((seed,) + labels).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _flip(data, positions, bits):
    buffer = bytearray(data)
    for position, bit in zip(positions, bits):
        buffer[position] ^= 1 << bit
    return bytes(buffer)


def _cut(data, offset):
    return data[:offset]


def mutations(seed, label, length, count, header=64):
    """`count` seeded ways to damage a file of `length` bytes, as `[(mutation id, function bytes -> bytes)]`.

    Truncations (always shorter than the file), 1 and 8 random bit flips, and 2 flips in the first
    `header` bytes, where a flip changes how a reader parses the rest (sizes, counts, offsets) rather
    than one pixel or one weight. Only the length is needed to plan them, so ids exist before the bytes.
    """
    kinds = ("truncate", "flip1", "flip8", "header-flip2")
    first = case_rng(seed, label, "first kind").randrange(len(kinds))  # files with one mutation vary in kind too
    out = []
    for index in range(count):
        kind = kinds[(first + index) % len(kinds)]
        rng = case_rng(seed, label, kind, index)
        if kind == "truncate":
            offset = rng.randrange(length)
            out.append((f"{index}-truncate-{offset}", functools.partial(_cut, offset=offset)))
            continue
        flips, stop = {"flip1": (1, length), "flip8": (8, length), "header-flip2": (2, min(header, length))}[kind]
        positions = sorted(rng.randrange(stop) for _ in range(flips))
        bits = [rng.randrange(8) for _ in positions]
        mutation = f"{index}-{kind}-{'-'.join(map(str, positions[:3]))}"
        out.append((mutation, functools.partial(_flip, positions=positions, bits=bits)))
    return out


def damaged(seed, seed_id, name, make, length, count, header=64):
    """`Case`s (`EITHER`) for `count` damaged copies of the file `make()` returns (`length` bytes)."""
    stem, suffix = os.path.splitext(name)
    return [
        Case(f"{seed_id}/{mutation}", f"{stem}-{mutation}{suffix}", functools.partial(_apply, damage, make), EITHER)
        for mutation, damage in mutations(seed, seed_id, length, count, header)
    ]


def _apply(damage, make):
    return damage(make())


def write_case(folder, case):
    """Write a case's bytes under `folder` with Python's `open` (names may be bytes that are not UTF-8)."""
    path = os.path.join(os.fsencode(folder), os.fsencode(case.name))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(case.data)
    return os.fsdecode(path)


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.MULTILINE)


def assert_no_traceback(text, what):
    """No Python traceback (nor a bare `SomeError: ...` line a crash ends with) in a process's output."""
    match = TRACEBACK.search(text)
    assert match is None, f"{what} printed a traceback:\n{text[max(0, match.start() - 2000) : match.start() + 3000]}"
