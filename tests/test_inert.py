"""Names a student chose stay text: on the terminal, in the spreadsheet, as a folder name."""

from __future__ import annotations

from rich.console import Console

from grader.inert import clean_text, for_csv, for_terminal
from grader.steps.naming import folder_name


def test_terminal_text_has_no_control_characters_and_no_markup():
    shown = for_terminal("a\x1b]0;pwned\x07\x1b[2J[blink]x[/blink]\n[grader] score 20 of 20\x9b")
    assert "\x1b" not in shown and "\x07" not in shown and "\n" not in shown and "\x9b" not in shown
    console = Console(record=True, width=300, force_terminal=True)
    console.print(shown)
    text = console.export_text()
    assert "[blink]x[/blink]" in text and "\\x1b]0;pwned\\x07" in text and text.count("\n") == 1


def test_csv_cells_never_start_a_formula_but_numbers_stay_numbers():
    assert for_csv("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert [for_csv(c) for c in ("+1+1", "@SUM(A1)", "-cmd")] == ["'+1+1", "'@SUM(A1)", "'-cmd"]
    assert for_csv("\tx\r\n=1") == "\\tx\\r\\n=1"  # control characters become visible escapes, never a cell start
    assert [for_csv(c) for c in ("-1.5", "20", "ana", "")] == ["-1.5", "20", "ana", ""]


def test_folder_names_stay_inside_the_output_folder(tmp_path):
    assert folder_name("20250001_ana") == "20250001_ana"
    assert folder_name("...") == "..." and folder_name("a\x1b[2J") == "a\x1b[2J"  # odd but plain folder names stay
    for hostile in ("..", ".", "../../etc", "a/b", "a\\b", "a\0b", "", "x" * 500):
        name = folder_name(hostile)
        assert (name not in ("", ".", "..") and "/" not in name and "\\" not in name
                and "\0" not in name), (hostile, name)
        assert (tmp_path / name).resolve().parent == tmp_path.resolve()
    assert folder_name("a/b") != folder_name("a_b")  # changed names get a hash: no two share a folder
    assert len(folder_name("x" * 500).encode()) <= 210


def test_names_that_are_not_utf8_keep_their_bytes_visible():
    name = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert clean_text(name) == "caf\\udce9"
    clean_text(name).encode("utf-8")
