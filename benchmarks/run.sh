#!/usr/bin/env bash
# Reproduce every figure in BENCHMARKS.md: installs the project and wrk (Debian) when missing, then runs both
# benchmarks. Not part of CI: the test suite asserts correctness only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
pip install -q -e .
if ! command -v wrk >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null
fi
python benchmarks/knowledge_bench.py --rounds 30
python benchmarks/name_coverage.py --rounds 20
python benchmarks/bounds_bench.py
python benchmarks/hook_bench.py --repeat 200 --seconds 10
python benchmarks/http_bench.py --seconds 5
python benchmarks/replay_bench.py --seconds 5
