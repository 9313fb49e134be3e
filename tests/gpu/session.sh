#!/usr/bin/env bash
# tests/gpu/session.sh — everything one lent GPU session does, in one call, under a deadline:
# build with CUDA, the CUDA op tests, CPU-vs-GPU training agreement, benchmarks against
# PyTorch, and (with the time left) training the default model on the GPU.
#
# It expects, carried next to the tree (ignored by git), .gpu/debs/*.deb (Debian's dev
# packages for ncurses, libsixel, libpng, zlib, OpenBLAS: the device image lacks some and can
# fetch nothing) and .gpu/data/*.gz (Fashion-MNIST). Logs and results go to $OUT.
#   DEADLINE  seconds from start by which everything must have ended (default 420)
set -x
cd "$(dirname "$0")/../.." || exit 2
FINAL=${OUT:-./gpu-out}
DEADLINE=${DEADLINE:-420}
# At most 8 files come back from the device: logs are gathered in one archive at exit.
OUT=/tmp/gpu-logs
mkdir -p "$OUT" "$FINAL"
trap 'tar -czf "$FINAL/logs.tgz" -C "$OUT" . 2>/dev/null' EXIT
t_start=$SECONDS
left() { echo $((DEADLINE - (SECONDS - t_start))); }

# Unpack the carried packages into a private sysroot and point the compiler and loader at it.
SR=/tmp/sysroot
mkdir -p $SR/links
for f in .gpu/debs/*.deb; do dpkg -x "$f" $SR; done
for lib in sixel png16 z openblas ncursesw tinfo gfortran quadmath; do
  real=$(ls $SR/usr/lib/x86_64-linux-gnu/lib$lib.so.* $SR/usr/lib/x86_64-linux-gnu/openblas-pthread/lib$lib.so.* \
            $SR/lib/x86_64-linux-gnu/lib$lib.so.* 2>/dev/null | head -1)
  [ -n "$real" ] && ln -sf "$real" $SR/links/lib$lib.so && ln -sf "$real" $SR/links/$(basename "$real")
done
export CPATH=$SR/usr/include:$SR/usr/include/sixel:$SR/usr/include/x86_64-linux-gnu/openblas-pthread
export LIBRARY_PATH=$SR/links
export LD_LIBRARY_PATH=$SR/links${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH=/nonexistent PKG_CONFIG_LIBDIR=/nonexistent   # use the Makefile's fallback
ls -l $SR/links

# Build and CUDA op tests (the helper script: environment, build, tests; no sanitizer run).
OUT=$OUT SKIP_DEPS=1 SANITIZE=0 TEST_TIMEOUT=150 SKIP_FULL=1 timeout $(( $(left) - 200 )) tests/gpu/run.sh > "$OUT/run.log" 2>&1
echo "run.sh exit $?"
tail -30 "$OUT/run.log"
. "$OUT/env.sh" 2>/dev/null   # LD_LIBRARY_PATH for cuDNN, written by run.sh
S=./build/stepscope
[ -x $S ] || { echo "no binary"; exit 1; }
DATA=fashion-mnist:.gpu/data

# CPU and GPU training from the same seed: the losses should track each other.
for dev in cpu cuda; do
  rm -f "$OUT/track-$dev.csv"
  timeout 60 $S train --config small --batch 32 --steps 100 --device $dev --threads 16 --data $DATA \
    --out /tmp/track-$dev.safetensors --log "$OUT/track-$dev.csv" --quiet
done
paste -d, "$OUT/track-cpu.csv" "$OUT/track-cuda.csv" | awk -F, '{d=$2-$5; if(d<0)d=-d; r=d/$2; if(r>m)m=r; s+=r; n++}
  END {printf "train track: %d steps, max rel loss diff %.3g, mean %.3g\n", n, m, s/n}' | tee "$OUT/track.txt"

# Benchmarks against PyTorch eager + cuDNN, same card, same run.
for b in 64 256; do
  timeout 90 $S bench train --device cuda --batch $b --steps 20 2>&1 | tee -a "$OUT/bench.txt"
done
timeout 60 $S bench train --device cpu --threads 16 --batch 64 --steps 5 2>&1 | tee -a "$OUT/bench.txt"

# The default model, trained on the GPU for the time that is left; SIGINT saves it.
budget=$(( $(left) - 25 ))
echo "training the default model for $budget s"
if [ $budget -gt 30 ]; then
  timeout -s INT $budget $S train --config default --device cuda --batch 128 --lr 1e-3 --steps 60000 \
    --seed 0 --data $DATA --out /tmp/base.safetensors --save-every 2000 --log "$OUT/base-train.csv" 2>&1 | tail -3
  $S info /tmp/base.safetensors | head -8
  split -b 15M -d /tmp/base.safetensors "$FINAL/base.safetensors.part"
fi
echo "session done after $((SECONDS - t_start)) s"
cat "$OUT/track.txt" "$OUT/bench.txt" | tee "$FINAL/summary.txt"
