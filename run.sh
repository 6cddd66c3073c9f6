#!/usr/bin/env bash
# Grader's one command for newcomers and CI.
#   ./run.sh                 set up on first use, then grade the bundled example submissions
#   ./run.sh test [ARGS]     set up on first use, then run the whole test suite (ARGS go to pytest)
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

setup() {
    [ -d "$FASHION" ] || apt_install dataset-fashion-mnist
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "[run.sh] Python 3.11 or newer is needed" >&2; exit 2; }
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv "$VENV"; }
    fi
    # Reinstall only when the pinned dependencies change.
    local stamp="$VENV/.grader-deps-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "[run.sh] installing Python dependencies into $VENV (torch takes a few minutes the first time)" >&2
        "$VENV/bin/pip" install -q --disable-pip-version-check -e "$REPO[ml,test]"
        rm -f "$VENV"/.grader-deps-*
        touch "$stamp"
    fi
}

setup
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
