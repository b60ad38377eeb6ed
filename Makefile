# Make targets mirror CI jobs: `make lint test bench clean`.
# Everything runs as root on Debian: labs are real network namespaces.
SHELL := /bin/bash
NAME ?= msft-lowport
CARGO ?= cargo
DNSLAB := target/release/dnslab
# The tools the lab drives, and the real resolvers the tests cover.
PACKAGES := nftables unbound bind9 pdns-recursor knot-resolver dnsmasq dnsutils iproute2

.PHONY: all deps build scenario test lint bench clean

all: build

# Installs what is missing, quietly, and says so.
deps:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

build:
	$(CARGO) build --release --quiet

# The main job: run one scenario and print its outcome; exits 0 when every
# expectation holds, 1 when one does not, 2 on bad input or a lab error.
scenario: deps build
	$(DNSLAB) run $(NAME)

test: deps
	$(CARGO) test --workspace --quiet -- --test-threads=2

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	$(CARGO) build --release --quiet && $(DNSLAB) check scenarios/*.yaml

bench: deps build
	$(CARGO) run --release --quiet -p harness --bin dnslab-bench

clean:
	$(CARGO) clean
