# Make targets mirror CI jobs: `make lint test bench fuzz soak clean`.
# Everything runs as root on Debian: labs are real network namespaces.
SHELL := /bin/bash
NAME ?= msft-lowport
CARGO ?= cargo
DNSLAB := target/release/dnslab
# What a lab needs, and what the tests also cover: every real resolver (the
# registry says which: `dnslab kinds --packages`), and dig; tshark reads the
# pcaps back, zonemaster-cli audits our servers from outside, and headless
# chromium renders the HTML report (with a font of its own:
# --no-install-recommends brings none); valgrind wraps resolvers in
# tests/byo.rs (`--wrap`).
LAB_PACKAGES := nftables iproute2
TEST_TOOLS := dnsutils tshark zonemaster-cli chromium fonts-dejavu-core valgrind

.PHONY: all deps deps-lab install build scenario test lint bench fuzz soak clean

all: build

# Installs what is missing, quietly, and says so.
deps-lab:
	@$(MAKE) --no-print-directory install PKGS="$(LAB_PACKAGES)"

deps: build
	@$(MAKE) --no-print-directory install PKGS="$(LAB_PACKAGES) $$($(DNSLAB) kinds --packages | tr '\n' ' ') $(TEST_TOOLS)"

install:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  # The packages' own services must not start on the host: policy-rc.d says no. \
	  own=""; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own=1; }; \
	  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; rc=$$?; \
	  [ -n "$$own" ] && rm -f /usr/sbin/policy-rc.d; \
	  exit $$rc; \
	fi

build:
	$(CARGO) build --release --quiet

# The main job: run one scenario and print its outcome; exits 0 when every
# expectation holds, 1 when one does not, 2 on bad input or a lab error.
# It needs only nft: the built-in resolver needs no package, and dnslab runs
# every real one that is installed and names the others with their package.
# ARGS passes flags on: ARGS="--evidence ev --resolver hickory".
scenario: deps-lab build
	$(DNSLAB) run $(NAME) $(ARGS)

test: deps
	$(CARGO) test --workspace --quiet -- --test-threads=2

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	$(CARGO) build --release --quiet && $(DNSLAB) check scenarios/*.yaml

bench: deps build
	$(CARGO) run --release --quiet -p harness --bin dnslab-bench

# Every bundled scenario with every installed kind, ROUNDS rounds, JOBS labs
# at a time, then the host must be unchanged (tests/soak.rs). Leaks and
# crashes fail it; missed expectations are counted apart, since those
# judged on timing may miss under load.
ROUNDS ?= 5
JOBS ?= 8
soak: deps
	SOAK_ROUNDS=$(ROUNDS) SOAK_JOBS=$(JOBS) $(CARGO) test --release --quiet -p harness --test soak -- --ignored --nocapture

# Each cargo-fuzz target for FUZZ_SECONDS (default 60), one after another.
# The fuzz build needs nightly flags: RUSTC_BOOTSTRAP=1 lets this machine's
# stable toolchain take them. New inputs go to fuzz/corpus/TARGET; the seeds
# are the bundled scenarios, the lint fixtures, the zone fixtures and a few
# queries. A crash stops the run and leaves its input in fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_SEEDS_scenario := scenarios tests/lint tests/fixtures
FUZZ_SEEDS_zone := tests/fixtures/seed tests/lint/zones tests/fixtures
FUZZ_SEEDS_authority := fuzz/seeds/authority
# One target: its whole log goes to fuzz/logs/TARGET.log; the last lines
# say how many inputs ran, and a crash prints the tail with its panic.
define fuzz_one
	@mkdir -p fuzz/corpus/$(1) fuzz/logs
	@echo "fuzz $(1) for $(FUZZ_SECONDS) s (log: fuzz/logs/$(1).log)"
	@RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(1) fuzz/corpus/$(1) $(FUZZ_SEEDS_$(1)) -- \
	  -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 >fuzz/logs/$(1).log 2>&1 \
	  && grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|Done )' fuzz/logs/$(1).log \
	  || { tail -40 fuzz/logs/$(1).log; exit 1; }
endef
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "installing cargo-fuzz (cargo install)"; $(CARGO) install --quiet --locked cargo-fuzz; }
	$(call fuzz_one,scenario)
	$(call fuzz_one,zone)
	$(call fuzz_one,authority)

clean:
	$(CARGO) clean
