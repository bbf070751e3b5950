# scmi-dt — the two commands a newcomer runs:
#   make demo   set up, build, then check / tables / serve / call / stop on the bundled example
#   make test   set up, build, and pass every test (unit, CLI, real Linux guest under QEMU)
# Both install what they need themselves (Debian packages, dtschema from PyPI, QEMU 10).

SWIFT      ?= swift
BUILD_FLAGS ?=
BIN         = .build/debug/scmi-dt
EXAMPLES    = $(patsubst %.dts,%.dtb,$(wildcard examples/*.dts examples/mediator/*.dts))

# Where `make install` puts things: PREFIX as configured, DESTDIR prepended for staging.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/scmi-dt
UNITDIR    ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
RELEASE_BIN = .build-release/release/scmi-dt
# Generated man pages and completion scripts, staged for install.
GENERATED   = .build-release/share
# The one place the version is written (docs/serve-choices.md, "Installing").
VERSION    := $(shell sed -n 's/^let scmiDTVersion = "\(.*\)"/\1/p' Sources/scmi-dt/Version.swift)

.PHONY: all setup setup-guest build release man completions install install-test examples demo demo-mediator test unit-test guest-test bench clean

all: build

setup:
	@scripts/setup.sh

setup-guest:
	@scripts/setup.sh --guest

build: setup
	$(SWIFT) build $(BUILD_FLAGS)

# The binary to install: optimised, Swift runtime linked in (starts in ~10 ms
# instead of ~16: no dynamic symbol resolution of libswiftCore/Foundation).
# Linked by the toolchain's lld with packed relative relocations (DT_RELR, glibc
# 2.36+): the loader no longer reads 2 MB of relocation records at every start,
# and lld's layout keeps what start-up touches closer together; still a PIE.
# serve's resident memory drops by about 3 MB.
# Every function in its own section, laid out by scripts/release-order.txt: what serve runs
# until it listens comes first, together, so that its pages (the kernel maps 64 KB around
# each fault) hold little that never runs; about 4 MB less resident (docs/serve-choices.md,
# "The release binary's layout"). scripts/release-order.sh rewrites the list.
# No dynamic symbol table of the binary's own functions (SwiftPM exports them all): nothing
# looks them up, and the loader searched its 8,000 names at every start; about 0.8 MB less.
RELEASE_LINK = -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs \
	-Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
	-Xlinker --symbol-ordering-file=$(CURDIR)/scripts/release-order.txt -Xlinker --no-warn-symbol-ordering \
	-Xlinker --no-export-dynamic
release: setup
	$(SWIFT) build -c release --static-swift-stdlib $(RELEASE_LINK) --scratch-path .build-release --product scmi-dt
	@echo "built .build-release/release/scmi-dt"

# Man pages generated from the argument parser by swift-argument-parser's
# generate-manual plugin (one page per command: man scmi-dt.serve), dated by the
# last commit so that a rebuild of the same tree writes the same pages.
man: build
	$(SWIFT) package plugin generate-manual --configuration debug --multi-page \
		$(if $(shell git log -1 --format=%cs 2>/dev/null),--date $(shell git log -1 --format=%cs))
	rm -rf $(GENERATED)/man && mkdir -p $(GENERATED)/man
	cp .build/plugins/GenerateManual/outputs/scmi-dt/scmi-dt*.1 $(GENERATED)/man/

# Completion scripts, written by the release binary itself.
completions: release
	mkdir -p $(GENERATED)/completions
	$(RELEASE_BIN) --generate-completion-script bash >$(GENERATED)/completions/scmi-dt
	$(RELEASE_BIN) --generate-completion-script zsh >$(GENERATED)/completions/_scmi-dt
	$(RELEASE_BIN) --generate-completion-script fish >$(GENERATED)/completions/scmi-dt.fish

# The static release binary, its man pages, completions, the binding schema and
# the systemd units (ExecStart pointing at the installed binary).
install: release man completions
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/schemas $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 $(RELEASE_BIN) $(DESTDIR)$(BINDIR)/scmi-dt
	install -m 0644 $(GENERATED)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(GENERATED)/completions/scmi-dt $(DESTDIR)$(BASHCOMPDIR)/scmi-dt
	install -m 0644 $(GENERATED)/completions/_scmi-dt $(DESTDIR)$(ZSHCOMPDIR)/_scmi-dt
	install -m 0644 $(GENERATED)/completions/scmi-dt.fish $(DESTDIR)$(FISHCOMPDIR)/scmi-dt.fish
	install -m 0644 schemas/*.yaml $(DESTDIR)$(DATADIR)/schemas/
	for unit in scmi-dt.service scmi-dt@.service; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e '/^@SANDBOX@$$/{r dist/systemd/sandbox.conf' -e 'd;}' dist/systemd/$$unit \
			>$(DESTDIR)$(UNITDIR)/$$unit && chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	@echo "installed scmi-dt $(VERSION) under $(DESTDIR)$(PREFIX)"

examples/%.dtb: examples/%.dts
	dtc -q -I dts -O dtb -o $@ $<

examples: setup $(EXAMPLES)

demo: build examples
	@scripts/demo.sh

# A mediator `serve` in front of a firmware `serve` (examples/mediator, README "Reaching the host").
demo-mediator: build examples
	@scripts/demo-mediator.sh

unit-test: build examples
	$(SWIFT) test $(BUILD_FLAGS)

install-test: setup examples
	@Tests/install/run.sh

guest-test: setup-guest build examples
	@Tests/guest/run-suite.sh && Tests/guest/run-mediator.sh

test: setup-guest build examples
	@BUILD_FLAGS="$(BUILD_FLAGS)" scripts/test.sh

bench: setup examples
	@Benchmarks/bench.sh

clean:
	rm -rf .build .build-release examples/*.dtb examples/mediator/*.dtb bench-out
