#!/usr/bin/env bash
# Builds the Debian package of failover with dpkg-deb (no debhelper needed): the release
# programs, their man pages, the systemd units, the init scripts, the defaults file, a
# skeleton of /etc/failover, bash completions, the examples and documentation.
# Prints the path of the .deb as its last line.
#
#   scripts/package.sh                 build the programs (release) and the package
#   FAILOVER_PACKAGE_REVISION=2 ...    Debian revision (default 1)
#   FAILOVER_PACKAGE_DIR=DIR ...       where the .deb goes (default target/debian)
#   FAILOVER_PACKAGE_PROFILE=release   package the release build instead of dist (CI: it
#                                      checks the package's contents, and the release
#                                      programs are built already; dist's link-time
#                                      optimisation costs minutes of its thirty)
#
# Install it with `apt install ./target/debian/failover_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

say() { printf '=== %s\n' "$*" >&2; }

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
revision=${FAILOVER_PACKAGE_REVISION:-1}
arch=$(dpkg --print-architecture)
out=${FAILOVER_PACKAGE_DIR:-$repo/target/debian}
maintainer="failover maintainers <failover@example.invalid>"

# The programs a Debian host gets. faildemo is left out: it runs the daemons from its own
# directory (a cargo target directory), not from /usr/sbin.
sbin_programs=(faild failsh grarp)
bin_programs=(failc failstat failmon faildebug failsim)

# The dist profile (Cargo.toml): size-optimised and link-time optimised, so fewer pages of
# code are resident (bench/memory.sh); slower to build than the release profile.
profile=${FAILOVER_PACKAGE_PROFILE:-dist}
case $profile in
  dist | release) ;;
  *) echo "FAILOVER_PACKAGE_PROFILE must be dist or release, not $profile" >&2; exit 2 ;;
esac
say "building the programs (cargo build --profile $profile)"
if [ "$profile" = release ]; then
  # What scripts/test.sh builds, so that cargo reuses it: another selection of packages
  # unifies the dependencies' features differently and rebuilds them (90 s in CI).
  cargo build --profile release --locked --quiet --workspace --bins >&2
else
  cargo build --profile dist --locked --quiet -p failover-cli -p failover-sim --bins >&2
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
doc=$root/usr/share/doc/failover

install -d -m 755 "$root/DEBIAN" "$root/usr/sbin" "$root/usr/bin" "$doc/examples" \
  "$root/usr/share/man/man1" "$root/usr/share/man/man5" "$root/usr/share/man/man8" \
  "$root/usr/share/bash-completion/completions" "$root/lib/systemd/system" \
  "$root/etc/init.d" "$root/etc/default"
install -d -m 700 "$root/etc/failover"

# Programs, stripped (the release profile keeps line tables for backtraces; a package that
# wants them ships a -dbgsym package, which this script does not build).
for p in "${sbin_programs[@]}"; do
  install -m 755 "target/$profile/$p" "$root/usr/sbin/$p"
done
for p in "${bin_programs[@]}"; do
  install -m 755 "target/$profile/$p" "$root/usr/bin/$p"
