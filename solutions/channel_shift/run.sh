#!/usr/bin/env bash
# Trains the CNN straight-forwardly and group-balanced, with the seed taken from your student ID.
# Usage: ./run.sh STUDENT_ID [EXPERIMENT]   (e.g. ./run.sh 12332426 -> seed 2426: the graded group-balanced run;
#        ./run.sh 12332426 plain: the straight-forward one, for comparison)
# --download (or DOWNLOAD=1): let torchvision download the digits when they are not under data/.
# Environment: DATASET=fashion_mnist|mnist (default fashion_mnist, as graded), PYTHON=python3
seed_digits=4  # assignments/channel_shift/assignment.yaml seed.digits: `grader build` refuses a run.sh that disagrees
experiments=(plain balanced)
graded=(balanced)
source "$(dirname "$0")/../../grader/course/run_common.sh"  # grader build writes the grader's common part here
fetch=()
if [ "$download" = 1 ]; then fetch=(--download); fi
for name in "${selected[@]}"; do
    case "$name" in
        plain) run plain_log.txt train.py --seed "$seed" --dataset "${DATASET:-fashion_mnist}" "${fetch[@]}" --method plain ;;
        balanced) run balanced_log.txt train.py --seed "$seed" --dataset "${DATASET:-fashion_mnist}" "${fetch[@]}" --method balanced ;;
    esac
done
echo "logs written; check your likely score with: grader check channel_shift --dir ."
