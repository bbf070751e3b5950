#!/bin/bash
# run.sh - `make install` into a temporary DESTDIR (PREFIX=/usr), then use what it
# installed: the static release binary (version, check, serve + call + status), the man
# pages (rendered by man), the completion scripts (parsed by each shell that is here),
# the schema and the systemd units (systemd-analyze verify, when it is here).
# `make test` runs it after swift test; alone: Tests/install/run.sh.
# Ends with "N passed, M failed"; exit 0 when all passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEST=$(mktemp -d /tmp/scmi-dt-install.XXXXXX)
SERVE_PID=""
cleanup() {
	[ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null
	rm -rf "$DEST"
}
trap cleanup EXIT
PASSED=0 FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "  PASS $*"; }
bad() { FAILED=$((FAILED + 1)); echo "  FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

echo "install: make install DESTDIR=$DEST PREFIX=/usr"
if ! make -s install DESTDIR="$DEST" PREFIX=/usr >"$DEST/make.log" 2>&1; then
	bad "make install"; cat "$DEST/make.log"
	echo "$PASSED passed, $FAILED failed"; exit 1
fi
ok "make install"
ROOT=$DEST/usr
BIN=$ROOT/bin/scmi-dt
VERSION=$(sed -n 's/^let scmiDTVersion = "\(.*\)"/\1/p' Sources/scmi-dt/Version.swift)

check "the binary is installed executable" test -x "$BIN"
check "scmi-dt --version prints $VERSION" test "$("$BIN" --version)" = "$VERSION"
check "the Swift runtime is linked in (no libswift*.so)" bash -c "! ldd '$BIN' | grep -q libswift"
check "the installed binary checks the example" bash -c "'$BIN' check examples/board.dts | grep -q '^0 errors'"

# Every command has its page, and man renders them.
for page in scmi-dt scmi-dt.check scmi-dt.tables scmi-dt.guest-dtsi scmi-dt.serve scmi-dt.status scmi-dt.call scmi-dt.call.clock.rate-set; do
	check "man page $page.1" test -f "$ROOT/share/man/man1/$page.1"
done
check "man renders scmi-dt.serve with --socket-group" bash -c "MANWIDTH=80 man -l '$ROOT/share/man/man1/scmi-dt.serve.1' 2>/dev/null | grep -q -- '--socket-group'"

check "bash completion parses and knows serve" bash -c "bash -n '$ROOT/share/bash-completion/completions/scmi-dt' && grep -q serve '$ROOT/share/bash-completion/completions/scmi-dt'"
check "zsh completion installed" test -s "$ROOT/share/zsh/site-functions/_scmi-dt"
command -v zsh >/dev/null && check "zsh completion parses" zsh -n "$ROOT/share/zsh/site-functions/_scmi-dt"
check "fish completion installed" test -s "$ROOT/share/fish/vendor_completions.d/scmi-dt.fish"
command -v fish >/dev/null && check "fish completion parses" fish -n "$ROOT/share/fish/vendor_completions.d/scmi-dt.fish"
check "the schema is installed as in schemas/" cmp -s schemas/arm,scmi-vio-backend.yaml "$ROOT/share/scmi-dt/schemas/arm,scmi-vio-backend.yaml"

for unit in scmi-dt.service scmi-dt@.service; do
	file=$ROOT/lib/systemd/system/$unit
	check "$unit: ExecStart runs /usr/bin/scmi-dt serve" grep -q '^ExecStart=/usr/bin/scmi-dt serve ' "$file"
	check "$unit: Type=notify, ExecReload sends SIGHUP, sandboxed" bash -c "grep -q '^Type=notify$' '$file' && grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' '$file' && grep -q '^ProtectSystem=strict$' '$file' && ! grep -q '@[A-Z]*@' '$file'"
	if command -v systemd-analyze >/dev/null; then
		# Verified as installed, but with ExecStart pointing at the staged binary (verify
		# wants the program to exist) and under a unit name that is an instance for the template.
		name=${unit/@./@board.}
		sed "s|/usr/bin/scmi-dt|$BIN|" "$file" >"$DEST/$name"
		check "$unit: systemd-analyze verify" systemd-analyze verify --man=no "$DEST/$name"
	fi
done

# The installed binary serves: what the unit starts, in a temporary directory.
mkdir "$DEST/run"   # /run exists; serve makes its own directory in it, as RuntimeDirectory= would
RUN=$DEST/run/scmi-dt
"$BIN" serve examples/board.dtb --socket-dir "$RUN" --socket-mode 0660 2>"$DEST/serve.log" &
SERVE_PID=$!
for _ in $(seq 100); do [ -S "$RUN/control" ] && break; sleep 0.1; done
check "installed serve made $RUN with a socket per agent and control" bash -c "[ -S '$RUN/vm-ivi.sock' ] && [ -S '$RUN/control' ]"
check "installed call reaches it" bash -c "'$BIN' call --socket '$RUN/vm-ivi.sock' base.info | grep -q 'agent 1 \"vm-ivi\"'"
check "installed status finds it from --socket-dir alone" bash -c "'$BIN' status --socket-dir '$RUN' | grep -q '^connections'"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; status=$?; SERVE_PID=""
check "installed serve stops on SIGTERM with exit status 0" test "$status" = 0

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
