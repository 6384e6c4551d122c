import random

import pytest
from semver import Version, compare


def test_sorting_follows_the_specification_chain():
    chain = [
        "2.1.0-0",
        "2.1.0-3",
        "2.1.0-12",
        "2.1.0-dev",
        "2.1.0-dev.2",
        "2.1.0-dev.10",
        "2.1.0-dev.x",
        "2.1.0-pre",
        "2.1.0",
    ]
    shuffled = chain[:]
    random.Random(7).shuffle(shuffled)
    assert [str(v) for v in sorted(Version.parse(s) for s in shuffled)] == chain


@pytest.mark.parametrize(
    "lower,higher",
    [
        ("3.0.0-rc.9", "3.0.0-rc.10"),
        ("3.0.0-99", "3.0.0-100"),
        ("3.0.0-build.7.z", "3.0.0-build.70.a"),
        ("3.0.0-alpha.42", "3.0.0-alpha.a"),
        ("3.0.0-5", "3.0.0-a"),
    ],
)
def test_numeric_identifiers_by_value_and_below_text(lower, higher):
    assert compare(lower, higher) == -1
    assert compare(higher, lower) == 1
    assert Version.parse(lower) < Version.parse(higher)


@pytest.mark.parametrize(
    "left,right",
    [("4.5.6-rc.1", "4.5.6-rc.1"), ("4.5.6-alpha.beta", "4.5.6-alpha.beta+b.2")],
)
def test_equal_prereleases_stay_equal(left, right):
    assert compare(left, right) == 0
