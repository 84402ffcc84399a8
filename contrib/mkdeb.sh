#!/bin/sh
# Build deployfs_<version>_<arch>.deb (and its -dbgsym) from a staged
# DESTDIR; run by `make deb`. Usage: contrib/mkdeb.sh VERSION OUTDIR
#   the binary is stripped, its debug symbols split into
#   deployfs-dbgsym_<version>_<arch>.deb (/usr/lib/debug/.build-id/...);
#   Depends come from dpkg-shlibdeps (plus fuse3: mount.fuse3, fusermount3).
set -eu
VERSION=$1
OUT=$2
MAINTAINER=${DEB_MAINTAINER:-deployfs maintainers <maintainers@users.noreply.r-seed-f9b788a6.example>}
ARCH=$(dpkg --print-architecture)
REV=${DEB_REVISION:-1}
WORK=$OUT/deb
STAGE=$WORK/deployfs
DBG=$WORK/deployfs-dbgsym
DOC=$STAGE/usr/share/doc/deployfs

rm -rf "$WORK"
mkdir -p "$WORK"
# Debian 12 keeps units in /lib/systemd/system
make -s install DESTDIR="$STAGE" PREFIX=/usr UNITDIR=/lib/systemd/system

# strip, with the debug symbols in the -dbgsym package by build id
bin=$STAGE/usr/bin/deployfs
id=$(readelf -n "$bin" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
[ -n "$id" ] || { echo "mkdeb: $bin has no build id" >&2; exit 1; }
dbgdir=$DBG/usr/lib/debug/.build-id/$(echo "$id" | cut -c1-2)
mkdir -p "$dbgdir"
dbgfile=$dbgdir/$(echo "$id" | cut -c3-).debug
objcopy --only-keep-debug --compress-debug-sections "$bin" "$dbgfile"
chmod 0644 "$dbgfile"
objcopy --strip-unneeded --remove-section=.comment --remove-section=.note \
	--add-gnu-debuglink="$dbgfile" "$bin"

# documentation, as Debian wants it: compressed man page and README,
# changelog.Debian, copyright, examples
gzip -9n "$STAGE/usr/share/man/man8/deployfs.8"
mkdir -p "$DOC/examples"
gzip -9n -c README.md > "$DOC/README.md.gz"
cp -r examples/. "$DOC/examples/"
date=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
printf 'deployfs (%s-%s) unstable; urgency=medium\n\n  * Package built from the deployfs source tree (make deb).\n\n -- %s  %s\n' \
	"$VERSION" "$REV" "$MAINTAINER" "$date" | gzip -9n > "$DOC/changelog.Debian.gz"
cat > "$DOC/copyright" <<EOC
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: deployfs
Upstream-Contact: $MAINTAINER

Files: *
Copyright: the deployfs authors
License: not-stated
 The deployfs source tree states no license.
EOC
mkdir -p "$DBG/usr/share/doc"
ln -s deployfs "$DBG/usr/share/doc/deployfs-dbgsym"
find "$STAGE" "$DBG" -type d -exec chmod 0755 {} +
find "$STAGE/usr/share" -type f -exec chmod 0644 {} +

# Depends from dpkg-shlibdeps, which wants a debian/control to stand in
mkdir -p "$WORK/src/debian"
printf 'Source: deployfs\n\nPackage: deployfs\nArchitecture: any\n' > "$WORK/src/debian/control"
shlibs=$(cd "$WORK/src" && dpkg-shlibdeps -O "$STAGE/usr/bin/deployfs" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb: dpkg-shlibdeps found nothing" >&2; exit 1; }

size() { du -k -s --apparent-size "$1" | cut -f1; }
mkdir -p "$STAGE/DEBIAN" "$DBG/DEBIAN"
cat > "$STAGE/DEBIAN/control" <<EOC
Package: deployfs
Version: $VERSION-$REV
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(size "$STAGE")
Depends: $shlibs, fuse3
Suggests: golang-docker-credential-helpers
Section: admin
Priority: optional
Description: FUSE filesystem that mounts deployment state as files
 deployfs mounts environments, apps, container registries and Glance
 images as small files: reading a file shows a value, writing it validates
 the value, checks container images in their registry and commits it to a
 local store, an apps API or OpenStack Glance.
 .
 Mount from /etc/fstab (type fuse.deployfs) or with the systemd template
 unit deployfs@.service; see deployfs(8).
EOC
cat > "$DBG/DEBIAN/control" <<EOC
Package: deployfs-dbgsym
Source: deployfs
Version: $VERSION-$REV
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(size "$DBG")
Depends: deployfs (= $VERSION-$REV)
Section: debug
Priority: optional
Description: debug symbols for deployfs
Build-Ids: $id
EOC
for p in "$STAGE" "$DBG"; do
	(cd "$p" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
		sort -z | xargs -0 md5sum > DEBIAN/md5sums)
	chmod 0644 "$p/DEBIAN/control" "$p/DEBIAN/md5sums"
done
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT/deployfs_${VERSION}-${REV}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$DBG" "$OUT/deployfs-dbgsym_${VERSION}-${REV}_${ARCH}.deb"
