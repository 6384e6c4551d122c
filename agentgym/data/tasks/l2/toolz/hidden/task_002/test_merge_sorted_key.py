import random
from operator import itemgetter

from toolz import merge_sorted


def test_merge_sorted_key_is_stable_across_inputs():
    first = itemgetter(0)
    left = [(1, "a"), (2, "a"), (4, "a")]
    right = [(1, "b"), (2, "b"), (3, "b")]
    assert list(merge_sorted(left, right, key=first)) == [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "b"), (4, "a")]
    assert list(merge_sorted(right, left, key=first)) == [(1, "b"), (1, "a"), (2, "b"), (2, "a"), (3, "b"), (4, "a")]


def test_merge_sorted_key_after_a_run_from_the_second_input():
    assert list(merge_sorted([5, 6], [1, 2, 9, 10], key=lambda x: x)) == [1, 2, 5, 6, 9, 10]
    assert list(merge_sorted("fg", "abxy", key=ord)) == list("abfgxy")


def test_merge_sorted_key_matches_sorted():
    rng = random.Random(7)
    for n in (2, 3, 5, 8):
        seqs = [
            sorted(((rng.randrange(6), i, j) for j in range(rng.randrange(9))), key=itemgetter(0)) for i in range(n)
        ]
        flat = [x for seq in seqs for x in seq]
        assert list(merge_sorted(*seqs, key=itemgetter(0))) == sorted(flat, key=itemgetter(0))
        assert list(merge_sorted(*map(iter, seqs), key=lambda t: t[0])) == sorted(flat, key=itemgetter(0))
