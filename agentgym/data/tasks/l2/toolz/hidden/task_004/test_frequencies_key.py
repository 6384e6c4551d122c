from toolz import frequencies
from toolz.curried import frequencies as curried_frequencies


def test_frequencies_key_on_an_iterator():
    pairs = iter([("a", 1), ("b", 2), ("a", 3), ("c", 1)])
    assert frequencies(pairs, key=lambda p: p[1]) == {1: 2, 2: 1, 3: 1}


def test_frequencies_key_none_counts_the_items():
    assert frequencies("abca", key=None) == {"a": 2, "b": 1, "c": 1}
    assert frequencies([], key=len) == {}


def test_frequencies_key_tuples_and_the_curried_namespace():
    points = [(0, 1), (0, 1), (2, 3), (0, 5)]
    assert frequencies(points, key=lambda p: (p[0], p[1] > 2)) == {(0, False): 2, (2, True): 1, (0, True): 1}
    assert curried_frequencies(["x", "yy", "zz"], key=len) == {1: 1, 2: 2}
