from collections import OrderedDict

from toolz import dissoc


def test_dissoc_most_keys():
    d = {k: i for i, k in enumerate("abcdefgh")}
    assert dissoc(d, *"abcdefg") == {"h": 7}
    assert dissoc(d, *"abcdefgh") == {}


def test_dissoc_many_keys_some_missing():
    d = {"x": 1, "y": 2, "z": 3}
    assert dissoc(d, "x", "y", "q", "r", "s") == {"z": 3}
    assert dissoc(d, "q", "r", "s", "t") == d


def test_dissoc_many_keys_keeps_input_and_factory():
    d = {1: "a", 2: "b", 3: "c"}
    out = dissoc(d, 1, 2, 3, 4, factory=OrderedDict)
    assert out == OrderedDict() and isinstance(out, OrderedDict)
    assert dissoc(d, 2, 3, 5, factory=OrderedDict) == OrderedDict([(1, "a")])
    assert d == {1: "a", 2: "b", 3: "c"}
