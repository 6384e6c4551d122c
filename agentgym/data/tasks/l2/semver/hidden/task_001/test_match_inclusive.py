import pytest
from semver import Version, match


@pytest.mark.parametrize(
    "version,expr",
    [
        ("1.0.0", ">=1.0.0"),
        ("0.0.0", ">=0.0.0"),
        ("3.1.4-rc.2", ">=3.1.4-rc.2"),
        ("2.0.0+build.7", ">=2.0.0"),
        ("2.0.0", ">=2.0.0+other"),
    ],
)
def test_greater_or_equal_includes_equal_versions(version, expr):
    assert match(version, expr) is True
    assert Version.parse(version).match(expr) is True


@pytest.mark.parametrize(
    "version,expr,expected",
    [
        ("1.0.1", ">=1.0.0", True),
        ("1.0.0", ">=1.0.0-rc.1", True),
        ("1.0.0-rc.1", ">=1.0.0", False),
        ("0.9.9", ">=1.0.0", False),
    ],
)
def test_greater_or_equal_on_either_side(version, expr, expected):
    assert match(version, expr) is expected


def test_other_operators_unchanged_at_equality():
    assert match("1.2.3", "<=1.2.3") is True
    assert match("1.2.3", ">1.2.3") is False
    assert match("1.2.3", "<1.2.3") is False
    assert match("1.2.3", "!=1.2.3") is False
