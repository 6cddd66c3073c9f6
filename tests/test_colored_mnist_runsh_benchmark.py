"""benchmarks/colored_mnist_runsh.py on the reference's own run.sh, with a stand-in train.py that
takes no time: it reads the logs the graded run writes, whichever they are."""

import importlib.util
import shutil

from conftest import REPO

spec = importlib.util.spec_from_file_location("colored_mnist_runsh", REPO / "benchmarks" / "colored_mnist_runsh.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)

# Generates the data on its first run in a folder and reads it from the cache after, as train.py does.
STAND_IN = """import pathlib
marker = pathlib.Path("data_cache") / "stand-in"
cached = marker.exists()
marker.parent.mkdir(exist_ok=True)
marker.touch()
print(f"data {'read from cache' if cached else 'generated'} in 0.0s")
"""


def test_the_benchmark_reads_the_logs_the_graded_run_writes(tmp_path, monkeypatch, capsys):
    reference = tmp_path / "repo" / "solutions" / "colored_mnist"
    reference.mkdir(parents=True)
    shutil.copy2(REPO / "solutions" / "colored_mnist" / "run.sh", reference / "run.sh")
    (reference / "train.py").write_text(STAND_IN)
    monkeypatch.setattr(benchmark, "REPO", tmp_path / "repo")
    benchmark.main()
    out = capsys.readouterr().out
    assert "second run skipped generation: True (IRM_log.txt, groupDRO_log.txt)" in out, out
