#!/usr/bin/env bash
# tests/gpu/run.sh — build stepscope with CUDA and run the tests on a GPU machine, in one go.
#
#   tests/gpu/run.sh            (from the repository root)
#
# Every step runs even when an earlier one failed; each writes its log under $OUT (default
# ./gpu-out) and the script ends with a table of steps, exit codes and times. The exit code is
# 0 only when every step passed.
#
# cuDNN: CUDNN_HOME when set, else PyTorch's pip package (nvidia.cudnn: include/ and
# lib/libcudnn.so.9), else /usr/local/cuda or /usr. Knobs (environment):
#   OUT            where logs go                        (./gpu-out)
#   JOBS           make -j                              (16)
#   TEST_TIMEOUT   seconds for each test run            (300)
#   SANITIZE       1: compute-sanitizer memcheck on a few small tests, 0: skip it  (1)
#   SKIP_DEPS=1    no package check (an offline machine with carried packages)
#   SKIP_FULL=1    only the CUDA tests, not the whole suite
set -x
cd "$(dirname "$0")/../.." || exit 2
OUT=${OUT:-./gpu-out}
JOBS=${JOBS:-16}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
SANITIZE=${SANITIZE:-1}
mkdir -p "$OUT"

names=() codes=() times=() logs=()

# step NAME LOG CMD...: runs CMD, its output to the terminal and to $OUT/LOG; records the result.
step() {
  local name=$1 log=$2
  shift 2
  echo "=================== $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$OUT/$log"
  local rc=${PIPESTATUS[0]}
  names+=("$name") codes+=("$rc") times+=($((SECONDS - t0))) logs+=("$log")
  echo "=================== $name: exit $rc after $((SECONDS - t0)) s"
  return 0
}

# ---- the machine ----
# An explicit CUDNN_HOME wins, then PyTorch's pip package, then the usual system places.
find_cudnn() {
  local d
  if [ -n "${CUDNN_HOME:-}" ] && [ -f "$CUDNN_HOME/include/cudnn.h" ]; then echo "$CUDNN_HOME"; return; fi
  d=$(python3 -c 'import nvidia.cudnn as m, os; print(os.path.dirname(m.__file__) if getattr(m, "__file__", None) else list(m.__path__)[0])' 2>/dev/null)
  if [ -n "$d" ] && [ -f "$d/include/cudnn.h" ]; then echo "$d"; return; fi
  for d in /usr/local/cuda /usr; do
    if [ -n "$d" ] && { [ -f "$d/include/cudnn.h" ] || [ -f "$d/include/x86_64-linux-gnu/cudnn.h" ]; }; then echo "$d"; return; fi
  done
}
CUDNN_HOME=$(find_cudnn)
export CUDNN_HOME
# The toolkit: CUDA_HOME if set, else /usr/local/cuda, else wherever the nvcc on PATH lives.
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME=/usr/local/cuda
  if [ ! -x "$CUDA_HOME/bin/nvcc" ] && command -v nvcc >/dev/null; then CUDA_HOME=$(dirname "$(dirname "$(command -v nvcc)")"); fi
fi
export CUDA_HOME
# cuDNN 9 loads its sub-libraries (libcudnn_cnn.so.9, ...) with dlopen, which the executable's
# RUNPATH does not reach: put them on the library path.
for d in "$CUDNN_HOME/lib" "$CUDNN_HOME/lib64" "$CUDNN_HOME/lib/x86_64-linux-gnu"; do
  if ls "$d"/libcudnn.so* >/dev/null 2>&1; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; break; fi
done
# pip's cuDNN may load pip's cuBLASLt (its own CUDA major): keep it reachable, after cuDNN.
if [ -d "$CUDNN_HOME/../cublas/lib" ]; then LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(cd "$CUDNN_HOME/../cublas/lib" && pwd)"; fi

environment() {
  echo "CUDNN_HOME=$CUDNN_HOME"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  echo "CUDA_HOME=$CUDA_HOME"
  "$CUDA_HOME/bin/nvcc" --version
  ls -l "$CUDNN_HOME/lib" "$CUDNN_HOME/include" 2>&1 | head -40
  grep -h -E "define CUDNN_(MAJOR|MINOR|PATCHLEVEL) " "$CUDNN_HOME"/include/cudnn_version*.h 2>/dev/null | sort -u
  timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.is_available())'
  nproc
  [ -n "$CUDNN_HOME" ]  # the step fails when no cuDNN was found
}
step environment environment.log environment
# for scripts that run the binary after this one
printf 'export CUDNN_HOME=%q LD_LIBRARY_PATH=%q\n' "$CUDNN_HOME" "$LD_LIBRARY_PATH" > "$OUT/env.sh"

# ---- build ----
# The build targets directly: `make all` first runs the package check (deps), which may want
# apt-get on an offline machine. deps runs on its own, for the record.
[ "${SKIP_DEPS:-0}" = 1 ] || step deps deps.log timeout 90 make --no-print-directory deps
rm -f build/run_tests build/stepscope  # never test a binary left over from an earlier build
step build build.log make -j"$JOBS" CUDA=1 CUDA_HOME="$CUDA_HOME" CUDNN_HOME="$CUDNN_HOME" build/run_tests
step build-bin build-bin.log make -j"$JOBS" CUDA=1 CUDA_HOME="$CUDA_HOME" CUDNN_HOME="$CUDNN_HOME" build/stepscope

# ---- tests ----
export STEPSCOPE_REQUIRE_CUDA=1  # here a CUDA test without a usable device fails, not skips
if [ -x build/run_tests ]; then
  step test-cuda test-cuda.log timeout "$TEST_TIMEOUT" ./build/run_tests cuda
  [ "${SKIP_FULL:-0}" = 1 ] || step test-all test-all.log timeout "$TEST_TIMEOUT" ./build/run_tests
  SAN=$(command -v compute-sanitizer || ls "$CUDA_HOME"/bin/compute-sanitizer "$CUDA_HOME"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
  if [ "$SANITIZE" = 1 ] && [ -n "$SAN" ]; then
    # The small shapes only: memcheck slows kernels (and cuDNN's algorithm search) a lot.
    # At most 4 x 45 s; a timeout here (exit 124) costs nothing but the check itself.
    for t in cuda_conv_small cuda_upsample2x cuda_chan_copy cuda_groupnorm; do
      step "memcheck $t" "memcheck-$t.log" timeout 45 "$SAN" --tool memcheck --error-exitcode 1 ./build/run_tests "$t"
    done
  fi
else
  echo "build/run_tests was not built: no tests run"
fi

# ---- summary ----
fail=0
summary() {
  echo
  echo "==================== summary ($(date -u +%FT%TZ), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  printf '%-30s %5s %6s  %s\n' step exit secs "log under $OUT, test result"
  for i in "${!names[@]}"; do
    local result
    result=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT/${logs[$i]}" 2>/dev/null | tail -1)
    printf '%-30s %5s %6s  %s  %s\n' "${names[$i]}" "${codes[$i]}" "${times[$i]}" "${logs[$i]}" "$result"
  done
  for log in test-cuda.log test-all.log; do
    [ -f "$OUT/$log" ] || continue
    echo "-- failures and skips in $log:"
    grep -E '^(FAIL|skip) ' "$OUT/$log" | head -40
  done
}
set +x
for rc in "${codes[@]}"; do [ "$rc" = 0 ] || fail=1; done
summary 2>&1 | tee "$OUT/summary.txt"
exit $fail
