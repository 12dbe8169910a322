#!/usr/bin/env bash
# GPU check of the first-order backend: installs nothing, needs no network.
# Assumes numpy, scipy, cupy (and torch, unused here) are importable by $PYTHON.
# Runs the GPU-marked tests and the GPU benchmark (< 5 minutes on an H100/H200-class card) and
# writes everything under $OUT (default ./gpu-results):
#   device.txt        nvidia-smi and cupy's view of the device
#   pytest-gpu.txt    the GPU-marked tests (junit in pytest-gpu.xml)
#   bench-gpu.md      the benchmark table on the GPU, with the memory-bandwidth fraction
#   bench.log         the benchmark's console output
#   status.txt        exit codes of each step
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-./gpu-results}"
PYTHON="${PYTHON:-python}"   # e.g. PYTHON=.venv/bin/python benchmarks/gpu_check.sh
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

{ nvidia-smi 2>&1 || echo "nvidia-smi not found"
  "$PYTHON" - <<'PY' 2>&1
import cupy
p = cupy.cuda.runtime.getDeviceProperties(0)
print("cupy", cupy.__version__, "device", p["name"].decode(), "memory GiB",
      round(p["totalGlobalMem"] / 2**30, 1))
PY
} > "$OUT/device.txt"

timeout 150 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider \
  tests/test_firstorder_gpu.py --junitxml="$OUT/pytest-gpu.xml" > "$OUT/pytest-gpu.txt" 2>&1
tests_rc=$?

# the benchmark on the GPU only (baselines are CPU numbers, see docs/benchmarks/firstorder.md),
# plus Clarabel on the largest rows it can hold, for the GPU-vs-Clarabel ratio
timeout 140 "$PYTHON" benchmarks/bench_firstorder.py --device gpu --no-baselines --large \
  --time-limit 30 --only "sdplib mcp100,sdplib theta2,broyden,dense n=20" \
  --out "$OUT/bench-gpu.md" > "$OUT/bench.log" 2>&1
bench_rc=$?

printf 'tests %s\nbench %s\n' "$tests_rc" "$bench_rc" > "$OUT/status.txt"
cat "$OUT/status.txt"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
