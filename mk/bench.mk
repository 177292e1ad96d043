# Benchmark (bench/): every workload of bench/README.md (W1-W8)
# for libyamux, the raw transport and the peers (mk/bench-go.mk adds the Go
# ones). See bench/README.md.
#
#   make bench            build, run every workload for every implementation
#                         in rounds (BENCH_ROUNDS, default 5) and write
#                         bench/RESULTS.md
#   BENCH_QUICK=1 make bench     quick mode (1 round, smaller sizes)
#   BENCH_ONLY=W1,W4 make bench  only these workloads
#   BENCH_IMPLS=libyamux,raw_uv make bench   only these implementations
#   make bench-instr      callgrind instruction counts for libyamux and raw
#                         libuv per MiB (W1 shape) and per round trip (W4
#                         shape), and their ratio
#   make bench-smoke      a W8 smoke test for CI (seconds): one run each of
#                         libyamux and raw_uv through toxiproxy
#   make bench-build      only build the benchmark program
#
# BENCH_ARGS passes extra options to bench/run.py (see run.py --help);
# BENCH_OUT changes the report's path.

PYTHON ?= python3
BENCH_BIN := $(O)/bench/yxbench
BENCH_OUT ?= bench/RESULTS.md
BENCH_ARGS ?=

.PHONY: bench bench-build bench-instr bench-smoke

bench-build: $(BENCH_BIN)

$(O)/bench/%.o: bench/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# yxbench.c (options) + bench.c (the shared workload code) + one file per
# implementation (impl-*.c).
BENCH_OBJS := $(patsubst bench/%.c,$(O)/bench/%.o,$(wildcard bench/*.c))

$(BENCH_BIN): $(BENCH_OBJS) $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BENCH_OBJS) $(STATIC_LIB) $(UV_LIBS) -lm \
	  -lpthread

# The W8 workloads run through toxiproxy (mk/toxiproxy.mk; its phony target,
# as that file is read after this one).
bench: $(BENCH_BIN) toxiproxy
	$(PYTHON) bench/run.py --bin $(BENCH_BIN) --toxiproxy $(TOXIPROXY_BIN) \
	  --out $(BENCH_OUT) $(BENCH_ARGS)

# For CI: one W8 run each of libyamux and raw_uv (8 MiB, a few seconds);
# fails if a run fails, a key is missing or the link is not what it should
# be.
bench-smoke: $(BENCH_BIN) toxiproxy
	$(PYTHON) bench/run.py --bin $(BENCH_BIN) --toxiproxy $(TOXIPROXY_BIN) \
	  --smoke --out $(O)/bench/smoke.md

bench-instr: $(BENCH_BIN)
	$(PYTHON) bench/run.py --bin $(BENCH_BIN) --instr $(O)/bench/callgrind

-include $(BENCH_OBJS:.o=.d)
