#!/usr/bin/env bash
# `make installer-test`: install the .deb into a clean temporary root and check the INSTALLED
# copy, as a lab PC would run it.
#   installer/linux/test_installed.sh installer/dist/psfbench_<version>_amd64.deb
#
# "Install": dpkg-deb -x puts every file where dpkg -i would, under a temporary root (no root
# rights, nothing on this machine changes). Every command then runs with a bare environment
# (env -i: PATH = the installed usr/bin + /usr/bin:/bin, a fresh HOME, no PYTHONPATH, no venv),
# from a scratch working directory, through the installed /usr/bin links. Checked: control
# fields and layout, `psfbench --version`, `psfbench-gui --self-test` offscreen (exit 0),
# `psfbench demo` recovering the hidden A and e (its |dA| and |de| within the demo's
# tolerance), the bundled firmware and the flashing helper's avrdude command, the `psfbench gui`
# entry-point plugin, and pylon's transport layers (BaslerUsb loaded, one emulated camera).
# Start times (first run after install, then 3 repeats) are printed for docs/installer.md;
# DROP_CACHES=1 (as root) empties the kernel's page cache before each first run, so that run
# reads every file from disk, as the first start after installing or rebooting does.
set -euo pipefail
DEB=$(realpath "$1")
T0=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/psfbench-installer-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"
mkdir -p "$ROOT" "$WORK/home" "$WORK/cwd"
cd "$WORK/cwd"

