# The part every assignment's run.sh shares (grader/course/run_common.sh). An assignment's run.sh
# sets seed_digits, experiments (the names ./run.sh ID EXPERIMENT accepts) and graded (what
# ./run.sh ID runs), then sources this file; `grader build` writes it into the handout's run.sh
# in place of that line, so a handout's run.sh stands alone. It leaves: seed, python ($PYTHON,
# default python3), download (1 with --download or DOWNLOAD=1), selected (the experiments to run)
# and run LOG ARGS... (runs "$python" ARGS, its output shown and kept in LOG).
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
