"""The dokuwiki table format."""

from tabulate import tabulate, tabulate_formats

ROWS = [["spam", 41.9999], ["eggs", "451.0"]]


def test_dokuwiki_is_listed():
    assert "dokuwiki" in tabulate_formats


def test_dokuwiki_with_headers():
    expected = "\n".join(["^ strings   ^   numbers ^", "| spam      |   41.9999 |", "| eggs      |  451      |"])
    assert tabulate(ROWS, ["strings", "numbers"], tablefmt="dokuwiki") == expected


def test_dokuwiki_headerless():
    assert tabulate(ROWS, tablefmt="dokuwiki") == "| spam |  41.9999 |\n| eggs | 451      |"


def test_dokuwiki_column_alignment_and_missing_values():
    rows = [["a", None], ["ccc", "d"]]
    result = tabulate(rows, ["x", "y"], tablefmt="dokuwiki", colalign=["right", "center"], missingval="?")
    assert result.splitlines() == ["^   x ^  y  ^", "|   a |  ?  |", "| ccc |  d  |"]
