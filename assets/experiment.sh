#!/usr/bin/env bash
# assets/experiment.sh — `make experiment`: does Step-Adaptive Training beat the base model
# at about 80 % of its compute on Fashion-MNIST? Every number comes from stepscope's own
# commands; on a GPU it takes minutes, on two CPU cores many hours.
#
# Arms (all from the shipped base model, all fine-tuned with the same settings):
#   base        the base model as shipped
#   control     the base + G*FT more steps over all t (the fair control: the same extra
#               training the SAT group models get together)
#   sat         SAT, progressive, N = 5, k = 0.5 (0.6 .. 1.0 of the base MACs, ~80 %)
#   regressive  the reverse allocation (big models where x_t is mostly noise)
#   uniform     one model pruned to 80 % for every step (as Diff-Pruning does), G*FT steps
# Each is scored by FID-FMNIST on N samples with the same seeds and sampler (DDIM-50).
#
# Knobs (environment): STEPSCOPE (./stepscope), DEVICE (auto), BASE (assets/base.safetensors),
# OUT (runs/experiment), FT (fine-tuning steps per group model, 500), N (FID samples, 2000),
# ROUNDS (proxy-search rounds, 4), BATCH (128), LR (5e-4), DEADLINE (seconds; arms that would
# start after it are skipped and say so), ARMS (which arms, in order).
set -uo pipefail
S=${STEPSCOPE:-./stepscope}
DEV=${DEVICE:-auto}
BASE=${BASE:-assets/base.safetensors}
OUT=${OUT:-runs/experiment}
FT=${FT:-500}
N=${N:-2000}
ROUNDS=${ROUNDS:-4}
BATCH=${BATCH:-128}
LR=${LR:-5e-4}
DEADLINE=${DEADLINE:-0}
ARMS=${ARMS:-"base sat control uniform regressive"}
G=5
mkdir -p "$OUT"
t_start=$SECONDS
table="$OUT/table.md"
ft="--batch $BATCH --lr $LR --warmup 50 --save-every 0 --device $DEV --quiet"

in_time() {
  if [ "$DEADLINE" -gt 0 ] && [ $((SECONDS - t_start)) -ge "$DEADLINE" ]; then
    echo "| $1 | skipped: the time budget ran out | | | |" >> "$table"
    return 1
  fi
}

fid() {  # fid NAME --model FILE | --plan PLAN
  local name=$1; shift
  local line
  line=$($S eval "$@" --fid "$N" --steps 50 --seed 0 --batch 500 --device "$DEV" --fid-png "$OUT/$name.png" | tee "$OUT/$name.fid.txt" | grep '^result')
  if [ -z "$line" ]; then
    echo "| $name | failed (see $OUT/$name.fid.txt and the log) | | | |" >> "$table"
    return 1
  fi
  # result fid_fmnist=F gmacs_per_sample=M compute=C sample_sec=S n=N
  eval "$(echo "$line" | sed 's/^result //')"
  printf '| %s | %.3f | %.3f G (%.1f %%) | %.2f s | %s |\n' "$name" "$fid_fmnist" "$gmacs_per_sample" \
    "$(awk "BEGIN { print $compute * 100 }")" "$sample_sec" "$2" >> "$table"
}

sat_arm() {  # sat_arm NAME ORDER
  $S plan --model "$BASE" --groups $G --k 0.5 --order "$2" --rounds "$ROUNDS" --finetune "$FT" --out "$OUT/$1.plan" > "$OUT/$1.plan.txt"
  $S prune --plan "$OUT/$1.plan" --device "$DEV" --quiet | tee "$OUT/$1.prune.txt"
  $S finetune --plan "$OUT/$1.plan" --steps "$FT" $ft
  fid "$1" --plan "$OUT/$1.plan"
}

{
  echo "FID-FMNIST on $N samples, DDIM-50 (trailing, eta 0), seeds 0..$((N - 1)); MACs per sample against the base;"
  echo "sampling time of the $N samples on the device named in $OUT/*.fid.txt."
  echo
  echo "| arm | FID-FMNIST | MACs per sample | sampling | model |"
  echo "|---|---|---|---|---|"
} > "$table"

for arm in $ARMS; do
  in_time "$arm" || continue
  echo "== $arm ($((SECONDS - t_start)) s)"
  case $arm in
    base) fid base --model "$BASE" ;;
    control)
      $S train --init "$BASE" --steps $((G * FT)) --out "$OUT/control.safetensors" $ft
      fid control --model "$OUT/control.safetensors" ;;
    sat) sat_arm sat progressive ;;
    regressive) sat_arm regressive regressive ;;
    uniform)
      $S plan --model "$BASE" --groups 1 --ratios 0.8 --rounds "$ROUNDS" --out "$OUT/uniform.plan" > "$OUT/uniform.plan.txt"
      $S prune --plan "$OUT/uniform.plan" --device "$DEV" --quiet | tee "$OUT/uniform.prune.txt"
      $S finetune --plan "$OUT/uniform.plan" --steps $((G * FT)) $ft
      fid uniform --plan "$OUT/uniform.plan" ;;
  esac
done
echo "experiment done after $((SECONDS - t_start)) s"
cat "$table"
