"""Text a student chose (zip and member names, messages quoting them) made inert wherever a
person sees it: on the terminal, in the spreadsheet, in JSON. HTML is escaped by Jinja2's
autoescape."""

from __future__ import annotations

import re

from rich.markup import escape

# C0 and C1 control characters and DEL: escape sequences, carriage returns and newlines that
# would redraw the screen or forge a line of the grader's own output.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def clean_text(text: str) -> str:
    """Any string made encodable as UTF-8: names that are not valid UTF-8 keep their bytes as
    visible escapes (\\udcff) instead of breaking a report."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def clean_data(value):
    """Every string of a JSON-like value (dict keys too) made encodable as UTF-8 (clean_text):
    what every report, page and JSON file is written from."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_data(k): clean_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_data(v) for v in value]
    return value


def plain(text: str) -> str:
    """One visible line: control characters shown as escapes, encodable as UTF-8."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), clean_text(text))


_CONTROL_IN_PAGE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and newline (code in <pre>)


def for_html(text: str) -> str:
    """Text on an HTML page (before Jinja2's autoescape): encodable as UTF-8, control characters
    (escape sequences, BEL, CR) shown as escapes; tabs and newlines kept for code in <pre>."""
    return _CONTROL_IN_PAGE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), clean_text(text))


def for_terminal(text: str) -> str:
    """Safe inside rich markup: one line, no control characters, no markup of its own."""
    return escape(plain(text))


def for_csv(cell: object) -> str:
    """A spreadsheet cell that is never a formula: text starting with = + - @ (or tab/CR)
    gets a leading apostrophe; numbers stay numbers."""
    text = plain(cell) if not isinstance(cell, str) or _CONTROL.search(cell) else clean_text(cell)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text
