#!/usr/bin/env bash
# assets/experiment.sh — `make experiment`: can Step-Adaptive Training beat the base model at
# about 80 % of its compute on Fashion-MNIST, and does it beat one uniformly pruned model at
# the same compute? Every number comes from stepscope's own commands, with error bars.
#
# Arms, all from the shipped base model, every trained arm with the same extra training
# (BUDGET optimizer steps in all, batch BATCH, lr LR):
#   base          the base model as shipped
#   control       the base + BUDGET steps over all t (the fair control)
#   sat           SAT, progressive, N = 5, k = 0.5 (~80 % of the MACs), plain loss, equal steps
#   sat-distill   the same plan, distilled from the base (--distill W), steps by loss gap
#   uniform       one model pruned to 80 % for every step (Diff-Pruning style), distilled
#   regressive    the reverse allocation, distilled, steps by loss gap
#   sweep         progressive (k = 0.75, 0.25, 0.01) and uniform (0.9, 0.7, 0.6) at about
#                 90 / 70 / 60 % of the MACs, distilled; with sat-distill and uniform, the
#                 compute sweep of runs/experiment/pareto.png
# Each is scored by `stepscope eval --fid N --seed-sets SETS`: FID-FMNIST and KID-FMNIST
# (features of stepscope's own classifier, not Inception), mean ± sd over SETS disjoint seed
# sets (the same seeds for every arm), and the paired difference to the base with its 95 %
# interval. Sample features are cached (OUT/cache), so the base is sampled once.
#
# Resumable: each arm keeps its plan, models and results under OUT/ARM/; a finished step is
# skipped and an interrupted fine-tune continues where it stopped. Rerun to continue.
#
# Knobs (environment): STEPSCOPE (./stepscope), DEVICE (auto), BASE (assets/base.safetensors),
# OUT (runs/experiment), BUDGET (2000), N (5000), SETS (3), STEPS (DDIM steps, 50), ROUNDS
# (proxy-search rounds, 4), BATCH (128), LR (5e-4), W (distillation weight, 0.7), ARMS
# (which arms, in order; ARMS= with nothing only remakes the tables), DEADLINE (seconds; arms that would start after it are left for the
# next run, and the tables are made from what is done).
set -uo pipefail
S=${STEPSCOPE:-./stepscope}
DEV=${DEVICE:-auto}
BASE=${BASE:-assets/base.safetensors}
OUT=${OUT:-runs/experiment}
BUDGET=${BUDGET:-2000}
N=${N:-5000}
SETS=${SETS:-3}
STEPS=${STEPS:-50}
ROUNDS=${ROUNDS:-4}
BATCH=${BATCH:-128}
LR=${LR:-5e-4}
W=${W:-0.7}
DEADLINE=${DEADLINE:-0}
ARMS=${ARMS-"base sat-distill uniform control sat regressive prog90 uni90 prog70 uni70 prog60 uni60"}
G=5
mkdir -p "$OUT"
# One run per folder: two would fine-tune the same checkpoints at once.
exec 9> "$OUT/.lock"
flock -n 9 || { echo "experiment: another run holds $OUT/.lock" >&2; exit 1; }
t_start=$SECONDS
ft="--batch $BATCH --lr $LR --warmup 50 --save-every 100 --device $DEV --quiet"
fid="--fid $N --seed-sets $SETS --steps $STEPS --seed 0 --batch 250 --device $DEV --cache $OUT/cache --csv"

say() { echo "== $* ($((SECONDS - t_start)) s)"; }

# plan_arm NAME "PLAN OPTIONS" "FINETUNE OPTIONS": plan, prune, fine-tune, score; each step once.
plan_arm() {
  local d="$OUT/$1"
  mkdir -p "$d"
  [ -f "$d/plan" ] || $S plan --model "$(realpath "$BASE")" $2 --rounds "$ROUNDS" --out "$d/plan" > "$d/plan.txt" || return 1
  if [ ! -f "$d/pruned" ]; then
    $S prune --plan "$d/plan" --device "$DEV" --quiet > "$d/prune.txt" || return 1
    touch "$d/pruned"
  fi
  if [ ! -f "$d/finetuned" ]; then
    $S finetune --plan "$d/plan" $3 $ft > "$d/finetune.txt" || return 1
    touch "$d/finetuned"
  fi
  score "$1" --plan "$d/plan"
}

