#!/usr/bin/env bash
# Runs the graded Colored MNIST experiments (IRM, groupDRO, the bonus VREx) with the seed taken from your student ID.
# Usage: ./run.sh STUDENT_ID [EXPERIMENT]   (e.g. ./run.sh 12332426 -> seed 2426; ./run.sh 12332426 ERM: that one only,
#        one of ERM IRM groupDRO VREx ANDMask)
# --download (or DOWNLOAD=1): let torchvision download the digits when they are not under data/.
# Environment: DATASET=fashion_mnist|mnist (default fashion_mnist, as graded), PYTHON=python3,
#              BONUS=0 to skip the bonus V-REx run
seed_digits=4  # assignments/colored_mnist/assignment.yaml seed.digits: `grader build` refuses a run.sh that disagrees
experiments=(ERM IRM groupDRO VREx ANDMask)
graded=(IRM groupDRO)  # ERM (the baseline) and ANDMask (graded by its unit tests) only when named
if [ "${BONUS:-1}" != 0 ]; then graded+=(VREx); fi
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
common=(--seed "$seed" --dataset "${DATASET:-fashion_mnist}" --no_cuda)
if [ "$download" = 1 ]; then common+=(--download); fi
for name in "${selected[@]}"; do
    case "$name" in
        ERM) run ERM_log.txt train.py "${common[@]}" --trainer ERM ;;
        IRM) run IRM_log.txt train.py "${common[@]}" --reg_name IRM ;;
        groupDRO) run groupDRO_log.txt train.py "${common[@]}" --trainer groupDRO ;;
        VREx) run VREx_log.txt train.py "${common[@]}" --reg_name VREx ;;
        ANDMask) run ANDMask_log.txt train.py "${common[@]}" --trainer ANDMask ;;
    esac
done
echo "logs written; check your likely score with: grader check colored_mnist --dir ."
