# Go peers for the benchmark (bench/go/): build/bench/gobench runs the
# workloads of bench/README.md for hashicorp/yamux, go-yamux v5,
# xtaci/smux and raw Go. bench/run.py picks it up next to yxbench.
#
#   make bench-go-build   build only gobench (needs `go` and the module
#                         proxy, or a filled module cache; the repository's
#                         one Go module, go.mod and go.sum at the top, pins
#                         the libraries)
#
# `make bench` depends on it (the prerequisite is added here).

GO ?= go
BENCH_GO_BIN := $(O)/bench/gobench
BENCH_GO_SRCS := $(wildcard bench/go/*.go) go.mod go.sum

.PHONY: bench-go-build

bench-go-build: $(BENCH_GO_BIN)

$(BENCH_GO_BIN): $(BENCH_GO_SRCS)
	@mkdir -p $(@D)
	GOTOOLCHAIN=local $(GO) build -buildvcs=false -o $@ ./bench/go

bench: bench-go-build
