# Fjord — the commands the README shows. `make test` is also what CI runs (.ci/run).
#
# One cargo profile (dev, with optimised dependencies) and one feature set serve run, test and
# verify, so a build is done once and shared: no crate is a dev-dependency that would add
# features to a crate the broker shares (test-only crates are normal dependencies of fjord-tests
# and fjord-benches), so `make run` after `make test` starts the broker at once. `make bench`
# uses release.

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
NODE_CLIENTS := tests/clients/node
PY_CLIENTS := tests/clients/python

.PHONY: run build test test-deps system-deps verify fix fmt-check clippy bench bench-micro cluster cluster-stop clean

## run: build and start one broker on 127.0.0.1:9092 with data in ./data
# The same workspace-wide feature set as `make build`: run and test share one build.
run:
	$(CARGO) build --workspace --bins
	"$${CARGO_TARGET_DIR:-target}/debug/fjord" serve

build:
	$(CARGO) build --workspace --bins --tests

## cluster: three brokers as local processes on loopback (Kafka 9092/9192/9292, Raft
## 9093/9193/9293, HTTP 9644-9646), data in ./data/cluster; cluster-stop stops them
cluster:
	$(CARGO) build --workspace --bins
	deploy/cluster.sh start

cluster-stop:
	deploy/cluster.sh stop

## test: install what the tests need, then build once and run every test
test: test-deps build
	$(CARGO) nextest run --workspace --no-fail-fast

## test-deps: kcat, libclang and docker-compose (apt), kafkajs (npm), confluent-kafka (pip, in .venv)
test-deps: system-deps $(VENV)/.installed $(NODE_CLIENTS)/node_modules/.installed

system-deps:
	@missing=""; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing="$$missing libclang-dev"; \
	command -v cargo-nextest >/dev/null || [ -x "$$HOME/.cargo/bin/cargo-nextest" ] || missing="$$missing nextest"; \
	case "$$missing" in *nextest*) $(CARGO) install --locked cargo-nextest;; esac; \
	apt_missing=$$(echo "$$missing" | sed 's/nextest//'); \
	if [ -n "$$(echo $$apt_missing)" ]; then \
		echo "installing:$$apt_missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$apt_missing; \
	fi

$(VENV)/.installed: $(PY_CLIENTS)/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r $(PY_CLIENTS)/requirements.txt
	touch $@

$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	npm ci --prefix $(NODE_CLIENTS) --no-audit --no-fund
	touch $@

## bench: Fjord beside a peer broker (Tansu when installed) with fjord-bench; writes docs/benchmarks.md
bench:
	benches/compare.sh

## bench-micro: criterion micro-benchmarks of the codec and the log
bench-micro:
	$(CARGO) bench -p fjord-benches

## verify: the read-only gate — formatting, clippy with warnings denied, every test
verify: fmt-check clippy test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## fix: format the code
fix:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(NODE_CLIENTS)/node_modules
