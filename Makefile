# scmi-dt — the two commands a newcomer runs:
#   make demo   set up, build, then check / tables / serve / call / stop on the bundled example
#   make test   set up, build, and pass every test (unit, CLI, real Linux guest under QEMU)
# Both install what they need themselves (Debian packages, dtschema from PyPI, QEMU 10).

SWIFT      ?= swift
BUILD_FLAGS ?=
BIN         = .build/debug/scmi-dt
EXAMPLES    = $(patsubst %.dts,%.dtb,$(wildcard examples/*.dts))

.PHONY: all setup setup-guest build release examples demo test unit-test guest-test bench clean

all: build

setup:
	@scripts/setup.sh

setup-guest:
	@scripts/setup.sh --guest

build: setup
	$(SWIFT) build $(BUILD_FLAGS)

# The binary to install: optimised, Swift runtime linked in (starts in ~10 ms
# instead of ~16: no dynamic symbol resolution of libswiftCore/Foundation).
release: setup
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-release --product scmi-dt
	@echo "built .build-release/release/scmi-dt"

examples/%.dtb: examples/%.dts
	dtc -q -I dts -O dtb -o $@ $<

examples: setup $(EXAMPLES)

demo: build examples
	@scripts/demo.sh

unit-test: build examples
	$(SWIFT) test $(BUILD_FLAGS)

guest-test: setup-guest build examples
	@Tests/guest/run-suite.sh

test: setup-guest build examples
	@BUILD_FLAGS="$(BUILD_FLAGS)" scripts/test.sh

bench: setup examples
	@Benchmarks/bench.sh

clean:
	rm -rf .build .build-release examples/*.dtb bench-out
