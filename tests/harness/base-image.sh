#!/bin/sh
# Build a Debian base image without any container registry: debootstrap a
# minimal root file system from the Debian mirror and import it into the
# local engine. Three flavours:
#   host     the Debian 13 (trixie) systemd image that Molecule test hosts and
#            the demo host run (musicsim-test/debian13:trixie)
#   service  the slim Debian 13 base, no init system, that every service
#            image under tests/images/ is built on
#            (musicsim-test/service-base:trixie)
#   service-bookworm  the same on Debian 12, for the images of an older
#            release's packages (PostgreSQL 15: the upgrade from it is
#            tested) (musicsim-test/service-base:bookworm)
#   bookworm Debian 12 with systemd, what Raspberry Pi OS bookworm is under
#            its Pi packages (their archive cannot be reached from the test
#            machines): the raspberry-pi scenario's host
#            (musicsim-test/debian12:bookworm). For this machine's
#            architecture, or MUSICSIM_ARCH's (arm64 on an amd64 machine:
#            musicsim-test/debian12:bookworm-arm64), which then runs through
#            QEMU's user-mode emulator, installed and registered here.
#   noble    Ubuntu 24.04 with systemd, from Ubuntu's archive (the release,
#            noble-updates and noble-security: Docker 29 is what installs),
#            the ubuntu scenario's host (musicsim-test/ubuntu2404:noble).
#            Ubuntu's archive is not among the registries the test machines
#            are promised: when it does not answer (asked each time, even
#            when the image is kept), the build says so and exits 3, and
#            that scenario is skipped by name
#            (tests/harness/run-scenarios.sh), not the whole suite failed.
#
# The image carries a label with the hash of this recipe; while the recipe is
# unchanged an existing image is reused (a build takes a minute or two, an
# emulated one about six).
#
# Usage: [MUSICSIM_ARCH=arm64] base-image.sh [host|service|service-bookworm|bookworm|noble]
set -eu

flavour=${1:-host}
# Service bases are slim (no init system, no documentation) and carry the
# build machine's CA bundle; host images are systemd machines.
slim=no
suite=trixie
arch=$(dpkg --print-architecture)
# What a fresh Raspberry Pi OS or Ubuntu install has that matters here:
# Python with its apt bindings (so `--check` previews work), systemd, sudo.
host_packages=python3,python3-apt,systemd,systemd-sysv,sudo,ca-certificates,iproute2,procps,dbus
case "$flavour" in
host)
    image=${MUSICSIM_TEST_IMAGE:-musicsim-test/debian13:trixie}
    packages=$host_packages
    ;;
service | service-bookworm)
    image=musicsim-test/service-base:trixie
    [ "$flavour" = service ] || { suite=bookworm; image=musicsim-test/service-base:bookworm; }
    slim=yes
    # Python is in the base because most service images need it, and a layer
    # shared by all of them is loaded into a test host only once.
    packages=python3,ca-certificates
    ;;
bookworm)
    suite=bookworm
    arch=${MUSICSIM_ARCH:-$arch}
    image=musicsim-test/debian12:bookworm
    [ "$arch" = "$(dpkg --print-architecture)" ] || image=$image-$arch
    packages=$host_packages
    ;;
noble)
    suite=noble
    image=musicsim-test/ubuntu2404:noble
    packages=$host_packages
    ;;
*)
    echo "usage: $0 [host|service|service-bookworm|bookworm|noble]" >&2
    exit 2
    ;;
esac

if [ "$flavour" = noble ]; then
    mirror=${MUSICSIM_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}
