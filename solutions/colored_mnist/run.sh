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
source "$(dirname "$0")/../../grader/course/run_common.sh"  # grader build writes the grader's common part here
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
