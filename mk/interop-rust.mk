# Interop with rust-yamux (libp2p's `yamux` crate on tokio), interop/rust/.
# Included by the Makefile.
#
#   make interop-rust        build the peer, run every scenario in the four
#                            cells (our role client/server x child stdio/TCP)
#                            against build/examples/echo, print the table;
#                            fails if any cell fails
#   make interop-rust-peer   just build interop/bin/rust-yamux-peer
#
# INTEROP_RUST_SCENARIOS=open_echo,reset (default all), INTEROP_TIMEOUT=120s.
# Needs cargo; crates come from crates.io once (Cargo.lock is committed and
# used with --locked), later builds work offline from cargo's cache.

CARGO ?= cargo
INTEROP_RUST_SCENARIOS ?= all
INTEROP_TIMEOUT ?= 120s
INTEROP_RUST := interop/bin/rust-yamux-peer
INTEROP_RUST_SRCS := $(wildcard interop/rust/src/*.rs) interop/rust/build.rs \
                     interop/rust/Cargo.toml interop/rust/Cargo.lock

.PHONY: interop-rust interop-rust-peer

interop-rust-peer: $(INTEROP_RUST)

$(INTEROP_RUST): $(INTEROP_RUST_SRCS)
	@mkdir -p $(@D)
	$(CARGO) build --release --locked --quiet \
	  --manifest-path interop/rust/Cargo.toml --target-dir interop/rust/target
	cp interop/rust/target/release/rust-yamux-peer $@

interop-rust: $(INTEROP_RUST) build/examples/echo
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) \
	  INTEROP_SCENARIOS=$(INTEROP_RUST_SCENARIOS) \
	  INTEROP_ECHO=build/examples/echo interop/run-all.sh rust
