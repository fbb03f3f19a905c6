"""Template detection (虚假种草): near-duplicate notes across different accounts, with MinHash/LSH.

Each note long enough (``min_tokens`` jieba tokens from :func:`classifier.segment.tokens`) becomes
a set of ``shingle``-token shingles, each hashed with CRC-32. A MinHash signature of ``num_perm``
values approximates the Jaccard similarity of two such sets: the share of equal positions. Only the
low 16 bits of each minimum are kept (b-bit MinHash: a chance agreement adds 1/65,536 to the
estimate), so a signature costs ``2 * num_perm`` bytes (256 bytes by default) in one growing
``uint16`` matrix.

LSH: the signature is cut into ``num_perm / rows`` bands of ``rows`` values; notes whose band
values are all equal in at least one band are candidates. With 128 values in 32 bands of 4 a pair
of similarity 0.5 is a candidate with probability 0.87, 0.6 with 0.985, 0.7 with 0.9998. Buckets are
found by sorting each band's keys (no dictionary of lists), candidates are kept when their estimated
similarity is at least ``threshold``, and kept pairs are joined with union-find: a cluster is a
connected component, so a template whose copies drift further apart still forms one cluster through
the copies in between. A bucket of more than ``_ALL_PAIRS`` notes compares each note with the
bucket's first note and with its neighbour only, to stay linear.

A cluster is reported when its notes come from at least ``min_accounts`` distinct known accounts;
notes without an author id or name do not count as accounts.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Cluster", "MinHasher", "SignatureStore", "TemplateParams", "find_clusters",
           "shingles"]

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_ALL_PAIRS = 32
_MIX = np.uint64(0x9E3779B97F4A7C15)

U16Matrix = np.ndarray[Any, np.dtype[np.uint16]]


@dataclass(frozen=True)
class TemplateParams:
    """MinHash/LSH settings; see the module docstring for what each changes."""

    num_perm: int = 128
    rows: int = 4
    shingle: int = 3
    min_tokens: int = 12
    threshold: float = 0.5
    min_accounts: int = 2
    seed: int = 20240501

    def __post_init__(self) -> None:
        if self.num_perm < 8 or self.num_perm > 1024:
            raise ValueError(f"num_perm must be between 8 and 1024, got {self.num_perm}")
        if self.rows < 1 or self.num_perm % self.rows:
            raise ValueError(f"rows must divide num_perm ({self.num_perm}), got {self.rows}; "
                             "for example num_perm=128 with rows=4")
        if self.shingle < 1:
            raise ValueError(f"shingle must be at least 1 token, got {self.shingle}")
        if self.min_tokens < self.shingle:
            raise ValueError(f"min_tokens ({self.min_tokens}) must be at least shingle "
                             f"({self.shingle})")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.min_accounts < 1:
            raise ValueError(f"min_accounts must be at least 1, got {self.min_accounts}")

    @property
    def bands(self) -> int:
        return self.num_perm // self.rows


def shingles(tokens: Sequence[str], size: int) -> set[str]:
    """The ``size``-token shingles of ``tokens`` (the whole sequence when it is shorter)."""
    if len(tokens) <= size:
        return {"\x1f".join(tokens)} if tokens else set()
    return {"\x1f".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


class MinHasher:
    """``num_perm`` hash functions ``h_i(x) = splitmix64(x xor s_i)`` over 32-bit shingle hashes,
    with random 64-bit seeds ``s_i``. (Linear hashes ``(a * x + b) mod p`` with 32-bit ``a`` do
    not wrap enough and let shingles with small ``x`` win most minima, inflating similarity.)"""

    def __init__(self, num_perm: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self._seeds = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64,
                                   endpoint=True)

    def signature(self, items: set[str]) -> np.ndarray[Any, np.dtype[np.uint16]]:
        """The b-bit (16) MinHash signature of a non-empty set of strings."""
        if not items:
            raise ValueError("cannot sign an empty set; skip notes without shingles")
        x = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in items), dtype=np.uint64,
                        count=len(items))
        h = _splitmix64(x[:, None] ^ self._seeds[None, :])
        low: np.ndarray[Any, np.dtype[np.uint16]] = (h.min(axis=0) & 0xFFFF).astype(np.uint16)
        return low


def _splitmix64(z: np.ndarray[Any, np.dtype[np.uint64]]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The splitmix64 finaliser, element-wise (multiplications wrap modulo 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


class SignatureStore:
    """Signatures in one ``(n, num_perm)`` ``uint16`` matrix that doubles as it fills, with the
    note's row in the dump and its account index (``-1`` for an unknown author) beside them."""

    def __init__(self, num_perm: int, capacity: int = 1024) -> None:
        self.num_perm = num_perm
        self._sigs: U16Matrix = np.zeros((capacity, num_perm), dtype=np.uint16)
        self._rows = np.zeros(capacity, dtype=np.int64)
        self._accounts = np.zeros(capacity, dtype=np.int64)
        self.n = 0

    def add(self, signature: np.ndarray[Any, np.dtype[np.uint16]], row: int, account: int) -> None:
        if self.n == len(self._rows):
            grow = max(1024, self.n)
            self._sigs = np.concatenate([self._sigs, np.zeros((grow, self.num_perm), np.uint16)])
            self._rows = np.concatenate([self._rows, np.zeros(grow, np.int64)])
            self._accounts = np.concatenate([self._accounts, np.zeros(grow, np.int64)])
        self._sigs[self.n] = signature
        self._rows[self.n] = row
        self._accounts[self.n] = account
        self.n += 1

    @property
    def signatures(self) -> U16Matrix:
        return self._sigs[: self.n]

    @property
    def rows(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        return self._rows[: self.n]

    @property
    def accounts(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        return self._accounts[: self.n]


@dataclass(frozen=True)
class Cluster:
    """Notes sharing a template: their rows in the dump (ascending), each one's estimated
    similarity to the first, and how many distinct known accounts wrote them."""

    rows: tuple[int, ...]
    similarity: tuple[float, ...]
    accounts: int

    @property
    def kind(self) -> str:
        """``near-duplicate`` when every note is at least 0.9 similar to the first, else
        ``template`` (the same skeleton with more edits)."""
        return "near-duplicate" if min(self.similarity[1:], default=1.0) >= 0.9 else "template"


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _band_keys(band: U16Matrix) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """One 64-bit key per row of a band: the four 16-bit values side by side when ``rows <= 4``
    (exact), a multiplicative mix otherwise (a rare collision only adds a candidate)."""
    key = np.zeros(band.shape[0], dtype=np.uint64)
    for j in range(band.shape[1]):
        value = band[:, j].astype(np.uint64)
        if band.shape[1] <= 4:
            key |= value << np.uint64(16 * j)
        else:
            key = key * _MIX + value
    return key


def _link_bucket(members: np.ndarray[Any, np.dtype[np.int64]], sigs: U16Matrix,
                 threshold: float, uf: _UnionFind) -> None:
    block = sigs[members]
    if len(members) <= _ALL_PAIRS:
        sim = (block[:, None, :] == block[None, :, :]).mean(axis=2)
        for i, j in zip(*np.nonzero(np.triu(sim >= threshold, k=1)), strict=True):
            uf.union(int(members[i]), int(members[j]))
        return
    to_first = (block == block[0]).mean(axis=1) >= threshold
    to_prev = (block[1:] == block[:-1]).mean(axis=1) >= threshold
    for i in np.nonzero(to_first)[0]:
        uf.union(int(members[0]), int(members[i]))
    for i in np.nonzero(to_prev)[0]:
        uf.union(int(members[i]), int(members[i + 1]))


def find_clusters(store: SignatureStore, params: TemplateParams) -> list[Cluster]:
    """Clusters of near-duplicate notes across at least ``params.min_accounts`` known accounts,
    largest first (then by first row)."""
    sigs, n = store.signatures, store.n
    if n < 2:
        return []
    uf = _UnionFind(n)
    for b in range(params.bands):
        keys = _band_keys(sigs[:, b * params.rows:(b + 1) * params.rows])
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [n]])
        for s, e in zip(starts[ends - starts >= 2], ends[ends - starts >= 2], strict=True):
            _link_bucket(order[s:e], sigs, params.threshold, uf)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), []).append(i)
    clusters = []
    rows, accounts = store.rows, store.accounts
    for members in groups.values():
        idx = np.array(sorted(members, key=lambda m: int(rows[m])), dtype=np.int64)
        known = {int(a) for a in accounts[idx] if a >= 0}
        if len(idx) < 2 or len(known) < params.min_accounts:
            continue
        sim = (sigs[idx] == sigs[idx[0]]).mean(axis=1)
        clusters.append(Cluster(rows=tuple(int(r) for r in rows[idx]),
                                similarity=tuple(round(float(s), 3) for s in sim),
                                accounts=len(known)))
    clusters.sort(key=lambda c: (-len(c.rows), -c.accounts, c.rows[0]))
    return clusters
