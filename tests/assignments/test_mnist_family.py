"""The shared MNIST-family data module (solutions/_shared/mnist_family.py), given to every
assignment that reads MNIST or Fashion-MNIST."""

import gzip
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.course import catalog

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "solutions" / "_shared" / "mnist_family.py"
MNIST_FAMILY = {"mnist", "fashion_mnist"}


def _reads_mnist_family(assignment_id: str) -> bool:
    """Its assignment.yaml offers MNIST or Fashion-MNIST as a dataset."""
    spec = catalog.load(assignment_id, REPO).spec
    return spec.dataset is not None and bool(MNIST_FAMILY & set(spec.dataset.choices))


USERS = [a for a in catalog.list_ids(REPO) if _reads_mnist_family(a)]


def test_the_shipped_four_read_mnist_family_data():
    assert {"colored_mnist", "channel_shift", "cnn_transfer", "cvae_ood"} <= set(USERS)


@pytest.fixture(scope="module")
def mnist_family():
    spec = importlib.util.spec_from_file_location("mnist_family", SHARED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_split_reads_back_from_plain_or_gzipped_idx_files(mnist_family, tmp_path, suffix):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", np.array([3, 7]))
    got, labels = mnist_family.load("fashion_mnist", tmp_path, "test")
    assert np.array_equal(got, images) and labels.tolist() == [3, 7] and labels.dtype == np.int64


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_file_larger_than_a_read_chunk_reads_whole_and_a_truncated_one_is_an_error(mnist_family, tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, size=(1_400, 28, 28), dtype=np.uint8)  # 1.1 MB
    assert images.nbytes > mnist_family.CHUNK
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    write_idx(path, images)
    assert np.array_equal(mnist_family.read_idx(path), images)
    short = tmp_path / f"short-idx3-ubyte{suffix}"
    write_idx(short, images[:3])
    data = gzip.decompress(short.read_bytes()) if suffix else short.read_bytes()
    short.write_bytes(gzip.compress(data[:-10]) if suffix else data[:-10])
    with pytest.raises(ValueError, match="2342 of 2352 bytes"):
        mnist_family.read_idx(short)


def test_handing_back_freed_memory_never_fails(mnist_family):
    assert mnist_family.hand_back_free_memory() is None  # glibc's malloc_trim here; a no-op where there is none


def test_absent_data_is_one_line_naming_where_it_looked(mnist_family, tmp_path):
    with pytest.raises(SystemExit) as caught:
        mnist_family.load("mnist", tmp_path, "train")
    assert str(caught.value) == (f"mnist not found under {tmp_path / 'MNIST' / 'raw'} "
                                 "(pass --download when online, or --data_dir)")
    with pytest.raises(SystemExit, match="unknown dataset 'kmnist'"):
        mnist_family.load("kmnist", tmp_path)


@pytest.mark.parametrize("assignment_id", USERS)
def test_each_assignment_reads_the_data_through_the_one_shared_module(assignment_id):
    solution = REPO / "solutions" / assignment_id
    own = solution / "mnist_family.py"
    assert own.is_symlink() and own.resolve() == SHARED.resolve(), "a copy, not the shared module"
    skeleton_copy = REPO / "skeleton" / assignment_id / "mnist_family.py"
    assert skeleton_copy.read_text() == SHARED.read_text()  # the handout gets the file itself, not a link
    for source in solution.glob("*.py"):
        if source.name != "mnist_family.py":
            assert "frombuffer" not in source.read_text(), f"{source.name} reads idx files itself"


def test_fashion_mnist_from_debian_loads_when_installed(mnist_family, tmp_path):
    if mnist_family.read_split(mnist_family.DEBIAN_FASHION) is None:
        pytest.skip("dataset-fashion-mnist is not installed")
    code = (f"import sys; sys.path.insert(0, {str(SHARED.parent)!r}); import mnist_family; "
            f"x, y = mnist_family.load('fashion_mnist', {str(tmp_path)!r}); print(x.shape, y.max())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "(60000, 28, 28) 9", done.stderr
