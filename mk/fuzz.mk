# Fuzzing with libFuzzer (clang-14 from Debian).
#
#   make fuzz            build the targets and run each for FUZZ_SECONDS (60)
#   make fuzz-smoke      the same, 20 s each (CI)
#   make fuzz-build      build only: build-fuzz/fuzz-<target>
#
# The engine is compiled with -DYAMUX_NO_POOL so that ASan sees every stream
# record. Each run starts from the seed corpus in test/fuzz/corpus/<target>/
# and keeps what it finds in build-fuzz/corpus/<target>/ (never in the
# source tree); crashes land in build-fuzz/artifacts/.

FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=
FUZZ_O := build-fuzz
FUZZ_TARGETS := frame session
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_O)/fuzz-%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wvla \
              -Wstrict-prototypes -O1 -g $(FUZZ_SAN) -DYAMUX_NO_POOL \
              -Iinclude -Isrc -Itest/fuzz $(UV_CFLAGS)
FUZZ_LIB_OBJS := $(LIB_SRCS:src/%.c=$(FUZZ_O)/src/%.o)
FUZZ_CLANG_OK := $(FUZZ_O)/.clang-ok

.PHONY: fuzz fuzz-smoke fuzz-build

fuzz-build: $(FUZZ_BINS)

# clang-14 and its libFuzzer runtime: reported when missing (make deps
# installs them; a compile rule never does).
$(FUZZ_CLANG_OK):
	@mkdir -p $(@D)
	@if ! command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	  echo "make fuzz needs $(FUZZ_CC) (with its libFuzzer runtime): run" \
	       "make deps (as root), or install clang-14" >&2; \
	  exit 1; \
	fi
	@touch $@

$(FUZZ_O)/src/%.o: src/%.c | $(FUZZ_CLANG_OK) $(LIBUV_OK)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# The harnesses keep edge coverage but not comparison tracing: what guides
# the fuzzer is the engine's comparisons, and tracing the harness's own
# checks (after every step) cost more than the engine work they check.
$(FUZZ_O)/fuzz-%.o: test/fuzz/fuzz-%.c | $(FUZZ_CLANG_OK) $(LIBUV_OK)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	  -fno-sanitize-coverage=trace-cmp -MMD -MP -c $< -o $@

$(FUZZ_O)/fuzz-%: $(FUZZ_O)/fuzz-%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(UV_LIBS) -lm -lpthread

# Each target in turn; a crash stops the run (make fails) and leaves the
# input in build-fuzz/artifacts/.
define FUZZ_RUN
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_O)/corpus/$$t $(FUZZ_O)/artifacts; \
	  echo "fuzz-$$t: $(1) s"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(FUZZ_O)/fuzz-$$t -max_total_time=$(1) -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 $(FUZZ_ARGS) \
	    -artifact_prefix=$(FUZZ_O)/artifacts/$$t- \
	    $(FUZZ_O)/corpus/$$t test/fuzz/corpus/$$t \
	    >$(FUZZ_O)/fuzz-$$t.log 2>&1; \
	  status=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)' \
	    $(FUZZ_O)/fuzz-$$t.log; \
	  if [ $$status != 0 ]; then \
	    tail -n 60 $(FUZZ_O)/fuzz-$$t.log; \
	    echo "fuzz-$$t FAILED (log: $(FUZZ_O)/fuzz-$$t.log)"; exit 1; \
	  fi; \
	done
endef

fuzz: $(FUZZ_BINS)
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BINS)
	$(call FUZZ_RUN,20)

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_TARGETS:%=$(FUZZ_O)/fuzz-%.d)

# Keep the objects between runs (they are intermediate to make).
.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_TARGETS:%=$(FUZZ_O)/fuzz-%.o)

# Regenerates the seed corpus from real traffic (test/fuzz/gen-corpus.c).
.PHONY: fuzz-corpus
fuzz-corpus: $(STATIC_LIB)
	@mkdir -p $(FUZZ_O)
	$(CC) $(BASE_CFLAGS) -o $(FUZZ_O)/gen-corpus test/fuzz/gen-corpus.c \
	  $(STATIC_LIB) $(UV_LIBS)
	$(FUZZ_O)/gen-corpus test/fuzz/corpus