fail() { echo "installer-test: FAILED: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# a bare environment: nothing of the build (venv, PYTHONPATH, repository) is reachable
run() {
    env -i HOME="$WORK/home" PATH="$ROOT/usr/bin:/usr/bin:/bin" LANG=C.UTF-8 TMPDIR="$WORK" "$@"
}
# seconds (3 decimals) that a command takes, its output discarded
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || fail "$* (timed run)"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

# before a first run: an empty page cache when asked for (DROP_CACHES=1, root only)
cold() {
    if [ "${DROP_CACHES:-0}" = 1 ]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches || fail "DROP_CACHES=1 needs root"
    fi
}

step "package $(basename "$DEB")"
dpkg-deb --info "$DEB" control >"$WORK/control"
grep -q '^Package: psfbench$' "$WORK/control" || fail "control: Package"
VERSION=$(sed -n 's/^Version: //p' "$WORK/control")
grep -q '^Depends: .*libxcb-cursor0' "$WORK/control" || fail "control: Depends lacks libxcb-cursor0"
sed -n 's/^Depends: /Depends: /p' "$WORK/control"
dpkg-deb -x "$DEB" "$ROOT"
for f in opt/psfbench/psfbench opt/psfbench/psfbench-gui usr/share/applications/psfbench.desktop \
    usr/share/icons/hicolor/scalable/apps/psfbench.svg lib/udev/rules.d/60-psfbench.rules; do
    test -e "$ROOT/$f" || fail "missing /$f"
done
for cmd in psfbench psfbench-gui; do
    test "$(readlink "$ROOT/usr/bin/$cmd")" = "../../opt/psfbench/$cmd" || fail "/usr/bin/$cmd link"
done
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$ROOT/usr/share/applications/psfbench.desktop" || fail "desktop entry"
fi
test "$(run sh -c 'command -v psfbench')" = "$ROOT/usr/bin/psfbench" || fail "psfbench not on PATH"

step "psfbench --version (cold start, first run after install)"
cold
CLI_COLD=$(seconds run psfbench --version)
out=$(run psfbench --version)
echo "$out"
test "$out" = "psfbench $VERSION" || fail "version '$out' is not the package's $VERSION"
CLI_WARM=$(for _ in 1 2 3; do seconds run psfbench --version; echo -n ' '; done)
HELP_WARM=$(for _ in 1 2 3; do seconds run psfbench --help; echo -n ' '; done)

step "psfbench-gui --self-test (offscreen)"
cold
GUI_COLD=$(seconds run env QT_QPA_PLATFORM=offscreen psfbench-gui --self-test)
out=$(run env QT_QPA_PLATFORM=offscreen psfbench-gui --self-test 2>&1) || fail "self-test: $out"
echo "$out" | grep '^self-test:'
echo "$out" | grep -q '^self-test: OK' || fail "self-test did not report OK"
GUI_WARM=$(for _ in 1 2 3; do seconds run env QT_QPA_PLATFORM=offscreen psfbench-gui --self-test; echo -n ' '; done)

step "psfbench gui (entry point psfbench.cli) and the command list"
run psfbench --help | grep -q '^    gui ' || fail "'psfbench gui' missing from psfbench --help"
run psfbench gui --help | grep -q -- '--self-test' || fail "psfbench gui --help"

step "psfbench demo (hidden A and e recovered)"
DEMO_T0=$(date +%s)
run psfbench demo --out "$WORK/demo" --quiet >"$WORK/demo.log" 2>&1 || {
    tail -20 "$WORK/demo.log"
    fail "psfbench demo"
}
DEMO_S=$(($(date +%s) - DEMO_T0))
line=$(grep '^true A=' "$WORK/demo.log") || fail "demo printed no result line"
echo "$line"
dA=$(echo "$line" | sed -n 's/.*|dA|=\([0-9.]*\)%.*/\1/p')
de=$(echo "$line" | sed -n 's/.*|de|=\([0-9.]*\) mm.*/\1/p')
test -n "$dA" && test -n "$de" || fail "cannot read |dA| and |de| from: $line"
awk -v a="$dA" -v e="$de" 'BEGIN { exit !(a <= 1.0 && e <= 0.05) }' ||
    fail "demo errors |dA|=$dA% |de|=$de mm beyond 1 % / 0.05 mm"
echo "$line" | grep -q -- '-> RECOVERED' || fail "demo verdict"
test -s "$WORK/demo/session/results/landscape_total.png" || fail "demo plot missing"

step "bundled firmware and the flashing helper"
info=$(run psfbench firmware info)
echo "$info"
for board in uno mega; do
    hex="$ROOT/opt/psfbench/_internal/firmware/$board/focus_controller.hex"
    test -s "$hex" || fail "no bundled $board firmware"
    echo "$info" | grep -q " $hex$" || fail "firmware info does not point at $hex"
done
cmdline=$(run psfbench firmware flash --board mega --port /dev/ttyACM0 --dry-run | tail -1)
echo "$cmdline"
case "$cmdline" in
*"avrdude -p atmega2560 -c wiring -P /dev/ttyACM0 -b 115200 -D -U flash:w:$ROOT/opt/psfbench/_internal/firmware/mega/focus_controller.hex:i") ;;
*) fail "avrdude command line: $cmdline" ;;
esac

step "pylon transport layers (PYLON_TL_PATH runtime hook, libusb)"
devices=$(run env PYLON_CAMEMU=1 psfbench info --devices --json)
echo "$devices"
if [ -d "$ROOT/opt/psfbench/_internal/pypylon" ]; then
    echo "$devices" | grep -q '"BaslerUsb"' || fail "pylon's USB transport layer did not load"
    echo "$devices" | grep -q 'Basler Emulation' || fail "no emulated camera listed"
else
    echo "(pypylon was not bundled: Basler cameras unavailable in this build)"
fi

DEB_MB=$((($(stat -c %s "$DEB") + 524288) / 1048576))
INST_MB=$((($(du -sk "$ROOT" | cut -f1) + 512) / 1024))
echo "--- start times (s): CLI --version first $CLI_COLD, then $CLI_WARM; --help $HELP_WARM;" \
    "GUI self-test first $GUI_COLD, then $GUI_WARM; demo ${DEMO_S}"
echo "installer-test: OK in $(($(date +%s) - T0)) s: $(basename "$DEB") ${DEB_MB} MiB" \
    "(installed ${INST_MB} MiB)"
