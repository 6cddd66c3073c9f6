#!/usr/bin/env python3
"""Benchmark: `grader similarity` over 400 synthetic Colored MNIST submissions. Target: < 60 s
on 2 cores (`--jobs 2`). Run on purpose: `.venv/bin/python benchmarks/similarity.py [N] [JOBS]`.

Each submission is the skeleton's model.py with every TODO filled by one of three
implementations (the reference's, or one of two written differently), local names renamed
at random, the classes shuffled and comments rewritten; a few are the untouched skeleton or
half done, and some are planted near-copies of another. The script prints the wall time of the
real command and how many planted copies are among the pairs it reports."""

from __future__ import annotations

import csv
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 400
JOBS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
PLANTED = 20  # near-copies of another student's file

# Alternatives for each TODO, keyed by a word of its hint. The reference's own body is added at run time.
ALTERNATIVES = {
    "update self.q": [
        """\
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
        """\
        keys = sorted(risks)
        r = torch.stack([risks[k] for k in keys])
        if self.training:
            q = self.q.clone()
            q[keys] = torch.exp(torch.log(q[keys]) + self.eta * r.detach())
            self.q = q / q.sum()
        return torch.dot(self.q[keys], r)""",
    ],
    "gradient of the risk": [
        """\
        dummy = torch.tensor(1.0, requires_grad=True)
        l = torch.nn.functional.binary_cross_entropy_with_logits(dummy * logits, y)
        g = torch.autograd.grad([l], [dummy], create_graph=True)[0]
        return g * g""",
        """\
        w = torch.tensor(1.0, device=logits.device).requires_grad_()
        loss = nn.functional.binary_cross_entropy_with_logits(logits * w, y)
        grad = torch.autograd.grad(loss, w, create_graph=True)[0]
        return torch.sum(grad ** 2)""",
    ],
    "ERM term": [
        """\
        total_risk = 0.0
        total_pen = 0.0
        count = 0
        for env_id in torch.unique(env).tolist():
            sel = env == env_id
            total_risk = total_risk + torch.nn.functional.binary_cross_entropy_with_logits(logits[sel], y[sel])
            total_pen = total_pen + self.penalty(logits[sel], y[sel])
            count += 1
        return total_risk / count + self.lam * total_pen / count""",
        """\
        groups = [env == e for e in range(self.n_envs) if (env == e).sum() > 0]
        erm = torch.stack([nn.functional.binary_cross_entropy_with_logits(logits[g], y[g]) for g in groups]).mean()
        pen = torch.stack([self.penalty(logits[g], y[g]) for g in groups]).mean()
        return erm + self.lam * pen""",
    ],
    "mean risk": [
        """\
        r = torch.stack([v for v in risks.values()])
        mu = r.mean()
        return mu + self.beta * ((r - mu) ** 2).mean()""",
        """\
        values = torch.stack(list(risks.values()))
        return torch.mean(values) + self.beta * torch.var(values, unbiased=False)""",
    ],
    "sign agreement": [
        """\
        g = torch.stack(grads, dim=0)
        agree = torch.abs(torch.mean(torch.sign(g), dim=0)) >= self.tau
        out = torch.where(agree, g.mean(dim=0), torch.zeros_like(g[0]))
        if self.rescale:
            frac = agree.float().mean()
            out = out / max(float(frac), 1e-12)
        return out""",
        """\
        signs = torch.stack([torch.sign(x) for x in grads])
        keep = (signs.mean(dim=0).abs() >= self.tau).float()
        avg = sum(grads) / len(grads)
        result = keep * avg
        if self.rescale and keep.sum() > 0:
            result = result * keep.numel() / keep.sum()
        return result""",
    ],
}
NAMES = ["tmp", "val", "acc", "buf", "item", "part", "cur", "res", "agg", "store", "hold", "box", "node", "piece"]
COMMENTS = ["# compute it", "# see the paper", "# TODO check", "# works now", "# per environment", "# as in lecture"]


def reference_bodies(solution: str) -> dict[str, str]:
    bodies = {}
    for m in re.finditer(r"# BEGIN SOLUTION: (?P<hint>[^\n]*)\n(?P<body>.*?)\n\s*# END SOLUTION", solution, re.S):
        key = next(k for k in ALTERNATIVES if k in m["hint"])
        bodies[key] = m["body"]
    return bodies


def disguise(code: str, rng: random.Random) -> str:
    """Rename the local names, rewrite the comments, shuffle the classes."""
    locals_ = sorted(set(re.findall(r"^\s+([a-z_][a-z0-9_]*)\s*(?:,|=[^=])", code, re.M)) - {"self"})
    for name in locals_:
        code = re.sub(rf"(?<![.\w]){name}\b", f"{rng.choice(NAMES)}_{name[:2]}{rng.randrange(100)}", code)
    code = re.sub(r"#[^\n]*", lambda _: rng.choice(COMMENTS), code)
    head, *classes = re.split(r"\n(?=class )", code)
    rng.shuffle(classes)
    return "\n".join([head] + classes) + "\n"


def submission(skeleton: str, bodies: dict[str, list[str]], rng: random.Random, done: float) -> str:
    lines = []
    for line in skeleton.splitlines():
        if "raise NotImplementedError" in line:
            key = next(k for k in bodies if k in line)
            lines.append(rng.choice(bodies[key]) if rng.random() < done else line)
        elif "# TODO" not in line:
            lines.append(line)
    return disguise("\n".join(lines) + "\n", rng)


def write(folder: Path, stem: str, code: str) -> None:
    with zipfile.ZipFile(folder / f"{stem}.zip", "w") as z:
        z.writestr(f"{stem}/model.py", code)


def main() -> None:
    rng = random.Random(553)
    skeleton = (REPO / "skeleton" / "colored_mnist" / "model.py").read_text()
    reference = reference_bodies((REPO / "solutions" / "colored_mnist" / "model.py").read_text())
    bodies = {k: [reference[k]] + alternatives for k, alternatives in ALTERNATIVES.items()}
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch"
        batch.mkdir()
        codes: dict[str, str] = {}
        planted: set[frozenset[str]] = set()
        for n in range(SUBMISSIONS):
            stem = f"2026{n:04d}_student{n}"
            if n < PLANTED:
                original = f"2026{SUBMISSIONS - 1 - n:04d}_student{SUBMISSIONS - 1 - n}"
                planted.add(frozenset({stem, original}))
                continue  # written once its original exists
            roll = rng.random()
            codes[stem] = skeleton if roll < 0.04 else submission(skeleton, bodies, rng, 0.5 if roll < 0.15 else 1.0)
        for pair in sorted(planted, key=sorted):  # a set's order changes with the hash salt
            copy, original = sorted(pair)
            codes[copy] = disguise(codes[original], rng)
        for stem, code in codes.items():
            write(batch, stem, code)
        out = Path(tmp) / "out"
        start = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "grader", "similarity", str(batch), "--assignment", "colored_mnist",
                        "--out", str(out), "--jobs", str(JOBS)], check=True, stdout=subprocess.DEVNULL, cwd=REPO)
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        rows = list(csv.DictReader(open(out / "similarity.csv", encoding="utf-8")))
    above = [frozenset({r["submission_a"], r["submission_b"]}) for r in rows if r["above_threshold"] == "yes"]
    print(f"cores: {os.cpu_count()}, jobs: {JOBS}, submissions: {SUBMISSIONS}, pairs compared: {len(rows)}")
    print(f"grader similarity: {seconds:.1f} s wall (target < 60 s on 2 cores), {cpu:.1f} s CPU in all its processes; "
          f"load average before and after: {load[0]:.1f}, {os.getloadavg()[0]:.1f}")
    print(f"pairs at or above the threshold: {len(above)}; planted near-copies among them: "
          f"{len(planted & set(above))} of {len(planted)}")


if __name__ == "__main__":
    main()
