"""A submission's names: what counts as a plain name (one entry directly inside a folder) is
decided in one place, for report folders, uploads saved under their own name and cluster tasks."""

import pytest

from grader.steps.naming import folder_name, is_plain_name


@pytest.mark.parametrize("name,plain", [
    ("20250001_ana", True), ("answer.py", True), ("...zip", True), (".hidden", True), ("a b", True),
    ("", False), (".", False), ("..", False), ("a/b", False), ("a\\b", False), ("a\0b", False), ("/", False),
])
def test_a_plain_name_names_one_entry_directly_inside_a_folder(name, plain):
    assert is_plain_name(name) is plain
    assert (folder_name(name) == name) is plain  # a report folder keeps a short plain name as it is
