#!/usr/bin/env bash
# Set up AgentGym on a fresh Debian/Ubuntu machine: system packages (bubblewrap, git) and a virtualenv in .venv
# with the package, its test tools, the embedded-model server and Ray (--executor ray). Safe to run again (everything is cached).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v git >/dev/null 2>&1 || need_apt+=(git)
# ip and unshare: the Ray test runs its cluster in a loopback-only network namespace (tests/test_ray.py)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v unshare >/dev/null 2>&1 || need_apt+=(util-linux)
# libseccomp builds the sandbox's seccomp filter (through the pyseccomp binding)
{ /sbin/ldconfig -p || ldconfig -p; } 2>/dev/null | grep 'libseccomp\.so\.2' >/dev/null || need_apt+=(libseccomp2)
# chromium: the browser tests of the HTML report and viewer (Playwright drives it; no browser download)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: please install ${need_apt[*]} (apt-get install ${need_apt[*]}) and run again" >&2; exit 1; fi
  echo "setup: installing ${need_apt[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# llama.cpp is compiled once (about 5 minutes on 2 cores) and pip caches the wheel afterwards.
# GGML_NATIVE=OFF: a -march=native build crashes on CPUs that advertise AMX; AVX2/FMA/F16C are portable enough.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
.venv/bin/python -m pip install -q -e ".[dev,local,ray]" 2>&1 | grep -v "^\[notice\]" || true
.venv/bin/python -c "import agentgym, openai, llama_cpp, ray" || { echo "setup: installation failed" >&2; exit 1; }
# Chart.js for the HTML report, pinned by agentgym/data/vendor/package-lock.json (without npm: tables only)
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix agentgym/data/vendor --no-audit --no-fund --silent >/dev/null
else
  echo "setup: npm not found: the HTML report will have tables but no charts" >&2
fi
echo "setup: ready (.venv/bin/agentgym)"
