# rust-yamux peer for the benchmark (bench/rust/): build/bench/rustbench runs
# the workloads of bench/README.md for rust-yamux (libp2p's
# `yamux` crate, the version in bench/rust/Cargo.lock) on tokio.
# bench/run.py picks it up next to yxbench and gobench (rust_impls()).
#
#   make bench-rust-build   build only rustbench (needs cargo; crates come
#                           from crates.io once, Cargo.lock is committed and
#                           used with --locked, later builds work from
#                           cargo's cache)
#
# `make bench` depends on it (the prerequisite is added here).

CARGO ?= cargo
BENCH_RUST_BIN := $(O)/bench/rustbench
# It uses interop/rust's library (src/lib.rs, build.rs) by a path dependency.
BENCH_RUST_SRCS := $(wildcard bench/rust/src/*.rs) \
                   bench/rust/Cargo.toml bench/rust/Cargo.lock \
                   interop/rust/src/lib.rs interop/rust/build.rs \
                   interop/rust/Cargo.toml interop/rust/Cargo.lock

.PHONY: bench-rust-build

bench-rust-build: $(BENCH_RUST_BIN)

$(BENCH_RUST_BIN): $(BENCH_RUST_SRCS)
	@mkdir -p $(@D)
	$(CARGO) build --release --locked --quiet \
	  --manifest-path bench/rust/Cargo.toml --target-dir bench/rust/target
	cp bench/rust/target/release/rustbench $@

bench: bench-rust-build
