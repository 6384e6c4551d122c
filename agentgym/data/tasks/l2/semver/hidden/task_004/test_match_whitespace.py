import pytest
from semver import Version


@pytest.mark.parametrize(
    "version,expr,expected",
    [
        pytest.param("1.4.0", "\t>1.3.9", True, id="tab-before-operator"),
        pytest.param("1.4.0", "<=   1.4.0", True, id="spaces-after-inclusive"),
        pytest.param("1.4.0", "!= 1.4.0\n", False, id="newline-after-version"),
        pytest.param("1.4.0", "  1.4.0  ", True, id="no-operator"),
        pytest.param("1.4.0-rc.1", "< 1.4.0", True, id="prerelease"),
        pytest.param("1.4.0", ">\t2.0.0", False, id="tab-after-operator"),
    ],
)
def test_whitespace_around_operator_and_version_is_ignored(version, expr, expected):
    assert Version.parse(version).match(expr) is expected


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param("   ", id="blank"),
        pytest.param(">= ", id="operator-only"),
        pytest.param("= 1.4.0", id="single-equals"),
        pytest.param("~ 1.4.0", id="tilde"),
    ],
)
def test_whitespace_does_not_make_bad_expressions_valid(expr):
    with pytest.raises(ValueError):
        Version.parse("1.4.0").match(expr)
