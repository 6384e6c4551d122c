import copy
from collections import OrderedDict

import toolz
import toolz.curried
import toolz.dicttoolz


def test_dissoc_in_removes_a_nested_key_without_mutating():
    d = {"a": {"b": {"c": 1, "e": 2}, "f": 3}, "g": {"h": 4}}
    before = copy.deepcopy(d)
    out = toolz.dissoc_in(d, ["a", "b", "c"])
    assert out == {"a": {"b": {"e": 2}, "f": 3}, "g": {"h": 4}}
    assert d == before
    assert out["g"] is d["g"]
    assert out["a"] is not d["a"] and out["a"]["b"] is not d["a"]["b"]


def test_dissoc_in_single_key_and_tuple_path():
    d = {"x": 1, "y": {"z": 2}}
    assert toolz.dissoc_in(d, ["x"]) == {"y": {"z": 2}}
    assert toolz.dissoc_in(d, ("y", "z")) == {"x": 1, "y": {}}
    assert toolz.dissoc_in(d, iter(["y", "z"])) == {"x": 1, "y": {}}


def test_dissoc_in_missing_path_gives_an_equal_copy():
    d = {"a": {"b": 1}, "n": 5}
    for path in (["q"], ["a", "q"], ["q", "r", "s"], ["n", "x"], ["a", "b", "c"]):
        out = toolz.dissoc_in(d, path)
        assert out == d and out is not d
    assert d == {"a": {"b": 1}, "n": 5}


def test_dissoc_in_factory():
    d = {"a": {"b": 1, "c": 2}}
    out = toolz.dissoc_in(d, ["a", "b"], factory=OrderedDict)
    assert out == {"a": {"c": 2}}
    assert isinstance(out, OrderedDict) and isinstance(out["a"], OrderedDict)


def test_dissoc_in_is_exported_and_curried():
    assert toolz.dicttoolz.dissoc_in is toolz.dissoc_in
    assert "dissoc_in" in toolz.dicttoolz.__all__
    d = {"a": {"b": 1, "c": 2}}
    remove_from_d = toolz.curried.dissoc_in(d)
    assert remove_from_d(["a", "c"]) == {"a": {"b": 1}}
    assert toolz.curried.dissoc_in(d, ["a"]) == {}
