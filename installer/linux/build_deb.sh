#!/usr/bin/env bash
# Build the Debian package from the PyInstaller bundle (called by `make installer`).
#   installer/linux/build_deb.sh BUNDLE_DIR VERSION OUT.deb
# Layout: /opt/psfbench (the bundle), /usr/bin/psfbench and /usr/bin/psfbench-gui (relative
# symlinks), the desktop entry and icons, udev rules in /lib/udev/rules.d. Files are owned by
# root without fakeroot (dpkg-deb --root-owner-group). DEB_COMPRESSION=zstd|xz|gzip|none and
# DEB_LEVEL: default zstd level 9 (measured on 2 cores: 420 MiB in 25 s; level 3: 459 MiB in
# 12 s; level 15: 415 MiB in 4 min; xz: 359 MiB in 13 min, one thread). Debian 12 and
# Ubuntu 22.04+ dpkg read zstd.
set -euo pipefail
BUNDLE=$(realpath "$1")
VERSION=$2
OUT=$(realpath -m "$3")
HERE=$(dirname "$(realpath "$0")")
ICONS="$HERE/../icons"
STAGE=$(dirname "$OUT")/deb-root
COMPRESSION=${DEB_COMPRESSION:-zstd}
LEVEL=${DEB_LEVEL:-$([ "$COMPRESSION" = zstd ] && echo 9)}

test -x "$BUNDLE/psfbench" && test -x "$BUNDLE/psfbench-gui" || {
    echo "build_deb: $BUNDLE is not a psfbench bundle (run pyinstaller first)" >&2
    exit 1
}
rm -rf "$STAGE" && mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin"
# hard links (no second 1.3 GB copy) when on the same file system
cp -al "$BUNDLE" "$STAGE/opt/psfbench" 2>/dev/null ||
    { rm -rf "$STAGE/opt/psfbench" && cp -a "$BUNDLE" "$STAGE/opt/psfbench"; }
ln -s ../../opt/psfbench/psfbench "$STAGE/usr/bin/psfbench"
ln -s ../../opt/psfbench/psfbench-gui "$STAGE/usr/bin/psfbench-gui"
install -D -m 644 "$HERE/psfbench.desktop" "$STAGE/usr/share/applications/psfbench.desktop"
install -D -m 644 "$ICONS/psfbench.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/psfbench.svg"
install -D -m 644 "$ICONS/psfbench.png" "$STAGE/usr/share/icons/hicolor/256x256/apps/psfbench.png"
install -D -m 644 "$HERE/60-psfbench.rules" "$STAGE/lib/udev/rules.d/60-psfbench.rules"
install -D -m 644 "$HERE/../README.md" "$STAGE/usr/share/doc/psfbench/README.md"
install -m 755 "$HERE/postinst" "$HERE/postrm" "$STAGE/DEBIAN/"
# group- and other-readable whatever the build machine's umask was
chmod -R u+rwX,go+rX,go-w "$STAGE/opt" "$STAGE/usr" "$STAGE/lib"

DEPENDS=$(python3 "$HERE/deb_depends.py" "$BUNDLE")
INSTALLED_KB=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<EOF
Package: psfbench
Version: $VERSION
Architecture: amd64
Maintainer: psfbench developers <psfbench@localhost>
Section: science
Priority: optional
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Recommends: avrdude
Description: measure the defocus point-spread function of a camera and lens
 Bench control (Basler cameras through pylon, the Arduino focus controller), focus-sweep
 acquisition, fringe-projection depth and PSF fitting, with a desktop application
 (psfbench-gui) and a command line (psfbench). Self-contained: Python, torch (CPU), OpenCV,
 Qt and pylon are bundled in /opt/psfbench; nothing is downloaded at run time.
 .
 Serial port and USB camera access need the groups dialout and plugdev (see
 /lib/udev/rules.d/60-psfbench.rules); the package adds no user to any group.
EOF
rm -f "$OUT"
dpkg-deb --root-owner-group -Z"$COMPRESSION" ${LEVEL:+-z"$LEVEL"} --build "$STAGE" "$OUT" >/dev/null
rm -rf "$STAGE"
echo "built $OUT ($(du -h "$OUT" | cut -f1), installed $((INSTALLED_KB / 1024)) MiB)"
