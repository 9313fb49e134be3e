# stepscope — Step-Adaptive Training of diffusion models, in a terminal.
#
#   make          build ./stepscope (installs missing Debian packages when run as root)
#   make run      open stepscope on the shipped model
#   make test     build and run the test suite (last line: "N passed, N failed")
#   make bench    training and sampling benchmarks, PyTorch alongside when it is installed
#   make install  binary, man pages and the shipped models under PREFIX (default /usr/local)
#
# CUDA: built whenever nvcc and cuDNN are found. Override CUDA_HOME / CUDNN_HOME, or
# CUDA=0 to skip it, CUDA=1 to fail when it cannot be built.

PREFIX     ?= /usr/local
CUDA_HOME  ?= /usr/local/cuda
CUDNN_HOME ?= $(CUDA_HOME)
CC         ?= cc
BUILD      := build

DEB_PKGS := pkg-config libncurses-dev libsixel-dev libpng-dev zlib1g-dev libopenblas-dev dataset-fashion-mnist

CFLAGS  ?= -O3 -march=native
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -MMD -MP -I.
LDLIBS  := -fopenmp -lm -lpthread

PKG_LIBS := ncursesw libsixel libpng zlib
ifeq ($(shell pkg-config --exists $(PKG_LIBS) 2>/dev/null && echo yes),yes)
  CFLAGS += $(shell pkg-config --cflags $(PKG_LIBS))
  LDLIBS += $(shell pkg-config --libs $(PKG_LIBS))
else
  # No pkg-config (or no .pc files, as on a machine with unpacked packages): Debian's paths.
  CFLAGS += -I/usr/include/sixel
  LDLIBS += -lncursesw -ltinfo -lsixel -lpng16 -lz
endif
# Debian's OpenBLAS: the cblas.h of the openblas-pthread variant.
CFLAGS += -I/usr/include/x86_64-linux-gnu/openblas-pthread -I/usr/include/openblas
LDLIBS += -lopenblas

# ---- SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer (leak checks on) ----
# Its own folder (build-san) so that its objects never mix with the plain build's; `make SAN=1`
# builds the tests and the fuzz drivers there and runs both (target `san`). CUDA is off under
# SAN: nvcc's objects are not instrumented and the CUDA runtime's mappings clash with ASan's
# shadow memory. The CUDA emulator's C++ objects (tests/cuda_emu) are instrumented like the rest.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ifeq ($(SAN),1)
  BUILD    := build-san
  override CUDA := 0
  CFLAGS   += -O1 -g $(SAN_FLAGS)
  LDLIBS   += $(SAN_FLAGS)
  .DEFAULT_GOAL := san
endif

# ---- CUDA detection ----
NVCC := $(shell command -v $(CUDA_HOME)/bin/nvcc 2>/dev/null || command -v nvcc 2>/dev/null)
CUDNN_H := $(wildcard $(CUDNN_HOME)/include/cudnn.h $(CUDNN_HOME)/include/cudnn/cudnn.h)
CUDNN_LIBDIR := $(firstword $(dir $(wildcard $(CUDNN_HOME)/lib/libcudnn.so* $(CUDNN_HOME)/lib64/libcudnn.so* $(CUDNN_HOME)/lib/x86_64-linux-gnu/libcudnn.so*)))
ifeq ($(CUDA),0)
  WANT_CUDA :=
else ifneq ($(and $(NVCC),$(CUDNN_H),$(CUDNN_LIBDIR)),)
  WANT_CUDA := 1
endif
ifeq ($(CUDA),1)
  ifeq ($(WANT_CUDA),)
    $(error CUDA=1 asked for, but nvcc ($(NVCC)) or cuDNN under CUDNN_HOME=$(CUDNN_HOME) was not found)
  endif
endif

