#!/usr/bin/env bash
# tests/gpu/session.sh — what one lent GPU session checks and measures, in one call, under a
# deadline, most wanted first: build with CUDA; the CUDA tests (every op against the CPU
# reference, with and without cuDNN's graph-API engines, the whole model, recorded graphs, two
# threads); the training benchmark at batch 256 and 64 with the per-op profile and the cuDNN
# algorithm report; PyTorch's profile; the explorer's tmux tests with --device cuda; the
# sampling benchmark (graphs against direct); the SAT plan's models on the GPU.
# Each PyTorch comparison runs in the same call, on the same card.
#
# Carried next to the tree (ignored by git): .gpu/debs/*.deb (Debian's dev packages for
# ncurses, libsixel, libpng, zlib, OpenBLAS, and tmux: the device image lacks some and can
# fetch nothing) and .gpu/data/*.gz (Fashion-MNIST). Everything goes to $OUT as summary.txt
# (the headline lines) and logs.tgz.
#   DEADLINE  seconds from start by which everything must have ended (default 420; give the
#             device call timeout_s 480, which leaves a lease of 15 min room for a short rerun)
#   DEVICE    cuda (default); cpu dry-runs the script here, without a GPU, before spending device time
cd "$(dirname "$0")/../.." || exit 2
FINAL=${OUT:-./gpu-out}
DEADLINE=${DEADLINE:-420}
DEVICE=${DEVICE:-cuda}
LOGS=/tmp/gpu-logs
mkdir -p "$LOGS" "$FINAL"
trap 'tar -czf "$FINAL/logs.tgz" -C "$LOGS" . 2>/dev/null' EXIT
t_start=$SECONDS
left() { echo $((DEADLINE - (SECONDS - t_start))); }
# part NAME SECONDS CMD...: runs CMD with a timeout (never past the deadline), output to
# $LOGS/NAME.log; one line per part in the summary.
part() {
  local name=$1 limit=$2
  shift 2
  [ "$limit" -gt "$(( $(left) - 5 ))" ] && limit=$(( $(left) - 5 ))
  if [ "$limit" -lt 5 ]; then echo "SKIP  $name (no time left)" | tee -a "$FINAL/summary.txt"; return; fi
  local t0=$SECONDS
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  printf '%-5s %-28s exit %3d  %4d s\n' "$([ $rc = 0 ] && echo ok || echo FAIL)" "$name" $rc $((SECONDS - t0)) |
    tee -a "$FINAL/summary.txt"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; date -u +%FT%TZ; } 2>&1 |
  tee "$FINAL/summary.txt"
[ -d .gpu/debs ] && . tests/gpu/sysroot.sh > "$LOGS/sysroot.log" 2>&1
# Fashion-MNIST from the carried files, where the data loader looks for it.
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu/data" /usr/share/datasets/fashion-mnist; }
export PATH=/tmp/sysroot/usr/bin:$PATH   # tmux, from the carried packages
CUDNN_HOME=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || echo /usr/local/cuda)
export CUDNN_HOME LD_LIBRARY_PATH="$CUDNN_HOME/lib:$LD_LIBRARY_PATH"
python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())' >> "$FINAL/summary.txt" 2>&1

CUDA_FLAG=; [ $DEVICE = cuda ] && CUDA_FLAG=CUDA=1   # there, insist on CUDA
part build 150 make -j16 $CUDA_FLAG CUDNN_HOME="$CUDNN_HOME" build/stepscope build/run_tests
[ -x build/stepscope ] || { tail -40 "$LOGS/build.log"; exit 1; }
S=./build/stepscope
[ $DEVICE = cuda ] && export STEPSCOPE_REQUIRE_CUDA=1
export OMP_WAIT_POLICY=passive

part test-cuda 180 ./build/run_tests cuda -cuda_emu   # the emulated backend's tests are CI's
grep -E "^(FAIL|skip)|passed|rel L2 error [0-9.e+-]+ .*(output|gradients|DDIM)|worst tensor|losses over|bit-identical|side by side|graph-API engine|graph API refused" \
  "$LOGS/test-cuda.log" | tee -a "$FINAL/summary.txt"

# The target first: batch 256, whose profile and algorithm report come from a backend that also
# searched cuDNN's graph-API engines (every row, with and without the search, is timed anyway).
for b in 256 64; do
  extra=; limit=90; [ $b = 256 ] && extra=--engine-search limit=150   # three backends search engines there
  part bench-train-$b $limit $S bench train --device $DEVICE --batch $b --steps 20 --profile $extra
  grep -E "stepscope|pytorch|cuDNN|speed" "$LOGS/bench-train-$b.log" | head -12 | tee -a "$FINAL/summary.txt"
  if [ -n "$extra" ]; then  # what the search chose, from the algorithm report of the profiled run
    report=$(sed -n '/convolution algorithms:/,$p' "$LOGS/bench-train-$b.log")
    echo "  algorithm report: $(grep -cE '^  conv2d_[a-z_]+ .* engine [0-9]+ ' <<< "$report") of" \
      "$(grep -cE '^  conv2d_[a-z_]+ +[0-9]+,' <<< "$report") rows run a graph-API engine;" \
      "$(grep -c "graph API refused" "$LOGS/bench-train-$b.log") refusals" | tee -a "$FINAL/summary.txt"
  fi
done
# PyTorch's kernels at batch 256, to set beside ours (bench-train-256.log) shape for shape.
part torch-profile-256 60 python3 tests/bench/torch_unet.py --device $DEVICE --batch 256 --steps 10 --profile
part test-tui-cuda 90 env STEPSCOPE_TEST_DEVICE=$DEVICE ./build/run_tests tui -cuda_emu
grep -E "^(FAIL|skip)|passed" "$LOGS/test-tui-cuda.log" | tee -a "$FINAL/summary.txt"
part bench-sample 90 $S bench sample --device $DEVICE
grep -E "ddim|ddpm|ratio" "$LOGS/bench-sample.log" | tee -a "$FINAL/summary.txt"
part eval-plan 45 $S eval --plan assets/plan.txt --n 64 --bins 2 --device $DEVICE
tail -12 "$LOGS/eval-plan.log" >> "$FINAL/summary.txt"
part sample-plan 30 $S sample --plan assets/plan.txt --n 16 --sampler ddpm --device $DEVICE --out "$LOGS/plan-ddpm.png"
tail -3 "$LOGS/sample-plan.log" >> "$FINAL/summary.txt"
# Last, with what time is left: memcheck over recorded graphs and the GroupNorm kernels.
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
if [ $DEVICE = cuda ] && [ -n "$SAN" ]; then
  part memcheck-graphs 40 "$SAN" --tool memcheck --error-exitcode 1 ./build/run_tests cuda_model_graphs
  part memcheck-groupnorm 40 "$SAN" --tool memcheck --error-exitcode 1 ./build/run_tests cuda_groupnorm
fi
echo "session done after $((SECONDS - t_start)) s" | tee -a "$FINAL/summary.txt"
