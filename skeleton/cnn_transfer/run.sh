#!/usr/bin/env bash
# Runs the graded CNN experiment with the seed taken from your student ID.
# Usage: ./run.sh STUDENT_ID [EXPERIMENT]   (e.g. ./run.sh 12332426 -> seed 2426; ./run.sh 12332426 imbalance or
#        transfer: those runs, graded by their unit tests, not by their logs)
# Environment: DATASET=fashion_mnist|course (default fashion_mnist, as graded),
#              DATA_DIR=folder with the course's dogs/ and dogcat/ (DATASET=course),
#              PYTHON=python3
# --download (or DOWNLOAD=1) is accepted for the same command line as the other assignments:
# Fashion-MNIST is downloaded whenever it is found neither under data/ nor where Debian puts it.
seed_digits=4  # assignments/cnn_transfer/assignment.yaml seed.digits: `grader build` refuses a run.sh that disagrees
experiments=(cnn imbalance transfer)
graded=(cnn)  # imbalance and transfer are graded by their unit tests: run them when you want to see them
# --- written by grader build from grader/course/run_common.sh ---
set -euo pipefail
cd "$(dirname "$0")"
# As the grader runs every step (2 cores, assignment.yaml limits.cpus): numeric libraries use that many threads,
# and a thread waiting for another sleeps instead of spinning, so the CPU time you see matches the grader's.
threads="${threads:-2}"
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads NUMEXPR_NUM_THREADS=$threads
export OMP_WAIT_POLICY=PASSIVE KMP_BLOCKTIME=0 GOMP_SPINCOUNT=0
id="${1:-}"
if [[ ! "$id" =~ ^[0-9]+$ ]] || (( ${#id} < seed_digits )); then
    echo "usage: ./run.sh STUDENT_ID [EXPERIMENT] [--download]   (digits; the seed is its last $seed_digits)" >&2
    exit 2
fi
shift
download="${DOWNLOAD:-0}"
selected=("${graded[@]}")  # ./run.sh ID EXPERIMENT runs that one; by default the experiments the grader scores
for arg in "$@"; do
    if [ "$arg" = --download ]; then
        download=1
    elif [[ "$arg" != *" "* && " ${experiments[*]} " == *" $arg "* ]]; then
        selected=("$arg")
    else
        known=$(printf ', %s' "${experiments[@]}")
        data=""; if [ -f DATA.md ]; then data="; see DATA.md for the data"; fi  # a handout without a dataset has none
        echo "unknown option or experiment $arg (known: --download$known$data)" >&2
        exit 2
    fi
done
seed=$((10#${id: -seed_digits}))
python="${PYTHON:-python3}"
run() {  # run LOG ARGS...: one experiment, its output shown and kept in LOG
    local log="$1"; shift
    echo "== $log"
    "$python" "$@" 2>&1 | tee "$log"
}
# --- end of the common part ---
dataset="${DATASET:-fashion_mnist}"
if [ "$dataset" = course ]; then
    export DOGS_DATA="${DATA_DIR:?set DATA_DIR to the course data}/dogs" DOGCAT_DATA="$DATA_DIR/dogcat"
    "$python" make_data.py --dataset course --data_dir "$DATA_DIR"
elif [ ! -d data/dogs ] || [ ! -d data/dogcat ]; then
    "$python" make_data.py --dataset "$dataset" --data_dir "${DATA_DIR:-data}" --out data
fi
for name in "${selected[@]}"; do
    case "$name" in
        cnn) run cnn_log.txt train.py --seed "$seed" ;;
        imbalance) run imbalance_log.txt imbalance.py --seed "$seed" ;;
        transfer) run transfer_log.txt transfer.py --seed "$seed" ;;  # ResNet-18: slow
    esac
done
echo "logs written; check your likely score with: grader check cnn_transfer --dir ."
