#!/usr/bin/env bash
# Takes the README's TensorBoard screenshots (docs/images/tensorboard-*.png) in a real browser:
# trains the quickstart run and a small training sweep into a throwaway runs folder, serves
# them with ./latentlab tensorboard, and photographs the pages with Playwright driving the
# system's Chromium (Playwright's own browser builds come from a CDN this project does not
# reach; Debian's chromium package is used instead). Playwright lives in a throwaway
# environment of its own: it is not a dependency of LatentLab.
#   scripts/screenshots/tensorboard.sh            (about 8 minutes on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SCREENSHOT_VENV:-/tmp/latentlab-screenshot-venv}"
PLAYWRIGHT=1.65.2
chromium="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chromium" ]; then
  echo "tensorboard.sh: no Chromium on PATH; install it: apt-get install chromium" >&2
  exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "playwright==$PLAYWRIGHT"
fi
"$venv/bin/python" "$here/tensorboard.py" "$root" "$chromium" "${SCREENSHOT_RUNS:-/tmp/latentlab-screenshot-runs}"
