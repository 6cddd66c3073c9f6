# torch and torchvision from PyTorch's CPU wheel index when it answers, else from PyPI: sourced by
# run.sh (the grader's own venv) and copied into the Gradescope bundle's setup.sh (gradescope.py).
# The CPU wheels leave out CUDA's libraries (gigabytes and minutes of install on a machine that
# grades on its CPU); PyPI's build runs the same code on the CPU.
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
TORCH_FROM=pypi

# install_cpu_torch PYTHON PIN...: the pins (torch==X torchvision==Y) as CPU wheels into PYTHON's
# environment when the index answers within 10 s; a later `pip install` of the same pins keeps them
# (2.14.1+cpu satisfies ==2.14.1). An index that does not answer, or fails, costs seconds, not
# minutes of pip's retries: the next install takes torch from PyPI. Sets TORCH_FROM to cpu or pypi.
install_cpu_torch() {
  local python=$1
  shift
  if "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=10)' \
      "$TORCH_CPU_INDEX" >/dev/null 2>&1; then
    echo "[torch] PyTorch's CPU wheel index answers: $* from $TORCH_CPU_INDEX" >&2
    if "$python" -m pip install --disable-pip-version-check --timeout 30 --retries 1 \
        --index-url "$TORCH_CPU_INDEX" "$@"; then
      TORCH_FROM=cpu
      return 0
    fi
    echo "[torch] installing from PyTorch's CPU wheel index failed: torch comes from PyPI" >&2
  else
    echo "[torch] PyTorch's CPU wheel index ($TORCH_CPU_INDEX) is not reachable: torch comes from PyPI" \
      "(with CUDA's libraries, gigabytes)" >&2
  fi
  return 0
}