# score NAME ARGS...: eval into OUT/NAME/eval.csv (written whole or not at all).
score() {
  local d="$OUT/$1"
  shift
  mkdir -p "$d"
  [ -f "$d/eval.csv" ] && return 0
  $S eval "$@" $fid > "$d/eval.csv.tmp" 2> "$d/eval.err" && mv "$d/eval.csv.tmp" "$d/eval.csv"
}

for arm in $ARMS; do
  if [ "$DEADLINE" -gt 0 ] && [ $((SECONDS - t_start)) -ge "$DEADLINE" ]; then
    say "$arm: left for the next run (DEADLINE $DEADLINE s)"
    continue
  fi
  say "$arm"
  case $arm in
    base) score base --model "$BASE" ;;
    control)
      d="$OUT/control"
      mkdir -p "$d"
      if [ ! -f "$d/trained" ]; then
        if [ -f "$d/model.safetensors" ]; then
          $S train --resume "$d/model.safetensors" --steps "$BUDGET" --out "$d/model.safetensors" --quiet --device "$DEV"
        else
          $S train --init "$BASE" --steps "$BUDGET" --out "$d/model.safetensors" $ft
        fi && touch "$d/trained"
      fi
      [ -f "$d/trained" ] && score control --model "$d/model.safetensors" --against "$BASE" ;;
    sat) plan_arm sat "--groups $G --order progressive --k 0.5" "--budget $BUDGET" ;;
    sat-distill) plan_arm sat-distill "--groups $G --order progressive --k 0.5" "--budget $BUDGET --steps-by loss --distill $W" ;;
    regressive) plan_arm regressive "--groups $G --order regressive --k 0.5" "--budget $BUDGET --steps-by loss --distill $W" ;;
    uniform) plan_arm uniform "--groups 1 --ratios 0.8" "--budget $BUDGET --distill $W" ;;
    prog90) plan_arm prog90 "--groups $G --order progressive --k 0.75" "--budget $BUDGET --steps-by loss --distill $W" ;;
    prog70) plan_arm prog70 "--groups $G --order progressive --k 0.25" "--budget $BUDGET --steps-by loss --distill $W" ;;
    prog60) plan_arm prog60 "--groups $G --order progressive --k 0.01" "--budget $BUDGET --steps-by loss --distill $W" ;;
    uni90) plan_arm uni90 "--groups 1 --ratios 0.9" "--budget $BUDGET --distill $W" ;;
    uni70) plan_arm uni70 "--groups 1 --ratios 0.7" "--budget $BUDGET --distill $W" ;;
    uni60) plan_arm uni60 "--groups 1 --ratios 0.6" "--budget $BUDGET --distill $W" ;;
    *) echo "experiment: unknown arm '$arm'" >&2 ;;
  esac || echo "experiment: arm $arm failed (its files are in $OUT/$arm)" >&2
done

# SAT at equal compute against one uniformly pruned model, paired (both are in the cache).
if [ -f "$OUT/sat-distill/eval.csv" ] && [ -f "$OUT/uniform/eval.csv" ]; then
  say "sat-distill against uniform"
  score sat-vs-uniform --plan "$OUT/sat-distill/plan" --against "$OUT/uniform/plan"
fi

# ---- the tables ----
# v FILE SUBJECT MEASURE STAT: one number of an eval CSV ("" when absent).
v() { awk -F, -v s="$2" -v m="$3" -v t="$4" '$1 == s && $2 == m && $3 == t { print $5; exit }' "$1"; }

