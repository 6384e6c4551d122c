"""Digits after the decimal point, and the decimal alignment built on them."""

import tabulate as T
from tabulate import tabulate


def test_afterpoint_counts_digits_after_the_point():
    assert T._afterpoint("3.14159") == 5
    assert T._afterpoint("-0.5") == 1
    assert T._afterpoint("12,345.678") == 3
    assert T._afterpoint("7.") == 0
    assert T._afterpoint("42") == -1
    assert T._afterpoint("n/a") == -1


def test_decimal_column_lines_up_on_the_point():
    result = tabulate([[1.5], [22], [0.25]], tablefmt="plain", numalign="decimal")
    assert result.splitlines() == [" 1.5", "22", " 0.25"]
    result = tabulate([["x", 0.125], ["y", 10]], headers=["k", "v"], tablefmt="github")
    assert result.splitlines() == ["| k   |      v |", "|-----|--------|", "| x   |  0.125 |", "| y   | 10     |"]
