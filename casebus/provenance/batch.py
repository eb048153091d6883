"""One signature over many records: a Merkle tree of their hashes (RFC 6962's shape).

Verifying an Ed25519 signature costs more CPU than decoding the event it covers, so a
producer signs the root of a tree over up to BATCH records at once, and each record carries
its path to the root (its index, the tree's size and the sibling hashes: 5 × 32 bytes at
most). A consumer recomputes the root from the record alone and verifies each root's
signature once; the rest of that batch's records cost a few hashes each. A record is still
checked on its own: any change to it, or a path or signature taken from another record,
gives another root, which the signature does not cover.

Leaves and inner nodes are hashed with different prefixes (0x00, 0x01), so an inner node
can never pass for a record.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

BATCH = 32  # records per signature: paths of at most 5 hashes
HASH = 32
_HEAD = struct.Struct(">HH")  # index, size


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree(leaves: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """The root and each leaf's encoded path (index, size, siblings bottom-up). A level's
    last node without a sibling moves up unchanged."""
    size = len(leaves)
    if not 0 < size <= BATCH:
        raise ValueError(f"a batch holds 1 to {BATCH} records, not {size}")
    paths: list[list[bytes]] = [[] for _ in leaves]
    positions = list(range(size))  # each leaf's index at the current level
    level = list(leaves)
    while len(level) > 1:
        for n, i in enumerate(positions):
            sibling = i ^ 1
            if sibling < len(level):
                paths[n].append(level[sibling])
            positions[n] = i // 2
        level = [
            _node(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0], [_HEAD.pack(n, size) + b"".join(p) for n, p in enumerate(paths)]


def root_of(leaf_hash: bytes, path: bytes) -> bytes | None:
    """The root `path` leads to from `leaf_hash`; None if the path is malformed."""
    if len(path) < _HEAD.size or (len(path) - _HEAD.size) % HASH:
        return None
    index, size = _HEAD.unpack_from(path)
    if not index < size <= BATCH:
        return None
    siblings = [path[o : o + HASH] for o in range(_HEAD.size, len(path), HASH)]
    h, i, n, used = leaf_hash, index, size, 0
    while n > 1:
        if i ^ 1 < n:
            if used == len(siblings):
                return None
            s = siblings[used]
            used += 1
            h = _node(s, h) if i & 1 else _node(h, s)
        i, n = i // 2, (n + 1) // 2
    return h if used == len(siblings) else None
