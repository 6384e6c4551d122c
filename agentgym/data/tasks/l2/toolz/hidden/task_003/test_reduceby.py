from operator import add, mul

from toolz import reduceby


def iseven(x):
    return x % 2 == 0


def test_reduceby():
    data = [1, 2, 3, 4, 5]

    def iseven(x):
        return x % 2 == 0

    assert reduceby(iseven, add, data, 0) == {False: 9, True: 6}
    assert reduceby(iseven, mul, data, 1) == {False: 15, True: 8}

    projects = [
        {"name": "build roads", "state": "CA", "cost": 1000000},
        {"name": "fight crime", "state": "IL", "cost": 100000},
        {"name": "help farmers", "state": "IL", "cost": 2000000},
        {"name": "help farmers", "state": "CA", "cost": 200000},
    ]
    assert reduceby(lambda x: x["state"], lambda acc, x: acc + x["cost"], projects, 0) == {"CA": 1200000, "IL": 2100000}

    assert reduceby("state", lambda acc, x: acc + x["cost"], projects, 0) == {"CA": 1200000, "IL": 2100000}


def test_reduce_by_init():
    assert reduceby(iseven, add, [1, 2, 3, 4]) == {True: 2 + 4, False: 1 + 3}


def test_reduce_by_callable_default():
    def set_add(s, i):
        s.add(i)
        return s

    assert reduceby(iseven, set_add, [1, 2, 3, 4, 1, 2], set) == {True: {2, 4}, False: {1, 3}}


def test_reduceby_lazy_input_and_first_item_as_start():
    words = iter(["apple", "avocado", "banana", "blueberry", "cherry"])
    longest = reduceby(lambda w: w[0], lambda a, b: a if len(a) >= len(b) else b, words)
    assert longest == {"a": "avocado", "b": "blueberry", "c": "cherry"}
    assert reduceby(iseven, add, []) == {}
    assert reduceby(iseven, add, [], 0) == {}


def test_reduceby_callable_init_is_called_per_group():
    calls = []

    def fresh():
        calls.append(1)
        return []

    def push(acc, x):
        acc.append(x)
        return acc

    assert reduceby(len, push, ["a", "bb", "c", "dd", "eee"], fresh) == {1: ["a", "c"], 2: ["bb", "dd"], 3: ["eee"]}
    assert len(calls) == 3
