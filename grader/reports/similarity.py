"""Code similarity between submissions, for the TA's plagiarism check; never part of a grade.

The fingerprints are copydetect's: the code is tokenised (names become V/F/O, strings S,
comments and whitespace dropped), hashed in k-grams and winnowed, so renamed variables,
changed comments and reordered functions still match. The skeleton's fingerprints are
removed from every submission first (boilerplate), so code the students were given never
counts. A pair's similarity for one side is the share of that side's own code (its
fingerprinted tokens) found in the other; a pair ranks by the larger of its two shares.

Every pair is scored by the count copydetect's compare_files makes (see `matched_tokens`);
compare_files itself marks the regions of the pairs the report shows.

copydetect hashes k-grams with Python's `hash()`, which is salted per process. Fingerprints
are therefore made in worker processes started with a fixed PYTHONHASHSEED, so the same
submissions give the same scores in every run; comparing fingerprints needs no string
hashing and happens wherever is convenient.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import nbformat

# The shortest match that counts and the length every match is guaranteed to be found at, in
# characters of tokenised code (copydetect's defaults: a line or two of real code).
NOISE_TOKENS = 25
GUARANTEE_TOKENS = 30
WINDOW = GUARANTEE_TOKENS - NOISE_TOKENS + 1
HASH_SEED = "0"
BLOCK = 48  # documents per side of one comparison task: small enough to balance, big enough to amortise



class UnreadableCode(ValueError):
    """An editable file that cannot be read as code (e.g. a notebook that is not JSON)."""


def code_of(rel: str, data: bytes) -> str:
    """The code to compare: a notebook's code cells (outputs and markdown are not the
    student's code), any other file's text."""
    text = data.decode("utf-8", errors="replace")
    if not rel.lower().endswith(".ipynb"):
        return text
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a broken file
        raise UnreadableCode(f"{rel}: not a readable notebook ({type(exc).__name__})") from None
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def _language(rel: str) -> str | None:
    """Notebook code is Python; other files are lexed by their extension."""
    return "python" if rel.lower().endswith(".ipynb") else None


@dataclass
class Document:
    """One submission's code: editable file (posix path) -> text."""

    key: str  # unique label, the submission's stem
    student_id: str | None
    name: str | None
    source: str
    files: dict[str, str]
    archive: bool = False  # from an earlier term: compared with the current students only


@dataclass(frozen=True)
class PairScore:
    a: int  # index into the documents
    b: int
    matched_a: int  # tokens of a's own code found in b
    matched_b: int
    similarity_a: float  # matched_a / a's own fingerprinted tokens
    similarity_b: float

    @property
    def similarity(self) -> float:
        return max(self.similarity_a, self.similarity_b)


@dataclass
class FileMatch:
    """One editable file of a pair, cut into (text, matched) runs for each side."""

    rel: str
    segments_a: list[tuple[str, bool]] = field(default_factory=list)
    segments_b: list[tuple[str, bool]] = field(default_factory=list)


# ----------------------------------------------------------------------------- workers

def _quiet_worker() -> None:
    # copydetect logs a warning for every file it cannot tokenise; the report says so once.
    logging.getLogger().setLevel(logging.ERROR)
    # Ctrl-C reaches the whole process group: the parent stops the pool and says so once,
    # instead of every worker printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _fingerprint(job: tuple[str, str, list[int]]):
    from copydetect import CodeFingerprint

    rel, code, boilerplate = job
    fingerprint = CodeFingerprint(rel, NOISE_TOKENS, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code),
                                  language=_language(rel))
    # Plain ints instead of numpy scalars: the fingerprints travel to the comparing workers, and
    # numpy scalars pickle and hash several times slower. The text stays with the Document.
    fingerprint.hashes = {int(h) for h in fingerprint.hashes}
    fingerprint.hash_idx = {int(h): [int(i) for i in idx] for h, idx in fingerprint.hash_idx.items()}
    fingerprint.raw_code = ""
    return fingerprint


def matched_tokens(positions: dict[int, list[int]], shared: set[int], k: int = NOISE_TOKENS) -> int:
    """Tokens of one document inside the k-grams it shares with another: the length of the
    union of [p, p + k) over the positions of the shared hashes. This is the count copydetect's
    compare_files makes (get_copied_slices, summed), in plain Python: on these short arrays
    numpy's per-call cost made it most of the run (tests check the two agree)."""
    covered, end = 0, -1
    for p in sorted(p for h in shared for p in positions[h]):
        covered += k if p >= end else p + k - end
        end = p + k
    return covered


def _compare_block(task) -> list[tuple[int, int, int, int]]:
    """Pairs (i, j) of one block of documents; for each pair with any match, (i, j, tokens of
    i matched, tokens of j matched), summed over the editable files they share."""
    pairs, fingerprints = task
    found = []
    for i, j in pairs:
        matched_i = matched_j = 0
        for rel, fp_i in fingerprints[i].items():
            fp_j = fingerprints[j].get(rel)
            if fp_j is None:
                continue
            shared = fp_i.hashes & fp_j.hashes
            if shared:
                matched_i += matched_tokens(fp_i.hash_idx, shared, fp_i.k)
                matched_j += matched_tokens(fp_j.hash_idx, shared, fp_j.k)
        if matched_i or matched_j:
            found.append((i, j, matched_i, matched_j))
    return found


@contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """Spawned workers with a fixed hash seed (see the module docstring). The executor starts
    workers as work arrives, so the seed stays in the environment while it is open. A worker
    that dies raises BrokenProcessPool rather than being restarted forever."""
    previous = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = HASH_SEED
    pool = ProcessPoolExecutor(max(1, jobs), mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        if previous is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = previous


# ----------------------------------------------------------------------------- steps

def fingerprint_documents(pool, documents: list[Document], skeleton: dict[str, str],
                          advance: Callable[[int], None] = lambda n: None) -> list[dict]:
    """Per document, {editable file: copydetect CodeFingerprint} with the skeleton's version
    of that file as boilerplate."""
    boilerplate = {rel: sorted(fp.hashes)
                   for rel, fp in zip(skeleton,
                                      pool.map(_fingerprint, [(rel, code, []) for rel, code in skeleton.items()]))}
    jobs = [(n, rel, (rel, code, boilerplate.get(rel, [])))
            for n, d in enumerate(documents) for rel, code in d.files.items()]
    result: list[dict] = [{} for _ in documents]
    for (n, rel, _), fingerprint in zip(jobs, pool.map(_fingerprint, [j[2] for j in jobs], chunksize=8)):
        result[n][rel] = fingerprint
        advance(1)
    return result


def pairs_to_compare(documents: list[Document]) -> list[tuple[int, int]]:
    """Every pair of current students, and each current student with each archived one;
    never two archived ones, never a student with themself."""
    pairs = []
    for i, a in enumerate(documents):
        for j in range(i + 1, len(documents)):
            b = documents[j]
            if a.archive and b.archive:
                continue
            if a.student_id and a.student_id == b.student_id:
                continue
            pairs.append((i, j))
    return pairs


def compare_documents(pool, documents: list[Document], fingerprints: list[dict],
                      advance: Callable[[int], None] = lambda n: None) -> list[PairScore]:
    """Scores of every pair of `pairs_to_compare` (zero where nothing matched), best first."""
    pairs = pairs_to_compare(documents)
    blocks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, j in pairs:
        blocks.setdefault((i // BLOCK, j // BLOCK), []).append((i, j))
    tasks = []
    for block_pairs in blocks.values():
        needed = {n for pair in block_pairs for n in pair}
        tasks.append((block_pairs, {n: fingerprints[n] for n in needed}))
    matched: dict[tuple[int, int], tuple[int, int]] = {}
    for task, found in zip(tasks, pool.map(_compare_block, tasks)):
        for i, j, m_i, m_j in found:
            matched[(i, j)] = (m_i, m_j)
        advance(len(task[0]))
    coverage = [sum(float(fp.token_coverage) for fp in fps.values()) for fps in fingerprints]
    scores = []
    for i, j in pairs:
        m_i, m_j = matched.get((i, j), (0, 0))
        scores.append(PairScore(i, j, m_i, m_j, _share(m_i, coverage[i]), _share(m_j, coverage[j])))
    scores.sort(key=lambda s: (-s.similarity, -(s.matched_a + s.matched_b), documents[s.a].key, documents[s.b].key))
    return scores


def _share(matched: int, coverage: float) -> float:
    return round(min(1.0, matched / coverage), 4) if coverage else 0.0


def _segments(code: str, slices) -> list[tuple[str, bool]]:
    """`code` cut at copydetect's copied slices (start and end rows) into (text, matched) runs."""
    runs: list[tuple[str, bool]] = []
    position = 0
    spans = sorted((int(s), int(e)) for s, e in zip(slices[0], slices[1])) if len(slices) and len(slices[0]) else []
    for start, end in spans:
        start, end = max(start, position), min(end, len(code))
        if end <= start:
            continue
        if start > position:
            runs.append((code[position:start], False))
        runs.append((code[start:end], True))
        position = end
    if position < len(code):
        runs.append((code[position:], False))
    return runs


def file_matches(a: Document, b: Document, fingerprints_a: dict, fingerprints_b: dict) -> list[FileMatch]:
    """Both sides of every editable file the pair shares, matched regions marked."""
    from copydetect import compare_files

    matches = []
    for rel in sorted(set(a.files) & set(b.files)):
        fp_a, fp_b = fingerprints_a[rel], fingerprints_b[rel]
        slices_a = slices_b = []
        if fp_a.hashes and fp_b.hashes:
            _, _, (slices_a, slices_b) = compare_files(fp_a, fp_b)
        matches.append(FileMatch(rel, _segments(a.files[rel], slices_a), _segments(b.files[rel], slices_b)))
    return matches
