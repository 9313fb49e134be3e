# tests/gpu/sysroot.sh — sourced by the GPU session scripts: unpacks the carried Debian
# packages (.gpu/debs) into a private sysroot and points the compiler and loader at it, since
# the device image lacks some of our build dependencies and can fetch nothing.
SR=/tmp/sysroot
mkdir -p $SR/links
for f in .gpu/debs/*.deb; do dpkg -x "$f" $SR; done
for lib in sixel png16 z openblas ncursesw tinfo gfortran quadmath event_core-2.1 utempter; do
  real=$(ls $SR/usr/lib/x86_64-linux-gnu/lib$lib.so.* $SR/usr/lib/x86_64-linux-gnu/openblas-pthread/lib$lib.so.* \
            $SR/lib/x86_64-linux-gnu/lib$lib.so.* 2>/dev/null | head -1)
  [ -n "$real" ] && ln -sf "$real" $SR/links/lib$lib.so && ln -sf "$real" $SR/links/$(basename "$real")
done
export CPATH=$SR/usr/include:$SR/usr/include/sixel:$SR/usr/include/x86_64-linux-gnu/openblas-pthread
export LIBRARY_PATH=$SR/links
export LD_LIBRARY_PATH=$SR/links${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH=/nonexistent PKG_CONFIG_LIBDIR=/nonexistent   # use the Makefile's fallback
ls -l $SR/links