table="$OUT/table.md"
sweep="$OUT/sweep.csv"
{
  echo "FID-FMNIST and KID-FMNIST (x1e3; features of stepscope's own classifier, not Inception): mean ± sd over"
  echo "$SETS seed sets of $N samples (DDIM-$STEPS, trailing, eta 0), the same seeds for every arm; KID over subsets."
  echo "Differences are paired with the base (same seeds), 95 % intervals. Extra training per arm: $BUDGET steps."
  echo
  echo "| arm | MACs | FID-FMNIST | KID-FMNIST ×1e3 | FID − base [95 % interval] | KID − base ×1e3 [95 % interval] | verdict |"
  echo "|---|---|---|---|---|---|---|"
} > "$table"
echo "allocation,macs_share,fid_mean,fid_sd,kid_mean,kid_sd" > "$sweep"
for arm in base control sat sat-distill uniform regressive prog90 prog70 prog60 uni90 uni70 uni60; do
  f="$OUT/$arm/eval.csv"
  [ -f "$f" ] || continue
  who=$(awk -F, 'NR > 1 && $1 != "run" && $1 != "real" { print $1; exit }' "$f")
  ref=$(awk -F, -v w="$who" 'NR > 1 && $1 != "run" && $1 != "real" && $1 != w && $1 !~ /-/ { print $1; exit }' "$f")
  fm=$(v "$f" "$who" fid mean); fs=$(v "$f" "$who" fid sd); km=$(v "$f" "$who" kid mean); ks=$(v "$f" "$who" kid sd)
  c=$(v "$f" "$who" compute value)
  row=$(awk -v fm="$fm" -v fs="$fs" -v km="$km" -v ks="$ks" -v c="$c" \
    'BEGIN { printf "%.1f %% | %.4f ± %.4f | %.3f ± %.3f", 100 * c, fm, fs, 1000 * km, 1000 * ks }')
  if [ -n "$ref" ]; then
    d="$who-$ref"
    diff=$(awk -v m="$(v "$f" "$d" fid mean)" -v lo="$(v "$f" "$d" fid lo)" -v hi="$(v "$f" "$d" fid hi)" \
      -v km="$(v "$f" "$d" kid mean)" -v klo="$(v "$f" "$d" kid lo)" -v khi="$(v "$f" "$d" kid hi)" \
      'BEGIN { printf "%+.4f [%+.4f, %+.4f] | %+.3f [%+.3f, %+.3f]", m, lo, hi, 1000 * km, 1000 * klo, 1000 * khi }')
    verdict=$(echo "FID $(v "$f" "$d" verdict fid), KID $(v "$f" "$d" verdict kid)" | sed 's/indistinguishable/not distinguishable/g')
  else
    diff="— | —"
    verdict="(the reference)"
  fi
  echo "| $arm | $row | $diff | $verdict |" >> "$table"
  case $arm in
    base) alloc=base ;;
    sat-distill | prog*) alloc=progressive ;;
    uniform | uni*) alloc=uniform ;;
    *) alloc= ;;
  esac
  [ -n "$alloc" ] && echo "$alloc,$c,$fm,$fs,$km,$ks" >> "$sweep"
done
real=$(ls "$OUT"/*/eval.csv 2> /dev/null | head -1)
if [ -n "$real" ]; then
  awk -v fm="$(v "$real" real fid mean)" -v fs="$(v "$real" real fid sd)" -v km="$(v "$real" real kid mean)" \
    -v ks="$(v "$real" real kid sd)" -v n="$N" 'BEGIN { printf "\nThe floor, %d real training images per set against the same test statistics: FID-FMNIST %.4f ± %.4f, KID-FMNIST ×1e3 %.3f ± %.3f.\n", n, fm, fs, 1000 * km, 1000 * ks }' >> "$table"
fi
if [ -f "$OUT/sat-vs-uniform/eval.csv" ]; then
  f="$OUT/sat-vs-uniform/eval.csv"
  awk -v m="$(v "$f" plan-against fid mean)" -v lo="$(v "$f" plan-against fid lo)" -v hi="$(v "$f" plan-against fid hi)" \
    -v km="$(v "$f" plan-against kid mean)" -v klo="$(v "$f" plan-against kid lo)" -v khi="$(v "$f" plan-against kid hi)" \
    'BEGIN { printf "\nsat-distill − uniform (paired): FID-FMNIST %+.4f [%+.4f, %+.4f], KID-FMNIST ×1e3 %+.3f [%+.3f, %+.3f].\n", m, lo, hi, 1000 * km, 1000 * klo, 1000 * khi }' >> "$table"
fi
if [ "$(wc -l < "$sweep")" -gt 2 ]; then
  $S plot "$sweep" --x macs_share --y fid_mean:fid_sd --y kid_mean:kid_sd --series allocation \
    --title "FID-FMNIST and KID-FMNIST against compute ($SETS sets of $N samples: mean, sd bars)" --xlabel "MACs share of the base" \
    --ylabel "FID-FMNIST,KID-FMNIST" --out "$OUT/pareto.png"
fi
say "experiment done"
cat "$table"