CUDA_SRC :=
ifeq ($(WANT_CUDA),1)
  CUDA_SRC   := $(wildcard kernels/cuda/*.cu)
  CFLAGS     += -DSTEPSCOPE_CUDA -I$(CUDA_HOME)/include
  NVCCFLAGS  ?= -O3 -arch=sm_90 -Xcompiler -fPIC
  NVCCFLAGS  += -MMD -MP -std=c++17 -DSTEPSCOPE_CUDA -I. -I$(dir $(firstword $(CUDNN_H))) -I$(CUDA_HOME)/include
  # pip's cuDNN ships only libcudnn.so.9 (no unversioned link), so link that file by name.
  CUDNN_LINK := $(if $(wildcard $(CUDNN_LIBDIR)libcudnn.so),-lcudnn,-l:libcudnn.so.9)
  LDLIBS     += -L$(CUDA_HOME)/lib64 -L$(CUDNN_LIBDIR) -Wl,-rpath,$(CUDNN_LIBDIR) -Wl,-rpath,$(CUDA_HOME)/lib64 \
                -lcudart -lcublas $(CUDNN_LINK) -lstdc++
endif

ENGINE_SRC := $(wildcard engine/*.c engine/sat/*.c)
KERNEL_SRC := $(wildcard kernels/*.c kernels/cpu/*.c kernels/cuda/*.c)
TUI_SRC    := $(filter-out tui/cli/main.c,$(wildcard tui/*.c tui/cli/*.c tui/explorer/*.c tui/explorer/views/*.c tui/termgfx/*.c))
TEST_SRC   := $(wildcard tests/*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))  # make fuzz-smoke
FUZZ_BINS  := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_NAMES))
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(ENGINE_SRC) $(KERNEL_SRC) $(TUI_SRC)) \
              $(patsubst %.cu,$(BUILD)/%.cu.o,$(CUDA_SRC))

# The CUDA emulator of the tests (tests/cuda_emu): our own kernel files (ops, group norm, optimiser)
# compiled a second time, by g++ instead of nvcc, to run on the CPU. Built with the tests whether
# or not CUDA is found; the kernel files are compiled through kernel_unit.cpp, inside a namespace,
# so they coexist with the nvcc-built objects (tests/cuda_emu/emulated.h).
# Its include/ folder comes first: headers named cuda_runtime.h, cublas_v2.h and cudnn.h that
# bring in the emulator, so that kernels/cuda/ includes the CUDA headers as it does under nvcc.
EMU_CXXFLAGS := -O2 -std=c++17 -DSTEPSCOPE_CUDA_EMU -Itests/cuda_emu/include -I. -Wall -Wextra -Wno-unused-parameter \
                -fno-exceptions -fno-rtti -MMD -MP
ifeq ($(SAN),1)
  EMU_CXXFLAGS += -g $(SAN_FLAGS) -fno-sanitize=vptr  # vptr checks need RTTI, which the emulator leaves out
endif
EMU_KERNELS  := $(basename $(notdir $(wildcard kernels/cuda/*.cu)))
EMU_OBJ      := $(patsubst %,$(BUILD)/tests/cuda_emu/%.emu.o,$(EMU_KERNELS)) \
                $(patsubst %.cpp,$(BUILD)/%.o,$(filter-out tests/cuda_emu/kernel_unit.cpp,$(wildcard tests/cuda_emu/*.cpp)))
# stepscope-emu (tests only): the stepscope binary whose "cuda" device is the emulated backend,
# so that the tests run the command line on the CUDA code paths without a GPU. Its backend.c is
# compiled as for a CUDA build, and tests/cuda_emu/cuda_is_emulated.c defines backend_cuda_create
# in place of the nvcc-built objects.
EMU_BIN_OBJ  := $(filter-out $(BUILD)/kernels/backend.o %.cu.o,$(LIB_OBJ)) $(BUILD)/tui/cli/main.o \
                $(BUILD)/kernels/backend.with-cuda.o $(BUILD)/tests/cuda_emu/cuda_is_emulated.o \
                $(filter-out $(BUILD)/tests/cuda_emu/test_cuda_emu.o,$(EMU_OBJ))

.PHONY: all deps run test bench install clean
all: deps stepscope

# Checks each build dependency and prints a ✓/✗ line; installs what is missing when root.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  if dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed"; then echo "✓ $$p"; \
	  else echo "✗ $$p"; missing="$$missing $$p"; fi; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	  else echo "stepscope needs:  sudo apt-get install$$missing"; exit 1; fi; fi
	@if [ "$(WANT_CUDA)" = 1 ]; then echo "✓ CUDA ($(NVCC)), cuDNN ($(CUDNN_HOME))"; \
	 else echo "✗ CUDA/cuDNN not found (CUDA_HOME=$(CUDA_HOME), CUDNN_HOME=$(CUDNN_HOME)): CPU-only build"; fi

# The package list is re-read after `deps` may have installed packages, hence the sub-make.
stepscope: deps
	@$(MAKE) --no-print-directory build-bin

.PHONY: build-bin build-tests
build-bin: $(BUILD)/stepscope
	@ln -sf $(BUILD)/stepscope stepscope

$(BUILD)/stepscope: $(LIB_OBJ) $(BUILD)/tui/cli/main.o
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/run_tests: $(LIB_OBJ) $(patsubst %.c,$(BUILD)/%.o,$(TEST_SRC)) $(EMU_OBJ)
	$(CC) -o $@ $^ $(LDLIBS) -lstdc++

$(BUILD)/stepscope-emu: $(EMU_BIN_OBJ)
	$(CC) -o $@ $^ $(LDLIBS) -lstdc++

$(BUILD)/tests/cuda_emu/cuda_is_emulated.o: CFLAGS += -DSTEPSCOPE_CUDA
$(BUILD)/kernels/backend.with-cuda.o: kernels/backend.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSTEPSCOPE_CUDA -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

$(BUILD)/tests/cuda_emu/%.emu.o: kernels/cuda/%.cu tests/cuda_emu/kernel_unit.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -DEMU_KERNEL_FILE='"$<"' -c -o $@ tests/cuda_emu/kernel_unit.cpp

$(BUILD)/tests/cuda_emu/%.o: tests/cuda_emu/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<

build-tests: $(BUILD)/run_tests $(BUILD)/stepscope $(BUILD)/stepscope-emu $(FUZZ_BINS)
	@[ "$(SAN)" = 1 ] || ln -sf $(BUILD)/stepscope stepscope

# The tests run the stepscope binaries of their own build folder (TEST_BUILD_DIR).
$(BUILD)/tests/%.o: CFLAGS += -DTEST_BUILD_DIR='"$(BUILD)"'

# tmux drives the explorer in its tests; without it they are skipped (with the reason). g++ builds
# the CUDA emulator (tests/cuda_emu), which the tests need.
test: deps
	@command -v tmux >/dev/null && echo "✓ tmux (explorer tests)" || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux) >/dev/null 2>&1 && \
	  echo "✓ tmux (installed)" || echo "✗ tmux: the explorer's tmux tests will be skipped"; }
	@command -v $(CXX) >/dev/null && echo "✓ $(CXX) (the CUDA emulator's tests)" || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++) >/dev/null 2>&1 && \
	  echo "✓ g++ (installed)" || { echo "✗ $(CXX): the tests need it (sudo apt-get install g++)"; exit 1; }; }
	@$(MAKE) --no-print-directory build-tests
	@OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive} ./$(BUILD)/run_tests $(T)

run: stepscope
	./stepscope

bench: stepscope
	./stepscope bench train
	./stepscope bench sample
	./stepscope bench sample --plan assets/plan.txt --no-torch

install: stepscope
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(BUILD)/stepscope $(DESTDIR)$(PREFIX)/bin/stepscope
	install -m 644 man/stepscope.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/stepscope-plan.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -d $(DESTDIR)$(PREFIX)/share/stepscope/assets/plan
	install -m 644 assets/*.safetensors assets/plan.txt assets/samples.png $(DESTDIR)$(PREFIX)/share/stepscope/assets/
	install -m 644 assets/plan/*.safetensors $(DESTDIR)$(PREFIX)/share/stepscope/assets/plan/

clean:
	rm -rf $(BUILD) stepscope

# ---- fuzzing (tests/fuzz) ----
# One target per parser, tests/fuzz/fuzz_<name>.c, each defining
#   int fuzz_one(const uint8_t *data, size_t n);
# fuzz-smoke: every target without clang, on its seed corpus (tests/fuzz/corpus/<name>/) plus
#   FUZZ_MUTATIONS deterministic mutations of it (tests/fuzz/smoke_main.c); well under a minute.
# fuzz: libFuzzer builds with clang (build-fuzz/, ASan + UBSan), each run for FUZZ_SECONDS on
#   a copy of its corpus; crashes land in build-fuzz/crashes/<name>/ (installs clang when root).
FUZZ_MUTATIONS ?= 500
FUZZ_SECONDS   ?= 60
FUZZ_CC        ?= clang
LIB_A          := $(BUILD)/libstepscope.a

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/smoke_main.o $(BUILD)/tests/fuzz/util.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS) -lstdc++

.PHONY: fuzz fuzz-smoke fuzz-bins san san-run
fuzz-smoke: $(FUZZ_BINS)
	@for t in $(FUZZ_NAMES); do \
	  FUZZ_CRASH_DIR=$(BUILD) ./$(BUILD)/fuzz/$$t tests/fuzz/corpus/$$t $(FUZZ_MUTATIONS) || { \
	  echo "fuzz-smoke: $$t failed; the input is $(BUILD)/fuzz-crash-$$t"; exit 1; }; done

# The libFuzzer build: the library compiled again by clang with coverage instrumentation.
ifeq ($(FUZZ),1)
  CC      := $(FUZZ_CC)
  CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -fopenmp=libgomp -MMD -MP -I. $(filter -I% -D%,$(CFLAGS)) \
             -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  LDLIBS  := $(subst -fopenmp,-fopenmp=libgomp,$(LDLIBS)) -fsanitize=fuzzer,address,undefined
$(BUILD)/libfuzzer/%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/libfuzzer_main.o $(BUILD)/tests/fuzz/util.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS) -lstdc++
endif
fuzz-bins: $(patsubst %,$(BUILD)/libfuzzer/%,$(FUZZ_NAMES))

fuzz: deps
	@command -v $(FUZZ_CC) >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) >/dev/null && \
	  echo "✓ clang (installed)" || { echo "✗ clang: make fuzz needs it (sudo apt-get install clang)"; exit 1; }; }
	@$(MAKE) --no-print-directory FUZZ=1 BUILD=build-fuzz CUDA=0 fuzz-bins
	@for t in $(FUZZ_NAMES); do mkdir -p build-fuzz/corpus/$$t build-fuzz/crashes/$$t; \
	  cp -n tests/fuzz/corpus/$$t/* build-fuzz/corpus/$$t/ 2>/dev/null; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  ./build-fuzz/libfuzzer/$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -max_len=65536 \
	    -artifact_prefix=build-fuzz/crashes/$$t/ build-fuzz/corpus/$$t || exit 1; done

# make SAN=1 (goal san): the unit tests (SAN_TESTS: a filter for run_tests, default all) and
# the fuzz smoke, under ASan + UBSan + LeakSanitizer. tests/san/lsan.supp: the few leaks of
# system libraries we do not own.
SAN_TESTS ?=
san: deps
	@$(MAKE) --no-print-directory SAN=1 san-run
san-run: $(BUILD)/run_tests $(BUILD)/stepscope $(BUILD)/stepscope-emu $(FUZZ_BINS)
	@export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/san/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_WAIT_POLICY=passive; \
	  $(MAKE) --no-print-directory SAN=1 fuzz-smoke && ./$(BUILD)/run_tests $(SAN_TESTS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The SAT experiment of the README (assets/experiment.sh; knobs in its header). Minutes on a
# GPU, many hours on two CPU cores.
.PHONY: experiment
experiment: stepscope
	assets/experiment.sh
