"""Colours carried across wrapped lines: each line restarts the colours still open and resets them at its end."""

import tabulate as T
from tabulate import tabulate

RED, BLUE, BOLD, RESET = "\033[31m", "\033[34m", "\033[1m", "\033[0m"


def wrap(text, width):
    return T._CustomTextWrap(width=width).wrap(text)


def test_single_colour_over_three_lines():
    text = RED + "aaa bbb ccc" + RESET
    assert wrap(text, 3) == [RED + "aaa" + RESET, RED + "bbb" + RESET, RED + "ccc" + RESET]


def test_colour_opened_mid_line_and_closed_later():
    text = "xx " + BLUE + "yy zz" + RESET + " ww"
    assert wrap(text, 5) == ["xx " + BLUE + "yy" + RESET, BLUE + "zz" + RESET + " ww"]


def test_two_codes_stay_open_together():
    text = BOLD + RED + "one two" + RESET + " six"
    assert wrap(text, 4) == [BOLD + RED + "one" + RESET, BOLD + RED + "two" + RESET, "six"]


def test_plain_text_gets_no_codes():
    assert wrap("alpha beta gamma", 5) == ["alpha", "beta", "gamma"]


def test_maxcolwidths_with_a_coloured_cell():
    result = tabulate([[RED + "ab cd" + RESET, 1]], tablefmt="plain", maxcolwidths=[2, None])
    assert result.splitlines() == [RED + "ab" + RESET + "  1", RED + "cd" + RESET]
