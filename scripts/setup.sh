#!/usr/bin/env bash
# `npm run setup`: install what the test suite needs on a fresh Debian/Ubuntu machine, then the
# npm dependencies. The one list of system packages: .ci/run calls this script too.
#
# As root it runs apt-get (update once, and only when something is missing). Otherwise it prints
# the exact command to run as root and exits 1, so `npm run setup && npm test` stops there rather
# than running tests that would fail for want of a package.
#
#   scripts/setup.sh            install what is missing, then `npm ci` if node_modules is not in sync
#   scripts/setup.sh --dry-run  print what it would do, change nothing
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1

# Debian packages (each: why, and the check that it is there):
# - the Python side (client tests, PyTorch example) uses Debian's python3-* packages, since PyPI
#   is unreachable, and /usr/bin/python3 is the interpreter they install into; OpenBLAS makes
#   Debian's torch ~10× faster on CPU than the reference BLAS it falls back to;
# - headless Chromium for the browser tests (report page, live dashboard) via playwright-core;
# - the zstd CLI (zstd, pzstd), an independent writer of the `.zst` test fixtures;
# - nginx: the real HTTP server the remote-source tests (http:// paths) run against.
missing=()
/usr/bin/python3 -c "import zmq, msgpack, numpy, torch" 2>/dev/null || missing+=(python3-zmq python3-msgpack python3-numpy python3-torch)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || missing+=(libopenblas0-pthread)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ [ -x /usr/bin/zstd ] && [ -x /usr/bin/pzstd ]; } || missing+=(zstd)
[ -x /usr/sbin/nginx ] || missing+=(nginx)

if [ ${#missing[@]} -gt 0 ]; then
  install="apt-get update && apt-get install -y ${missing[*]}"
  if [ "$dry" = 1 ]; then
    echo "setup: missing: ${missing[*]}; would run: $install"
  elif [ "$(id -u)" != 0 ]; then
    echo "setup: the tests need Debian packages that are missing: ${missing[*]}" >&2
    echo "setup: run as root:  sudo sh -c '$install'   (then npm run setup again)" >&2
    echo "setup: or opt out of what you cannot install: MIXLOAD_SKIP_BROWSER=1 (chromium), MIXLOAD_SKIP_PYTHON=1 (python3-*)" >&2
    exit 1
  elif ! command -v apt-get >/dev/null; then
    echo "setup: no apt-get here; install the equivalents of: ${missing[*]}" >&2
    exit 1
  else
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  echo "setup: Debian packages present (python3-zmq/msgpack/numpy/torch, libopenblas0-pthread, chromium, zstd, nginx)"
fi

# npm dependencies: `npm ci` when node_modules is absent or out of step with the lock file (it
# deletes node_modules, so not when `npm ls` finds the tree complete).
if [ -d node_modules ] && npm ls --all >/dev/null 2>&1; then
  echo "setup: node_modules matches package-lock.json"
elif [ "$dry" = 1 ]; then
  echo "setup: would run: npm ci"
else
  npm ci --no-audit --no-fund
fi
