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
source "$(dirname "$0")/../../grader/course/run_common.sh"  # grader build writes the grader's common part here
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
