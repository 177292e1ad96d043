# JavaScript interop peer (interop/js): @chainsafe/libp2p-yamux from npm,
# driven directly over child stdio and TCP. Included by the Makefile.
#
#   make interop-js        npm ci (when node_modules is missing or older
#                          than package-lock.json), then every scenario in
#                          the four cells against build/examples/echo
#
# INTEROP_JS_SCENARIOS=open_echo,ping (default all), INTEROP_JS_TIMEOUT=60s.
# Needs node >= 20 and npm (the npm registry, or a warm npm cache).

NODE ?= node
NPM ?= npm
INTEROP_JS_SCENARIOS ?= all
INTEROP_JS_TIMEOUT ?= 60s
INTEROP_JS_STAMP := interop/js/node_modules/.interop-stamp

.PHONY: interop-js interop-js-deps

interop-js-deps: $(INTEROP_JS_STAMP)

$(INTEROP_JS_STAMP): interop/js/package.json interop/js/package-lock.json
	cd interop/js && $(NPM) ci --no-audit --no-fund
	@touch $@

interop-js: $(INTEROP_JS_STAMP) build/examples/echo
	NODE=$(NODE) INTEROP_TIMEOUT=$(INTEROP_JS_TIMEOUT) \
	  INTEROP_SCENARIOS=$(INTEROP_JS_SCENARIOS) \
	  INTEROP_ECHO=build/examples/echo interop/run-all.sh js
