from argparse import Namespace

import pytest
from semver import cmd_bump, createparser, main


@pytest.mark.parametrize(
    "cliargs,expected",
    [
        pytest.param(["bump", "prerelease", "--token", "alpha", "1.2.3"], "1.2.3-alpha.1", id="prerelease-before"),
        pytest.param(["bump", "prerelease", "1.2.3", "--token", "beta"], "1.2.3-beta.1", id="prerelease-after"),
        pytest.param(["bump", "prerelease", "--token", "dev", "0.9.0+b.4"], "0.9.0-dev.1", id="prerelease-drops-build"),
        pytest.param(["bump", "prerelease", "--token", "alpha", "1.2.3-rc.4"], "1.2.3-rc.5", id="prerelease-existing"),
        pytest.param(["bump", "build", "--token", "nightly", "2.0.0"], "2.0.0+nightly.1", id="build"),
        pytest.param(["bump", "build", "--token", "ci", "2.0.0-rc.1"], "2.0.0-rc.1+ci.1", id="build-keeps-prerelease"),
    ],
)
def test_bump_with_token_prints_new_version(cliargs, expected, capsys):
    assert main(cliargs) == 0
    assert capsys.readouterr().out == expected + "\n"


@pytest.mark.parametrize(
    "cliargs,expected",
    [
        pytest.param(["bump", "prerelease", "1.2.3"], "1.2.3-rc.1", id="prerelease"),
        pytest.param(["bump", "build", "1.2.3"], "1.2.3+build.1", id="build"),
    ],
)
def test_bump_without_token_keeps_defaults(cliargs, expected, capsys):
    assert main(cliargs) == 0
    assert capsys.readouterr().out == expected + "\n"


def test_token_is_parsed_only_when_given():
    parser = createparser()
    given = parser.parse_args(["bump", "build", "--token", "exp", "1.0.0"])
    assert given.token == "exp" and given.version == "1.0.0" and given.bump == "build"
    plain = parser.parse_args(["bump", "build", "1.0.0"])
    del plain.func
    assert plain == Namespace(bump="build", version="1.0.0")


def test_cmd_bump_uses_token_from_namespace():
    assert cmd_bump(Namespace(bump="prerelease", version="4.0.0", token="pre")) == "4.0.0-pre.1"


@pytest.mark.parametrize("token", ["a_b", "x..y"])
def test_invalid_token_is_an_error(token, capsys):
    assert main(["bump", "prerelease", "--token", token, "1.0.0"]) == 2
    assert capsys.readouterr().err.startswith("ERROR")
