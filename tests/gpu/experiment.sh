#!/usr/bin/env bash
# tests/gpu/experiment.sh — the second kind of GPU session: build, re-check the CUDA ops that
# changed, the training benchmark against PyTorch, then assets/experiment.sh (the SAT
# experiment and the shipped group models) in the time that is left. Everything the device
# returns goes to $OUT: logs.tgz, table.md, sweep.csv, pareto.png, summary.txt and the distilled
# SAT group models in their shipping form (sat.g0..g4.safetensors).
#   DEADLINE  seconds from start by which everything must have ended (default 215)
set -x
cd "$(dirname "$0")/../.." || exit 2
FINAL=${OUT:-./gpu-out}
DEADLINE=${DEADLINE:-215}
LOGS=/tmp/gpu-logs
mkdir -p "$LOGS" "$FINAL"
trap 'tar -czf "$FINAL/logs.tgz" -C "$LOGS" . 2>/dev/null' EXIT
t_start=$SECONDS
left() { echo $((DEADLINE - (SECONDS - t_start))); }

. tests/gpu/sysroot.sh
CUDNN_HOME=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || echo /usr/local/cuda)
export CUDNN_HOME LD_LIBRARY_PATH="$CUDNN_HOME/lib:$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$FINAL/summary.txt"
make -j16 CUDA=1 CUDNN_HOME="$CUDNN_HOME" build/stepscope build/run_tests > "$LOGS/build.log" 2>&1 || { tail -30 "$LOGS/build.log"; exit 1; }
ln -sf build/stepscope stepscope

# the ops whose CUDA kernels changed since the last device run (two-stage reductions)
STEPSCOPE_REQUIRE_CUDA=1 timeout 60 ./build/run_tests cuda_bcast > "$LOGS/tests.log" 2>&1
STEPSCOPE_REQUIRE_CUDA=1 timeout 60 ./build/run_tests cuda_groupnorm >> "$LOGS/tests.log" 2>&1
STEPSCOPE_REQUIRE_CUDA=1 timeout 60 ./build/run_tests cuda_conv_model >> "$LOGS/tests.log" 2>&1
grep -E "^(ok|FAIL)|passed" "$LOGS/tests.log" | tee -a "$FINAL/summary.txt"

for b in 64 256; do
  timeout 45 ./stepscope bench train --device cuda --batch $b --steps 20 2>&1 | tee -a "$FINAL/summary.txt"
done

# Fashion-MNIST (the models record the spec "fashion-mnist") from the carried files.
[ -e /usr/share/datasets/fashion-mnist ] || { mkdir -p /usr/share/datasets && ln -s "$PWD/.gpu/data" /usr/share/datasets/fashion-mnist; }
OUT=runs/experiment BUDGET=${BUDGET:-2000} DEADLINE=$(( $(left) - 40 )) DEVICE=cuda STEPSCOPE=./stepscope \
  timeout $(( $(left) - 15 )) assets/experiment.sh > "$LOGS/experiment.log" 2>&1
tail -12 "$LOGS/experiment.log"
cp runs/experiment/table.md runs/experiment/sweep.csv runs/experiment/pareto.png "$FINAL/"
(cd runs/experiment && tar -czf "$LOGS/arms.tgz" --exclude='*.safetensors' --exclude=cache .)
# the distilled SAT group models, in their shipping form (EMA weights only)
for j in 0 1 2 3 4; do
  f=runs/experiment/sat-distill/plan.g$j.ft.safetensors
  [ -f "$f" ] || f=runs/experiment/sat-distill/plan.g$j.safetensors
  [ -f "$f" ] && timeout 20 ./stepscope train --resume "$f" --steps 0 --slim --out "$FINAL/sat.g$j.safetensors" --device cpu --quiet
done
echo "session done after $((SECONDS - t_start)) s"