done
for f in "$root"/usr/sbin/* "$root"/usr/bin/*; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
done

# Man pages: the programs' and the section 5 pages of the files they read.
for page in man/*.[158]; do
  name=$(basename "$page")
  program=${name%.*}
  case " ${sbin_programs[*]} ${bin_programs[*]} " in
    *" $program "*) ;;
    *) case $name in *.5) ;; *) continue ;; esac ;;
  esac
  section=${name##*.}
  gzip -9n <"$page" >"$root/usr/share/man/man$section/$name.gz"
  chmod 644 "$root/usr/share/man/man$section/$name.gz"
done

# Bash completions: one script, linked under each program's name (bash-completion loads
# completions/NAME when NAME is first completed).
install -m 644 completions/failover.bash "$root/usr/share/bash-completion/completions/failc"
for p in "${sbin_programs[@]}" "${bin_programs[@]}"; do
  [ "$p" = failc ] || ln -s failc "$root/usr/share/bash-completion/completions/$p"
done

# systemd units, init scripts, defaults and the configuration skeleton.
install -m 644 examples/linux/faild.service examples/linux/failsh.service "$root/lib/systemd/system/"
sed -i '1s|^# /etc/systemd/system/|# /lib/systemd/system/|' "$root"/lib/systemd/system/*.service
install -m 755 examples/linux/faild.init "$root/etc/init.d/faild"
install -m 755 examples/linux/failsh.init "$root/etc/init.d/failsh"
install -m 644 examples/linux/failover.default "$root/etc/default/failover"
# The communities file ships with every line commented out: faild then grants nothing until
# the operator writes communities of their own (the example's are public knowledge).
{
  echo "# /etc/failover/communities: see failover-communities(5) and"
  echo "# /usr/share/doc/failover/examples/linux/communities. Nothing is granted until you"
  echo "# add lines; choose long random communities."
  echo "#"
  sed -e '/^#/d' -e '/^$/d' -e 's/^/#/' examples/linux/communities
} >"$root/etc/failover/communities"
chmod 600 "$root/etc/failover/communities"

# Documentation and examples.
install -m 644 docs/deploy.md docs/faild.md docs/tcl.md docs/metrics.md docs/failmon.md "$doc/"
install -m 644 README.md "$doc/README.md"
cp -r examples/linux examples/demo "$doc/examples/"
find "$doc/examples" -type d -exec chmod 755 {} +
find "$doc/examples" -type f -exec chmod 644 {} +
cat >"$doc/README.Debian" <<'EOF'
failover for Debian
===================

The package installs the programs, the systemd units faild.service and failsh.service
(and the init scripts /etc/init.d/faild and /etc/init.d/failsh for other inits), and
enables the units, but starts nothing on a first installation: failover needs a
configuration first.

 1. Write /etc/failover/communities (see failover-communities(5)).
 2. Copy an example configuration and edit it: the master's is
    /usr/share/doc/failover/examples/linux/lukretia.tcl, its slave's macbeth.tcl; both
    source procedures.tcl, which calls a service script such as
    /usr/share/doc/failover/examples/linux/198.18.0.50 (install it as
    /etc/init.d/ADDRESS, mode 755). Name the configuration /etc/failover/NODE.tcl, where
    NODE is this host's name (uname -n) or NODE in /etc/default/failover. Check it with
    `failsh -t -f /etc/failover/NODE.tcl`.
 3. Set INTERFACE, SERVICES and the ports in /etc/default/failover.
 4. systemctl start faild failsh

An upgrade restarts faild (its states survive in /var/lib/failover) but not failsh: a
restart of failsh hands its services to the peer and takes them back. Restart it when
convenient: systemctl restart failsh.

failsh's monitor and debug ports listen on 127.0.0.1 (LISTEN_ADDRESS in
/etc/default/failover); see "Ports and firewall" in deploy.md for every port.
SIGINT (systemctl kill -s INT failsh) dumps failsh's state to /run/failover-sh/failsh.dump.
EOF
chmod 644 "$doc/README.Debian"
for f in "$doc"/*.md "$doc/README.Debian"; do
  # deploy.md stays uncompressed: the units name file:/usr/share/doc/failover/deploy.md.
  [ "$(basename "$f")" = deploy.md ] || gzip -9n "$f"
done

cat >"$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: failover
Source: https://example.invalid/failover

Files: *
Copyright: 2024-2025 the failover authors
License: MIT or Apache-2.0

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this
 software and associated documentation files (the "Software"), to deal in the Software
 without restriction, including without limitation the rights to use, copy, modify, merge,
 publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
 to whom the Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
 INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
 PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
 FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
 OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.

License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
EOF
chmod 644 "$doc/copyright"

date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
{
  echo "failover ($version-$revision) unstable; urgency=medium"
  echo
  echo "  * Package built from $(git describe --always --dirty 2>/dev/null || echo "a source tree")."
  echo
  echo " -- $maintainer  $date"
} | gzip -9n >"$doc/changelog.Debian.gz"
chmod 644 "$doc/changelog.Debian.gz"

# lintian overrides, each with its reason.
install -d -m 755 "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/failover" <<'EOF'
# A first package built from a source tree, not an upload to Debian: no bug to close.
failover: initial-upload-closes-no-bugs [usr/share/doc/failover/changelog.Debian.gz:1]
# The units run the init scripts' register and prepare actions (register every service in
# faild, run each service script's start): the same code for both inits, not a wrapper.
failover: systemd-service-file-wraps-init-script ExecStartPost [lib/systemd/system/faild.service]
failover: systemd-service-file-wraps-init-script ExecStartPre [lib/systemd/system/failsh.service]
# The communities file holds the shared secrets: root only (faild reads it as a systemd
# credential or before dropping privileges).
failover: non-standard-file-perm 0600 != 0644 [etc/failover/communities]
# /etc/failover holds the configurations and the communities file: root only.
failover: non-standard-dir-perm 0700 != 0755 [etc/failover/]
EOF
chmod 644 "$root/usr/share/lintian/overrides/failover"

# Maintainer scripts: what dh_installsystemd and dh_installinit would generate, written
# out (deb-systemd-helper and deb-systemd-invoke come from init-system-helpers, which is
# essential).
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	# Enable the units (started at the next boot, or with systemctl start); start nothing
	# now on a first installation: failover needs a configuration first (README.Debian).
	for unit in faild.service failsh.service; do
		if deb-systemd-helper debian-installed "$unit"; then
			deb-systemd-helper unmask "$unit" >/dev/null || true
			if deb-systemd-helper --quiet was-enabled "$unit"; then
				deb-systemd-helper enable "$unit" >/dev/null || true
			else
				deb-systemd-helper update-state "$unit" >/dev/null || true
			fi
		else
			deb-systemd-helper unmask "$unit" >/dev/null || true
			deb-systemd-helper enable "$unit" >/dev/null || true
		fi
	done
	if [ -x /etc/init.d/faild ]; then
		update-rc.d faild defaults >/dev/null
		update-rc.d failsh defaults >/dev/null
	fi
	# On an upgrade restart faild only if it runs (its states survive in its state file).
	# failsh is not restarted: that would hand its services to the peer and back.
	if [ -n "$2" ]; then
		if [ -d /run/systemd/system ]; then
			systemctl --system daemon-reload >/dev/null || true
			deb-systemd-invoke try-restart faild.service >/dev/null || true
		elif [ -x /etc/init.d/faild ] && /etc/init.d/faild status >/dev/null 2>&1; then
			invoke-rc.d faild restart || true
		fi
		echo "failover: failsh was not restarted (a restart moves its services); run 'systemctl restart failsh' when convenient."
	fi
fi
exit 0
EOF
cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ]; then
	# failsh first: on SIGTERM it hands its services over to the peer.
	if [ -d /run/systemd/system ]; then
		deb-systemd-invoke stop failsh.service faild.service >/dev/null || true
	elif [ -x /etc/init.d/failsh ]; then
		invoke-rc.d failsh stop || true
		invoke-rc.d faild stop || true
	fi
fi
exit 0
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ]; then
	deb-systemd-helper mask failsh.service faild.service >/dev/null || true
fi
if [ "$1" = purge ]; then
	deb-systemd-helper purge failsh.service faild.service >/dev/null || true
	deb-systemd-helper unmask failsh.service faild.service >/dev/null || true
	update-rc.d failsh remove >/dev/null
	update-rc.d faild remove >/dev/null
	rm -rf /var/lib/failover /var/lib/private/failover /run/failover /run/failover-sh
fi
exit 0
EOF
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

# conffiles: everything under /etc.
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
chmod 644 "$root/DEBIAN/conffiles"

# Shared library dependencies, as dh_shlibdeps computes them.
shlib=$(mktemp -d)
mkdir -p "$shlib/debian"
printf 'Source: failover\n\nPackage: failover\nArchitecture: any\n' >"$shlib/debian/control"
depends=$(cd "$shlib" && dpkg-shlibdeps -O "$root"/usr/sbin/* "$root"/usr/bin/* 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlib"
[ -n "$depends" ] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

installed_size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: failover
Version: $version-$revision
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends, iproute2
Recommends: bash-completion
Section: net
Priority: optional
Homepage: https://example.invalid/failover
Description: IP address failover between hosts (faild, failsh)
 A reimplementation of the AFMfail failover utilities. faild stores the state
 (UP, RECOVER, FAIL) of this host's services and serves it, authenticated with
 HMAC-SHA256; failsh polls the faild of every master and slave of each service
 and runs the Tcl procedures that bring a service address up or down here, so
 that one host holds it. grarp announces a moved address, failc and failstat
 set and read states, failmon shows failsh's view, faildebug changes log levels
 at run time and failsim runs failover scenarios on a deterministic simulator.
EOF
chmod 644 "$root/DEBIAN/control"

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/failover_${version}-${revision}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
