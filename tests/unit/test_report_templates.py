"""MinHash/LSH template detection: similarity estimates, clusters across accounts only, bounds."""

from __future__ import annotations

import random

import numpy as np
import pytest

from serving.report.templates import (
    MinHasher,
    SignatureStore,
    TemplateParams,
    find_clusters,
    shingles,
)

PARAMS = TemplateParams()


def _words(rng: random.Random, n: int) -> list[str]:
    return [f"w{rng.randrange(10**6)}" for _ in range(n)]


def _edit(tokens: list[str], rng: random.Random, edits: int) -> list[str]:
    out = list(tokens)
    for _ in range(edits):
        out[rng.randrange(len(out))] = f"x{rng.randrange(10**6)}"
    return out


def _store(docs: list[tuple[list[str], int]], params: TemplateParams = PARAMS) -> SignatureStore:
    hasher = MinHasher(params.num_perm, params.seed)
    store = SignatureStore(params.num_perm, capacity=4)
    for row, (tokens, account) in enumerate(docs, start=1):
        store.add(hasher.signature(shingles(tokens, params.shingle)), row, account)
    return store


def test_report_minhash_estimates_jaccard_without_bias() -> None:
    rng = random.Random(3)
    hasher = MinHasher(128, 1)
    errors = []
    for _ in range(150):
        base = _words(rng, 60)
        keep = rng.randint(0, 60)
        a, b = set(base), set(base[:keep] + _words(rng, 60 - keep))
        truth = len(a & b) / len(a | b)
        errors.append(float((hasher.signature(a) == hasher.signature(b)).mean()) - truth)
    assert abs(np.mean(errors)) < 0.02
    assert np.max(np.abs(errors)) < 0.2


def test_report_minhash_signature_is_deterministic_and_compact() -> None:
    items = {"a", "b", "c"}
    one, two = MinHasher(64, 5).signature(items), MinHasher(64, 5).signature(items)
    assert one.dtype == np.uint16 and one.shape == (64,)
    assert np.array_equal(one, two)
    with pytest.raises(ValueError, match="empty set"):
        MinHasher(64, 5).signature(set())


def test_report_shingles_of_short_sequences() -> None:
    assert shingles(["a", "b"], 3) == {"a\x1fb"}
    assert shingles([], 3) == set()
    assert len(shingles(list("abcdef"), 3)) == 4


def test_report_templates_finds_planted_clusters_across_accounts() -> None:
    rng = random.Random(11)
    template_a, template_b = _words(rng, 60), _words(rng, 45)
    docs: list[tuple[list[str], int]] = []
    planted_a = [len(docs) + i + 1 for i in range(5)]
    docs += [(_edit(template_a, rng, 3), account) for account in range(5)]
    planted_b = [len(docs) + i + 1 for i in range(3)]
    docs += [(_edit(template_b, rng, 2), account) for account in (10, 11, 12)]
    docs += [(_words(rng, 50), 20 + i) for i in range(40)]  # unrelated
    docs += [(template_b[:20] + _words(rng, 30), 90)]  # shares a third of B: not a copy
    clusters = find_clusters(_store(docs), PARAMS)
    assert [c.rows for c in clusters] == [tuple(planted_a), tuple(planted_b)]
    assert [c.accounts for c in clusters] == [5, 3]
    assert clusters[0].similarity[0] == 1.0 and all(s >= 0.5 for s in clusters[0].similarity)


def test_report_templates_same_account_or_unknown_authors_are_not_clusters() -> None:
    rng = random.Random(5)
    text = _words(rng, 40)
    docs = [(text, 1), (text, 1), (text, -1), (text, -1)]
    assert find_clusters(_store(docs), PARAMS) == []
    single = TemplateParams(min_accounts=1)
    [cluster] = find_clusters(_store(docs, single), single)
    assert cluster.rows == (1, 2, 3, 4) and cluster.accounts == 1
    assert cluster.kind == "near-duplicate"


def test_report_templates_large_bucket_stays_one_cluster() -> None:
    rng = random.Random(8)
    text = _words(rng, 40)
    docs = [(text, account) for account in range(120)] + [(_words(rng, 40), 500)]
    [cluster] = find_clusters(_store(docs), PARAMS)
    assert len(cluster.rows) == 120 and cluster.accounts == 120


def test_report_signature_store_grows() -> None:
    store = SignatureStore(8, capacity=1)
    for i in range(2500):
        store.add(np.full(8, i % 65536, dtype=np.uint16), i, i)
    assert store.n == 2500 and store.signatures.shape == (2500, 8)
    assert store.rows[-1] == 2499 and int(store.signatures[1234, 0]) == 1234


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_perm": 4}, "num_perm"),
    ({"num_perm": 130, "rows": 4}, "rows must divide"),
    ({"shingle": 0}, "shingle"),
    ({"min_tokens": 2, "shingle": 3}, "min_tokens"),
    ({"threshold": 0.0}, "threshold"),
    ({"min_accounts": 0}, "min_accounts"),
])
def test_report_template_params_validate(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TemplateParams(**kwargs)  # type: ignore[arg-type]
