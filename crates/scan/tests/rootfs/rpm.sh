#!/usr/bin/env bash
# Builds a small Rocky-Linux-like root filesystem in $1 whose package database is a real
# rpmdb.sqlite written by rpm itself (Debian's rpm 4.18 uses the sqlite backend): packages
# built with rpmbuild (with and without an epoch, each with a -libs subpackage whose source rpm
# has another name) and installed
# with `rpm --justdb`.
set -euo pipefail
out="$1"
work="$out.work"
command -v rpmbuild >/dev/null || { echo "rpm.sh: rpmbuild missing: run scripts/install-peers.sh" >&2; exit 1; }
rm -rf "$work" "$out.tmp"
mkdir -p "$work/SPECS" "$out.tmp/etc" "$out.tmp/var/lib/rpm"
cat > "$out.tmp/etc/os-release" <<'O'
NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
O
# trivy detects Red Hat family systems by these files, not by os-release.
echo "Rocky Linux release 9.3 (Blue Onyx)" > "$out.tmp/etc/redhat-release"
cp "$out.tmp/etc/redhat-release" "$out.tmp/etc/rocky-release"
spec() { # name version release epoch source-name
  cat > "$work/SPECS/$1.spec" <<S
Name: $1
Version: $2
Release: $3
$( [ "$4" != 0 ] && echo "Epoch: $4" )
Summary: zoll test package $1
License: MIT
BuildArch: x86_64
%description
A package for zoll's rpm cataloger test.
%files
%package libs
Summary: libraries of $1
%description libs
The libraries subpackage (its source rpm is named after $1).
%files libs
S
}
spec openssl 3.0.7 25.el9 1
spec zoll-tool 2.4.1 3.el9 0
for s in "$work"/SPECS/*.spec; do
  rpmbuild -bb --define "_topdir $work" --define "_build_id_links none" "$s" >/dev/null 2>&1 \
    || { rpmbuild -bb --define "_topdir $work" "$s"; exit 1; }
done
rpm --dbpath "$out.tmp/var/lib/rpm" --initdb
rpm --dbpath "$out.tmp/var/lib/rpm" -i --justdb --nodeps --ignorearch --ignoreos "$work"/RPMS/x86_64/*.rpm
[ -f "$out.tmp/var/lib/rpm/rpmdb.sqlite" ] || { echo "rpm.sh: rpm did not write rpmdb.sqlite" >&2; exit 1; }
rm -f "$out.tmp/var/lib/rpm/"*-shm "$out.tmp/var/lib/rpm/"*-wal "$out.tmp/var/lib/rpm/.rpm.lock"
rm -rf "$work"
mv "$out.tmp" "$out"
