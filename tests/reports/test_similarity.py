"""`grader similarity`: near-copies rank first, given code never counts, grades never change,
and the pages load in a real browser."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re

import nbformat
import pytest

from grader.commands.similarity import run_similarity
from grader.course import catalog
from grader.course.skeleton import plain_solution
from grader.reports.similarity import NOISE_TOKENS, WINDOW, UnreadableCode, code_of, matched_tokens

from conftest import CHROMIUM, REPO, chromium_dom, chromium_layout, run_cli, student_files, write_zip

# An independent, correct implementation of every TODO of colored_mnist's model.py: the same
# task in a student's own words, which must not look copied.
INDEPENDENT = {
    "update self.q": """\
        names = list(risks.keys())
        vals = torch.stack([risks[k] for k in names])
        if self.training:
            w = self.q.detach().clone()
            for i, k in enumerate(names):
                w[k] = w[k] * float(torch.exp(self.eta * vals[i].detach()))
            self.q = w / torch.sum(w)
        total = 0.0
        for i, k in enumerate(names):
            total = total + self.q[k] * vals[i]
        return total""",
    "gradient of the risk": """\
        dummy = torch.tensor(1.0, requires_grad=True)
        l = torch.nn.functional.binary_cross_entropy_with_logits(dummy * logits, y)
        g = torch.autograd.grad([l], [dummy], create_graph=True)[0]
        return g * g""",
    "ERM term": """\
        total_risk = 0.0
        total_pen = 0.0
        count = 0
        for env_id in torch.unique(env).tolist():
            sel = env == env_id
            total_risk = total_risk + torch.nn.functional.binary_cross_entropy_with_logits(logits[sel], y[sel])
            total_pen = total_pen + self.penalty(logits[sel], y[sel])
            count += 1
        return total_risk / count + self.lam * total_pen / count""",
    "mean risk": """\
        r = torch.stack([v for v in risks.values()])
        mu = r.mean()
        return mu + self.beta * ((r - mu) ** 2).mean()""",
    "sign agreement": """\
        g = torch.stack(grads, dim=0)
        agree = torch.abs(torch.mean(torch.sign(g), dim=0)) >= self.tau
        out = torch.where(agree, g.mean(dim=0), torch.zeros_like(g[0]))
        if self.rescale:
            frac = agree.float().mean()
            out = out / max(float(frac), 1e-12)
        return out""",
}
RENAMES = {"losses": "env_losses", "present": "seen", "scale": "dummy_w", "risk": "r_val", "grad": "dw",
           "stacked": "all_grads", "update": "masked", "penalties": "pens", "mask": "agree"}


@pytest.fixture(scope="module")
def colored_mnist() -> catalog.Assignment:
    return catalog.load("colored_mnist", REPO)


def reference_model(assignment: catalog.Assignment) -> str:
    return plain_solution((assignment.solution_dir / "model.py").read_text(), "model.py")


def near_copy(code: str) -> str:
    """The reference as a copier disguises it: variables renamed, the classes in another
    order, comments rewritten."""
    for old, new in RENAMES.items():
        code = re.sub(rf"\b{old}\b", new, code)
    code = re.sub(r"#[^\n]*", "# my own words here", code)
    head, *classes = re.split(r"\n(?=class )", code)
    return "\n".join([head] + classes[::-1]) + "\n"


def independent_model(assignment: catalog.Assignment) -> str:
    lines = []
    for line in (assignment.skeleton_dir / "model.py").read_text().splitlines():
        if "raise NotImplementedError" in line:
            lines.append(next(body for key, body in INDEPENDENT.items() if key in line))
        elif "# TODO" not in line:
            lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def batch(tmp_path_factory, colored_mnist):
    folder = tmp_path_factory.mktemp("colored") / "subs"
    folder.mkdir()
    skeleton = (colored_mnist.skeleton_dir / "model.py").read_text()
    reference = reference_model(colored_mnist)
    write_zip(folder / "1001_ana.zip", {"model.py": reference}, folder="1001_ana")
    write_zip(folder / "1002_bob.zip", {"model.py": near_copy(reference)})
    write_zip(folder / "1003_cy.zip", {"model.py": independent_model(colored_mnist)})
    write_zip(folder / "1004_dan.zip", {"model.py": skeleton})
    write_zip(folder / "1005_eve.zip", {"model.py": skeleton, "notes.txt": "untouched"})
    return folder


@pytest.fixture(scope="module")
def result(batch, colored_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("colored_out")
    return run_similarity([batch], colored_mnist, out, threshold=0.5, jobs=2), out


def pair_keys(result, pair) -> set[str]:
    return {result.documents[pair.a].key, result.documents[pair.b].key}


def test_near_copies_are_the_top_pair_and_the_skeleton_scores_nothing(result):
    res, _ = result
    assert pair_keys(res, res.pairs[0]) == {"1001_ana", "1002_bob"}
    assert res.pairs[0].similarity >= 0.9 and min(res.pairs[0].similarity_a, res.pairs[0].similarity_b) >= 0.9
    independent = [p for p in res.pairs
                   if "1003_cy" in pair_keys(res, p) and not pair_keys(res, p) & {"1004_dan", "1005_eve"}]
    assert len(independent) == 2 and all(0 < p.similarity < 0.5 for p in independent)
    skeleton_pairs = [p for p in res.pairs if pair_keys(res, p) & {"1004_dan", "1005_eve"}]
    assert len(skeleton_pairs) == 7
    assert all(p.similarity == 0 and p.matched_a == p.matched_b == 0 for p in skeleton_pairs)
    assert [pair_keys(res, p) for p in res.above()] == [{"1001_ana", "1002_bob"}]


def test_pair_scores_count_what_copydetect_compare_files_counts(colored_mnist):
    from copydetect import CodeFingerprint, compare_files

    skeleton = (colored_mnist.skeleton_dir / "model.py").read_text()
    reference = reference_model(colored_mnist)
    half_done = skeleton.replace(
        "        raise NotImplementedError('TODO (model.py): mean risk + beta * population variance of the risks')",
        INDEPENDENT["mean risk"])
    boilerplate = sorted(CodeFingerprint("model.py", NOISE_TOKENS, WINDOW, fp=io.StringIO(skeleton)).hashes)
    fingerprints = [CodeFingerprint("model.py", NOISE_TOKENS, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code))
                    for code in (reference, near_copy(reference), independent_model(colored_mnist), skeleton,
                                 half_done)]
    checked = 0
    for a, b in itertools.permutations(fingerprints, 2):
        overlap, (_, similarity_b), _ = compare_files(a, b)
        shared = a.hashes & b.hashes
        assert matched_tokens(a.hash_idx, shared) == overlap
        assert matched_tokens(b.hash_idx, shared) == round(similarity_b * b.token_coverage)
        checked += overlap > 0
    assert checked >= 8  # most pairs share code: the agreement is not only on zeros


def test_csv_lists_every_pair_and_the_html_shows_the_matches_side_by_side(result):
    res, out = result
    rows = list(csv.DictReader(open(out / "similarity.csv", encoding="utf-8")))
    assert len(rows) == 10 and [r["rank"] for r in rows] == [str(n) for n in range(1, 11)]
    assert {rows[0]["submission_a"], rows[0]["submission_b"]} == {"1001_ana", "1002_bob"}
    assert rows[0]["above_threshold"] == "yes" and all(r["above_threshold"] == "no" for r in rows[1:])
    html = (out / "similarity.html").read_text(encoding="utf-8")
    assert html.count('<section class="pair"') == 1 and 'id="pair-1"' in html
    section = html[html.index('<section class="pair"'):]
    left, right = section.split('<div class="sides">')[1].split("</pre></div>")[:2]
    assert "<mark>" in left and "<mark>" in right
    assert "env_losses" in right and "env_losses" not in left  # each side shows its own code


def test_same_submissions_same_scores_in_every_run(batch, colored_mnist, tmp_path, result):
    # copydetect hashes with Python's salted hash(): only a fixed seed in the workers makes this hold.
    _, first = result
    again = run_similarity([batch], colored_mnist, tmp_path, threshold=0.5, jobs=1)
    assert (tmp_path / "similarity.csv").read_text() == (first / "similarity.csv").read_text()
    assert again.pairs[0].similarity == result[0].pairs[0].similarity


def test_earlier_terms_are_compared_with_this_term_only(batch, colored_mnist, tmp_path):
    archive = tmp_path / "archive" / "2024"
    archive.mkdir(parents=True)
    reference = reference_model(colored_mnist)
    write_zip(archive / "9001_old.zip", {"model.py": reference})
    write_zip(archive / "9002_older.zip", {"model.py": reference})
    res = run_similarity([batch], colored_mnist, tmp_path / "out", against=[tmp_path / "archive"], threshold=0.5,
                         jobs=2)
    archived = {d.key for d in res.documents if d.archive}
    assert archived == {"9001_old", "9002_older"}
    assert not [p for p in res.pairs if pair_keys(res, p) <= archived]
    flagged = {frozenset(pair_keys(res, p)) for p in res.above()}
    assert frozenset({"1001_ana", "9001_old"}) in flagged and frozenset({"1002_bob", "9002_older"}) in flagged
    rows = list(csv.DictReader(open(tmp_path / "out" / "similarity.csv")))
    assert all(r["b_from_archive"] == ("yes" if r["submission_b"] in archived else "no") for r in rows)
    assert all(r["submission_a"] not in archived for r in rows)


def test_notebooks_are_compared_on_their_code_cells_only():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# my answers, in prose"),
                nbformat.v4.new_code_cell("x = 1\nprint(x)"),
                nbformat.v4.new_code_cell("def f(a):\n    return a + 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    assert code_of("work.ipynb", nbformat.writes(nb).encode()) == "x = 1\nprint(x)\n\ndef f(a):\n    return a + 1"
    with pytest.raises(UnreadableCode, match="work.ipynb"):
        code_of("work.ipynb", b"{not json")
    assert code_of("model.py", b"a = 1\n") == "a = 1\n"


def test_notebook_submissions_match_on_copied_cells(tmp_path, tiny_nb_root):
    assignment = catalog.load("tiny_nb", tiny_nb_root)
    skeleton = nbformat.read(assignment.skeleton_dir / "tiny.ipynb", as_version=4)

    def with_answer(code: str, prose: str) -> str:
        nb = nbformat.from_dict(json.loads(nbformat.writes(skeleton)))
        nb.cells[1].source = code
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(prose))
        return nbformat.writes(nb)

    copied = ("def mean(values):\n    total = 0.0\n    for v in values:\n        total = total + v * 1.0\n"
              "    count = len([v for v in values if v is not None])\n    return total / max(count, 1)\n")
    renamed = copied.replace("total", "acc").replace("values", "xs").replace("count", "n")
    own = "def mean(values):\n    import statistics\n    return statistics.fmean(values)\n"
    subs = tmp_path / "subs"
    subs.mkdir()
    write_zip(subs / "1_a.zip", {"tiny.ipynb": with_answer(copied, "I wrote this alone")})
    write_zip(subs / "2_b.zip", {"tiny.ipynb": with_answer(renamed, "Different prose entirely, at length")})
    write_zip(subs / "3_c.zip", {"tiny.ipynb": with_answer(own, "I wrote this alone")})
    res = run_similarity([subs], assignment, tmp_path / "out", threshold=0.5, jobs=1)
    assert pair_keys(res, res.pairs[0]) == {"1_a", "2_b"} and res.pairs[0].similarity >= 0.8
    assert all(p.similarity < 0.5 for p in res.pairs[1:])


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in ("index.html",)
            and not p.name.startswith("similarity.")}


@pytest.fixture(scope="module")
def graded_tiny(tmp_path_factory):
    """A tiny batch graded by the real CLI, then `grader similarity` run on its --out folder."""
    import shutil

    from conftest import TINY

    base = tmp_path_factory.mktemp("graded")
    root = base / "course"
    shutil.copytree(TINY, root, ignore=shutil.ignore_patterns("__pycache__"))
    tiny = catalog.load("tiny", root)
    subs = base / "subs"
    subs.mkdir()
    answer = student_files(tiny)["answer.py"]
    write_zip(subs / "20250001_ana.zip", {"answer.py": answer})
    write_zip(subs / "20250002_<b>bob.zip", {"answer.py": answer.replace("values", "xs").replace("# ", "# mine: ")})
    write_zip(subs / "20250003_dan.zip", student_files(tiny, "skeleton"))
    (subs / "20250004_broken.zip").write_bytes(b"not a zip")
    out = base / "out"
    graded = run_cli("--root", str(root), "grade", str(subs), "--out", str(out))
    assert graded.returncode == 2, graded.stderr  # the broken zip is rejected
    before = _digest(out)
    result = run_cli("--root", str(root), "similarity", str(out), "--out", str(out))
    return root, out, before, result


def test_cli_on_a_graded_folder_never_touches_the_grades(graded_tiny):
    _, out, before, result = graded_tiny
    assert result.returncode == 1, result.stderr  # the rejected zip could not be read either
    assert "Traceback" not in result.stdout + result.stderr
    assert _digest(out) == before  # report.json, report.html, results.json, grades.csv, logs
    rows = list(csv.DictReader(open(out / "similarity.csv", encoding="utf-8")))
    assert {rows[0]["submission_a"], rows[0]["submission_b"]} == {"20250001_ana", "20250002_<b>bob"}
    assert rows[0]["above_threshold"] == "yes"
    assert all(r["similarity"] == "0.0000" for r in rows if "20250003_dan" in (r["submission_a"], r["submission_b"]))
    html = (out / "similarity.html").read_text()
    assert "20250004_broken.zip" in html and "not a readable zip archive" in html
    assert "<b>bob" not in html and "&lt;b&gt;bob" in html
    index = (out / "index.html").read_text()
    assert "similarity 1.00 with 20250001_ana" in index and 'href="similarity.html#pair-1"' in index


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run.sh test installs it)")
def test_similarity_page_loads_in_headless_chromium(graded_tiny, tmp_path):
    _, out, _, _ = graded_tiny
    dom, console_errors = chromium_dom(out / "similarity.html", tmp_path / "profile")
    assert console_errors == [], console_errors
    assert 'id="pair-1"' in dom and "<mark>" in dom and "1.00 / 1.00" in dom
    assert "<b>bob" not in dom


def test_student_code_is_inert_in_the_page(tmp_path, tiny):
    code = (student_files(tiny)["answer.py"]
            + "\nX = '</pre><script>alert(1)</script>'  # long enough to be fingerprinted\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    write_zip(subs / "1_a.zip", {"answer.py": code})
    write_zip(subs / "2_b.zip", {"answer.py": code})
    run_similarity([subs], tiny, tmp_path / "out", jobs=1)
    html = (tmp_path / "out" / "similarity.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("args, message", [
    (["nowhere"], "nowhere: no such file or folder"),
    (["SUBS", "--against", "gone"], "gone: no such file or folder"),
    (["EMPTY"], "no submissions found"),
    (["SUBS", "--threshold", "1.5"], "1.5"),
    (["ONE"], "need at least two readable submissions"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_root, tiny, args, message):
    (tmp_path / "empty").mkdir()
    subs = tmp_path / "subs"
    subs.mkdir()
    write_zip(subs / "1_a.zip", student_files(tiny))
    write_zip(subs / "2_b.zip", student_files(tiny))
    one = tmp_path / "one"
    one.mkdir()
    write_zip(one / "1_a.zip", student_files(tiny))
    paths = {"EMPTY": tmp_path / "empty", "SUBS": subs, "ONE": one}
    args = [str(paths.get(a, a)) for a in args]
    result = run_cli("--root", str(tiny_root), "similarity", *args, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    if "--threshold" not in args:  # click words option errors with its usage line
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_similarity_has_help():
    result = run_cli("similarity", "--help")
    assert result.returncode == 0 and "--against" in result.stdout and "--threshold" in result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run.sh test installs it)")
def test_long_lines_wrap_inside_their_pane(tmp_path, tiny):
    long_line = "TABLE = [" + ", ".join(f"'entry_number_{n}'" for n in range(60)) + ", 'THE_END']  # one long line\n"
    code = student_files(tiny)["answer.py"] + "\n" + long_line
    subs = tmp_path / "subs"
    subs.mkdir()
    write_zip(subs / "1_a.zip", {"answer.py": code})
    write_zip(subs / "2_b.zip", {"answer.py": code})
    run_similarity([subs], tiny, tmp_path / "out", jobs=1)
    measure = """() => [...document.querySelectorAll('.sides pre')].map(p => ({scroll: p.scrollWidth, client: p.clientWidth,
        right: p.getBoundingClientRect().right, width: window.innerWidth}))"""  # noqa: E501 (JavaScript for the page)
    panes, _ = chromium_layout(tmp_path / "out" / "similarity.html", tmp_path / "profile", measure)
    assert panes, "no side-by-side pane"
    for pane in panes:  # nothing cut off: no pane is wider than its box, and every box is in the window
        assert pane["scroll"] <= pane["client"] + 1 and pane["right"] <= pane["width"], pane
