#!/usr/bin/env bash
# Runs the notebook headless, as the grader does, with the seed taken from your student ID.
# Usage: ./run.sh STUDENT_ID [EXPERIMENT]   (e.g. ./run.sh 12332426 -> seed 2426: all three steps, all graded;
#        EXPERIMENT: notebook, evaluation or generation, that step only)
# Writes executed/cvae_ood.ipynb (with its outputs), cvae_log.txt, ood_eval_log.txt (the grader's
# evaluation of the detector and classifier you exported; here on set 2, as a preview: the grader
# scores held-out images you do not have) and generation_log.txt (the grader's check of your
# generator; its classifier is trained once into judge.npz). Needs the grader tool installed
# (pip install ./grader-tool/grader, see README.md) for its notebook runner; PYTHON=python3 by default.
# --download (or DOWNLOAD=1) is accepted for the same command line as the other assignments:
# Fashion-MNIST is downloaded whenever it is found neither under data/ nor where Debian puts it.
seed_digits=4  # assignments/cvae_ood/assignment.yaml seed.digits: `grader build` refuses a run.sh that disagrees
experiments=(notebook evaluation generation)
graded=(notebook evaluation generation)
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
export GRADER_SEED=$seed
if ! "$python" -c "import grader.inside.notebook" 2>/dev/null; then
    echo "run.sh needs the grader tool for its notebook runner: pip install ./grader-tool/grader (see README.md)" >&2
    exit 2
fi
for name in "${selected[@]}"; do
    case "$name" in
        notebook) run cvae_log.txt -m grader.inside.notebook execute cvae_ood.ipynb --output executed/cvae_ood.ipynb ;;
        evaluation) run ood_eval_log.txt evaluate.py --results exports/results.npz --seed "$seed" detector:weights/scorer ;;
        generation)
            [ -f judge.npz ] || "$python" judge_generation.py train --out judge.npz
            run generation_log.txt judge_generation.py judge --judge judge.npz --generator weights/generator --seed "$seed" ;;
    esac
done
echo "logs written; check your likely score with: grader check cvae_ood --dir ."
