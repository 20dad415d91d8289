"""Seeded mutations of scenario files, for the loader's fuzz tests.

Each mutation is a way a real file goes wrong (a bad copy-paste, a truncated download,
a file saved in the wrong encoding, a generator gone wild), applied at random places by
an explicit ``numpy.random.Generator``: the same seed gives the same corpus.
"""

from __future__ import annotations

import re

import numpy as np

_NUMBER = re.compile(rb"(?<![\w.])-?\d+(\.\d+)?(?![\w.])")

HUGE_NUMBERS = (b".inf", b"-.inf", b".nan", b"1e999", b"-1e400", b"1e308", b"9" * 5000, b"1e12")
INVALID_UTF8 = (
    b"\xff",
    b"\xc3",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x82",
)
CONTROL = tuple(bytes([c]) for c in (*range(0, 9), 11, 12, *range(14, 32), 127))


def _at(rng, data: bytes) -> int:
    return int(rng.integers(0, max(len(data), 1)))


def flip_bytes(rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        out[_at(rng, data)] = int(rng.integers(0, 256))
    return bytes(out)


def truncate(rng, data: bytes) -> bytes:
    return data[: _at(rng, data)]


def control_character(rng, data: bytes) -> bytes:
    i = _at(rng, data)
    return data[:i] + CONTROL[int(rng.integers(len(CONTROL)))] + data[i:]


def invalid_utf8(rng, data: bytes) -> bytes:
    i = _at(rng, data)
    return data[:i] + INVALID_UTF8[int(rng.integers(len(INVALID_UTF8)))] + data[i:]


def deep_nesting(rng, data: bytes) -> bytes:
    depth = int(rng.integers(20, 3000))
    opener, closer = (b"[", b"]") if rng.random() < 0.5 else (b"{a: ", b"}")
    lines = data.split(b"\n")
    k = int(rng.integers(len(lines)))
    if b": " in lines[k]:
        head = lines[k].split(b": ", 1)[0]
        lines[k] = head + b": " + opener * depth + b"1" + closer * depth
    else:
        lines.insert(k, b"deep: " + opener * depth + b"1" + closer * depth)
    return b"\n".join(lines)


def huge_number(rng, data: bytes) -> bytes:
    numbers = list(_NUMBER.finditer(data))
    if not numbers:
        return data
    m = numbers[int(rng.integers(len(numbers)))]
    return data[: m.start()] + HUGE_NUMBERS[int(rng.integers(len(HUGE_NUMBERS)))] + data[m.end() :]


def duplicate_line(rng, data: bytes) -> bytes:
    lines = data.split(b"\n")
    k = int(rng.integers(len(lines)))
    return b"\n".join([*lines[: k + 1], lines[k], *lines[k + 1 :]])


def shuffle_indent(rng, data: bytes) -> bytes:
    lines = data.split(b"\n")
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(len(lines)))
        lines[k] = b" " * int(rng.integers(0, 7)) + lines[k].lstrip(b" ")
    return b"\n".join(lines)


def alias_bomb(rng, data: bytes) -> bytes:
    levels = int(rng.integers(3, 12))
    bomb = [b"x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, levels):
        bomb.append(f"x{k}: &a{k} [".encode() + b", ".join([f"*a{k - 1}".encode()] * 9) + b"]")
    return data + b"\n" + b"\n".join(bomb) + b"\n"


MUTATIONS = (
    flip_bytes,
    truncate,
    control_character,
    invalid_utf8,
    deep_nesting,
    huge_number,
    duplicate_line,
    shuffle_indent,
    alias_bomb,
)


def corpus(sources: list[bytes], count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` mutated files: (what was done, the bytes), from ``sources``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        data = sources[i % len(sources)]
        names = []
        for _ in range(int(rng.integers(1, 3))):
            mutate = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
            data = mutate(rng, data)
            names.append(mutate.__name__)
        out.append(("+".join(names), data))
    return out
