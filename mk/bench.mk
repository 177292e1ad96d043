# First benchmark (bench/): W1, W1pin, W2, W2pin and W5 of
# ../shared/bench/WORKLOADS.md for libyamux and the raw transport.
#
#   make bench          build build/bench/yxbench, run every workload for
#                       every implementation in rounds (BENCH_ROUNDS, default
#                       5) and write bench/RESULTS-first.md
#   BENCH_QUICK=1 make bench   1 round, 256 MiB, 20,000 requests
#   make bench-build    only build the benchmark program
#
# BENCH_ARGS passes extra options to bench/run.py (see run.py --help).

PYTHON ?= python3
BENCH_BIN := $(O)/bench/yxbench
BENCH_OUT ?= bench/RESULTS-first.md
BENCH_ARGS ?=

.PHONY: bench bench-build

bench-build: $(BENCH_BIN)

$(O)/bench/%.o: bench/%.c | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BENCH_BIN): $(O)/bench/yxbench.o $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(UV_LIBS) -lm -lpthread

bench: $(BENCH_BIN)
	$(PYTHON) bench/run.py --bin $(BENCH_BIN) --out $(BENCH_OUT) $(BENCH_ARGS)

-include $(O)/bench/yxbench.d
