"""Table format names match without regard to case, including the formats with special handling."""

from tabulate import tabulate

ROWS = [["spam", 41.9999], ["eggs", "451.0"]]
HEADERS = ["strings", "numbers"]


def same(fmt, rows=ROWS, headers=HEADERS, **kw):
    return tabulate(rows, headers, tablefmt=fmt, **kw) == tabulate(rows, headers, tablefmt=fmt.lower(), **kw)


def test_multiline_cells_in_a_mixed_case_grid_format():
    rows = [["one\ntwo", 1], ["three", 2]]
    assert same("Fancy_Grid", rows)
    assert "\n│ two" in tabulate(rows, HEADERS, tablefmt="FANCY_GRID")


def test_formats_with_special_handling():
    assert same("RST", [["", 1], ["x", 2]])
    assert same("Pretty")
    assert same("Colon_Grid", colalign=["right", "left"])
    assert same("LaTeX_Raw", [["a_b", "\\x"]])
    assert same("HTML")


def test_unknown_name_still_falls_back_to_simple():
    assert tabulate(ROWS, HEADERS, tablefmt="NoSuchFormat") == tabulate(ROWS, HEADERS, tablefmt="simple")
