#!/usr/bin/env bash
# Grader's one command for newcomers and CI.
#   ./run.sh                 set up on first use (what grading needs: .[ml]), then grade the bundled example submissions
#   ./run.sh test [ARGS]     set up on first use (.[ml,test]), then run the whole test suite (ARGS go to pytest)
#   ./run.sh grader ARGS     run the grader CLI inside the project's environment
set -euo pipefail
# Paths a user types (`./run.sh grader grade sub.zip`, `-o my_handout`) are theirs: this script
# stays in the caller's folder and names the repository's files by absolute path.
REPO="$(cd "$(dirname "$0")" && pwd)"

VENV="${GRADER_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
FASHION=/usr/share/datasets/fashion-mnist

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PACKAGE...: Debian packages the project needs, installed once
    echo "[run.sh] installing Debian packages: $*" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# The torch and torchvision pins of the `ml` extra, read with the system's Python (no venv yet).
torch_pins() {
    "$PYTHON" - "$REPO/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    ml = tomllib.load(f)["project"]["optional-dependencies"]["ml"]
print(" ".join(r for r in ml if r.startswith(("torch==", "torchvision=="))))
PY
}

setup() {  # setup EXTRAS: the venv with the project and those extras (ml: grading; ml,test: development)
    local extras=$1
    [ -d "$FASHION" ] || apt_install dataset-fashion-mnist
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "[run.sh] Python 3.11 or newer is needed" >&2; exit 2; }
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv "$VENV"; }
    fi
    # Reinstall only when the pinned dependencies or the extras change; a venv set up for the tests
    # (ml,test) also serves the demo (ml). The stamp records how the install went (benchmarks/environments.py).
    local hash stamp
    hash=$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)
    stamp="$VENV/.grader-deps-$hash-$extras"
    if [ -f "$stamp" ] || { [ "$extras" = ml ] && [ -f "$VENV/.grader-deps-$hash-ml,test" ]; }; then
        return 0
    fi
    echo "[run.sh] installing Python dependencies into $VENV: .[$extras] (torch takes a few minutes the first time)" >&2
    local started=$SECONDS
    # shellcheck source=grader/commands/torch_cpu.sh
    source "$REPO/grader/commands/torch_cpu.sh"
    local pins
    pins=$(torch_pins)
    # shellcheck disable=SC2086  # the pins are words
    install_cpu_torch "$VENV/bin/python" $pins
    "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$REPO[$extras]"
    rm -f "$VENV"/.grader-deps-*
    printf 'extras=%s\ntorch_from=%s\nseconds=%s\ndate=%s\n' "$extras" "$TORCH_FROM" "$((SECONDS - started))" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$stamp"
}

# The demo and the grader need what grading needs; the tests add pytest, jsonschema and ruff.
if [ "${1:-demo}" = test ]; then setup ml,test; else setup ml; fi
case "${1:-demo}" in
    demo)   shift || true; cd "$REPO"; exec "$VENV/bin/grader" demo "$@" ;;
    test)   shift
            # The HTML reports are checked in a real headless browser.
            command -v chromium >/dev/null || apt_install chromium
            # Lint first: a second's work, and a red line here saves a long run.
            cd "$REPO"
            "$VENV/bin/ruff" check --quiet . || { echo "[run.sh] ruff check failed (see above)" >&2; exit 1; }
            exec "$VENV/bin/python" -m pytest -q -rs --durations=15 "$@" ;;
    grader) shift; exec "$VENV/bin/grader" "$@" ;;
    *)      echo "usage: ./run.sh [demo | test [PYTEST ARGS] | grader ARGS]" >&2; exit 2 ;;
esac