else
    # The mirror comes from this machine's own apt sources, never a fixed name.
    mirror=${MUSICSIM_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/*$/\1/p' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
    if [ -z "$mirror" ]; then
        mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\)\/* .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
    fi
    if [ -z "$mirror" ]; then
        echo "base image: no Debian mirror found in /etc/apt; set MUSICSIM_DEBIAN_MIRROR" >&2
        exit 1
    fi
fi

# The build machine's CA bundle goes into service images: PyPI and npm are
# reached through a TLS-intercepting proxy on some networks (this one too).
ca_bundle=/etc/ssl/certs/ca-certificates.crt
recipe=$(cat "$0"; echo "$flavour $suite $arch $packages $mirror"; [ "$slim" = no ] || cat "$ca_bundle")
hash=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)

apt_install() {
    # Flavours may be built at once (make test): the second waits for apt.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >/dev/null
}

# The ubuntu scenario installs Docker from the archive (noble-updates), so
# an Ubuntu image made while the archive answered is of no use once it does
# not: asked every time, the image kept or not.
if [ "$flavour" = noble ]; then
    command -v curl >/dev/null 2>&1 || apt_install curl
    if ! curl -fsS --retry 2 -m 30 -o /dev/null "$mirror/dists/noble-updates/InRelease"; then
        echo "base image: Ubuntu's archive ($mirror) does not answer: $image not usable" >&2
        exit 3
    fi
fi

current=$(docker image inspect --format '{{index .Config.Labels "org.musicsim.recipe"}}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
    echo "base image: $image is up to date (recipe $hash)"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap

if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    # Another architecture's programs run through QEMU's user-mode emulator,
    # which the kernel starts for them once it is registered in binfmt_misc
    # (with the F flag: the emulator is opened now, so it works inside
    # containers too, which do not have it).
    case $arch in
    arm64) qemu=aarch64 ;;
    armhf) qemu=arm ;;
    *)
        echo "base image: no emulator known for MUSICSIM_ARCH=$arch (arm64 or armhf)" >&2
        exit 2
        ;;
    esac
    command -v "qemu-$qemu-static" >/dev/null 2>&1 || apt_install qemu-user-static binfmt-support
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e "/proc/sys/fs/binfmt_misc/qemu-$qemu" ] || update-binfmts --enable "qemu-$qemu"
    grep -qx enabled "/proc/sys/fs/binfmt_misc/qemu-$qemu" \
        && grep -q '^flags: .*F' "/proc/sys/fs/binfmt_misc/qemu-$qemu" || {
        echo "base image: the $arch emulator (qemu-$qemu) is not registered in binfmt_misc with the F flag" >&2
        exit 1
    }
fi

start=$(date +%s)
root=$(mktemp -d /var/tmp/musicsim-rootfs.XXXXXX)
trap 'rm -rf "$root" "$root".keyring.*' EXIT

# debootstrap checks the archive's signature with Debian's keys by default.
keyring=
components=main
script=
if [ "$flavour" = noble ]; then
    # Ubuntu's keys come from the ubuntu-keyring package of Ubuntu's archive
    # (Debian 12 does not carry it), trusted only if it is the file whose
    # hash is written here.
    keyring_deb=ubuntu-keyring_2023.11.28.1_all.deb
    keyring_sha256=36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8
    if ! curl -fsS --retry 2 -m 60 -o "$root.keyring.deb" "$mirror/pool/main/u/ubuntu-keyring/$keyring_deb"; then
        echo "base image: Ubuntu's archive ($mirror) does not answer: $image not built" >&2
        exit 3
    fi
    echo "$keyring_sha256  $root.keyring.deb" | sha256sum --check --quiet || {
        echo "base image: $keyring_deb from $mirror is not the file expected (sha256 $keyring_sha256)" >&2
        exit 1
    }
    dpkg-deb --fsys-tarfile "$root.keyring.deb" |
        tar -x -O ./usr/share/keyrings/ubuntu-archive-keyring.gpg >"$root.keyring.gpg"
    keyring=--keyring=$root.keyring.gpg
    # restic and a few of the roles' packages are in universe.
    components=main,universe
    # Debian 12's debootstrap does not know noble by name; every Ubuntu
    # release since 7.10 is built by the same script.
    script=/usr/share/debootstrap/scripts/gutsy
fi

echo "base image: debootstrap $flavour $suite $arch from $mirror"
# shellcheck disable=SC2086 # $keyring and $script are one word or none
debootstrap --arch="$arch" --variant=minbase --components="$components" $keyring \
    --include="$packages" "$suite" "$root" "$mirror" $script >"$root.log" 2>&1 || {
    tail -30 "$root.log" >&2
    exit 1
}
rm -f "$root.log"

# The same sources a Debian or Ubuntu machine has, security updates
# included, so the roles' unattended-upgrades configuration has something
# real to point at.
rm -f "$root/etc/apt/sources.list"
if [ "$flavour" = noble ]; then
    # Ubuntu's own layout (ubuntu.sources); the security pocket from the same
    # archive, which carries it too.
    cat >"$root/etc/apt/sources.list.d/ubuntu.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates $suite-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
SOURCES
else
    security=$(printf '%s' "$mirror" | sed 's|/debian$|/debian-security|')
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi

# Keep the image small: no apt lists or caches; hosts run apt-get update.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

if [ "$slim" = no ]; then
    # systemd units that cannot work in a container only add noise and delay.
    for unit in getty.target console-getty.service systemd-firstboot.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    : >"$root/etc/machine-id"
    cmd='CMD ["/lib/systemd/systemd"]'
    env='ENV container=docker'
else
    # Packages installed by image builds must not try to start services.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    # No documentation or translations in service images, now or later.
    rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    cat >"$root/etc/dpkg/dpkg.cfg.d/01-slim" <<'SLIM'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
SLIM
    cp "$ca_bundle" "$root/usr/local/share/ca-certificates/build-host-bundle.crt"
    # (rehash warns that a bundle is not one certificate; the bundle file is
    # what OpenSSL reads, so the warning is expected and silenced.)
    chroot "$root" update-ca-certificates >/dev/null 2>&1
    cmd='CMD ["/bin/bash"]'
    env='ENV LANG=C.UTF-8'
fi

tar -C "$root" -c . | docker import \
    --platform "linux/$arch" \
    -c "$cmd" \
    -c "$env" \
    -c "LABEL org.musicsim.recipe=$hash" \
    - "$image" >/dev/null
echo "base image: built $image (recipe $hash) in $(($(date +%s) - start)) s"
