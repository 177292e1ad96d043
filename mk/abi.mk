# ABI check of the shared library against the last release (abi/README.md).
# Included by the Makefile. Needs abidw and abidiff (Debian: abigail-tools).
#
#   make abi-check      build build-abi/libyamux.so (-O2 -g) and compare its
#                       ABI with the newest abi/libyamux-*.abi not newer than
#                       this version: fails on an incompatible change unless
#                       the soname changed with it
#   make abi-dump       write build-abi/libyamux.abi (this tree's ABI)
#   make abi-baseline ABI_REF=<commit>
#                       write abi/libyamux-<its version>.abi from a release
#                       commit (how abi/libyamux-0.1.0.abi was made:
#                       ABI_REF=36ab1b0)
#   make abi-soname     print the soname this version gets

ABI_O := build-abi
ABI_LIB := $(ABI_O)/libyamux.so
ABI_BASELINE ?= $(shell abi/abi.sh latest $(VERSION) 2>/dev/null)
ABI_REF ?=

.PHONY: abi-check abi-dump abi-baseline abi-soname abi-lib

# Its own tree, always with debug information (abidw reads the types from
# DWARF), whatever OPT the default build uses.
abi-lib:
	@$(MAKE) --no-print-directory O=$(ABI_O) SAN= OPT="-O2 -g" $(ABI_LIB)

abi-check: abi-lib
	@[ -n "$(ABI_BASELINE)" ] || \
	  { echo "abi-check: no abi/libyamux-*.abi for version $(VERSION)" >&2; \
	    exit 1; }
	abi/abi.sh check $(ABI_BASELINE) $(ABI_LIB) include

abi-dump: abi-lib
	abi/abi.sh dump $(ABI_LIB) include $(ABI_O)/libyamux.abi

abi-baseline:
	@[ -n "$(ABI_REF)" ] || \
	  { echo "usage: make abi-baseline ABI_REF=<release commit>" >&2; exit 1; }
	abi/abi.sh baseline $(ABI_REF) abi

abi-soname:
	@echo $(SONAME)

clean: clean-abi
.PHONY: clean-abi
clean-abi:
	rm -rf $(ABI_O)
