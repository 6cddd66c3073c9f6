"""The README and the pages under docs/: the README stays short, names the two set-up commands
and links every page; no relative link in any of them points to a file that is not there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
EXPECTED_PAGES = ["authoring.md", "benchmarks.md", "development.md", "sandbox.md", "scale-out.md", "students.md",
                  "ta.md"]

# [text](target) and [text](target "title"); images too. Code spans are removed first, so a
# bracketed example inside backticks is not a link.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def links(text: str) -> list[str]:
    """Every link target in a Markdown text, outside code blocks and code spans. Indented code
    blocks are skipped too (lines starting with four spaces after a blank line or another such line)."""
    text = FENCE.sub("", text)
    kept: list[str] = []
    in_block = False
    previous_blank = True
    for line in text.splitlines():
        if line.startswith("    ") and (previous_blank or in_block):
            in_block = True
            continue
        if line.strip():
            in_block = False
        previous_blank = not line.strip()
        kept.append(line)
    return LINK.findall(CODE_SPAN.sub("", "\n".join(kept)))


def relative_targets(page: Path) -> list[tuple[str, Path]]:
    """The relative links of a page, each with the file it points to (anchors stripped)."""
    found = []
    for target in links(page.read_text(encoding="utf-8")):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # https:, mailto: ...
        path = target.split("#", 1)[0].split("?", 1)[0]
        found.append((target, (page.parent / path).resolve() if path else page.resolve()))
    return found


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_names_the_two_set_up_commands():
    text = README.read_text(encoding="utf-8")
    assert re.search(r"^\s*\./run\.sh\s*(#|$)", text, re.M), "README.md must show plain `./run.sh`"
    assert re.search(r"^\s*\./run\.sh test\s*(#|$)", text, re.M), "README.md must show `./run.sh test`"


def test_the_pages_exist():
    assert [p.name for p in PAGES] == EXPECTED_PAGES


def test_every_page_is_linked_from_the_readme():
    linked = {path for _, path in relative_targets(README)}
    missing = [p.name for p in PAGES if p.resolve() not in linked]
    assert missing == [], f"docs pages not linked from README.md: {missing}"


def test_the_course_authors_guide_is_on_the_first_screen():
    first = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "docs/authoring.md" in links(first) or any(t.startswith("docs/authoring.md") for t in links(first))


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_point_to_files_that_exist(page):
    targets = relative_targets(page)
    broken = [target for target, path in targets if not path.exists()]
    assert broken == [], f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_every_docs_page_links_somewhere():
    """Each page says who it is for and links to at least one other page (or the README)."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert "Who this page is for" in text.split("\n\n", 2)[1], f"{page.name}: say who it is for at the top"
        assert any(path != page.resolve() for _, path in relative_targets(page)), f"{page.name} links nowhere"


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO).as_posix())
def test_links_into_a_page_name_one_of_its_headings(page):
    broken = [target for target, path in relative_targets(page)
              if "#" in target and path.suffix == ".md" and path.exists()
              and target.split("#", 1)[1] not in anchors(path)]
    assert broken == [], f"{page.relative_to(REPO)} links to headings that are not there: {broken}"


def test_the_link_reader_finds_a_missing_page(tmp_path):
    """The checks above can fail: a link to a page that is not there is caught, and code is not read as a link."""
    page = tmp_path / "page.md"
    page.write_text("See [gone](docs/gone.md#part) and [web](https://example.org).\n\n"
                    "    [not a link](code.md)\n\n`[nor](this.md)`\n", encoding="utf-8")
    targets = relative_targets(page)
    assert [t for t, _ in targets] == ["docs/gone.md#part"]
    assert not targets[0][1].exists() and targets[0][1] == (tmp_path / "docs" / "gone.md").resolve()
    page.write_text("# A heading, with (punctuation)\n\n## scale-out\n", encoding="utf-8")
    assert anchors(page) == {"a-heading-with-punctuation", "scale-out"}
