#!/usr/bin/env bash
# Provision Asterisk 22 for the test bench (and the recipe the container image follows).
#
# Prints, on its last line of stdout, either the path of an `asterisk` binary on PATH
# (when it is version 22) or the path of a cached Debian unstable root that holds
# Asterisk 22; run it there with `chroot ROOT asterisk ...`.
#
# Idempotent: a finished root is reused as is; a root whose debootstrap completed but
# whose package install did not is finished off; the root only appears at its final path
# (an atomic rename) once Asterisk is installed in it.
#
# Environment:
#   CTI_ASTERISK_ROOT  where the cached root lives (default /var/cache/cti/asterisk-root)
#   CTI_DEBIAN_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

ASTERISK_MAJOR=22
ROOT="${CTI_ASTERISK_ROOT:-/var/cache/cti/asterisk-root}"
PARTIAL="${ROOT}.partial"
MIRROR="${CTI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=(asterisk asterisk-core-sounds-en-wav asterisk-moh-opsound-wav)

log() { echo "provision-asterisk: $*" >&2; }

is_major() {  # is_major <asterisk -V output>
    [[ "$1" =~ ^Asterisk\ ${ASTERISK_MAJOR}\. ]]
}

# 1. An asterisk 22 already on PATH wins.
if command -v asterisk >/dev/null 2>&1; then
    version="$(asterisk -V 2>/dev/null || true)"
    if is_major "$version"; then
        command -v asterisk
        exit 0
    fi
    log "ignoring $(command -v asterisk) ($version): not Asterisk ${ASTERISK_MAJOR}"
fi

root_ready() {  # root_ready DIR: Asterisk 22 installed and runnable in DIR
    [[ -x "$1/usr/sbin/asterisk" ]] || return 1
    is_major "$(chroot "$1" /usr/sbin/asterisk -V 2>/dev/null || true)"
}

# 2. A finished cached root.
if root_ready "$ROOT"; then
    echo "$ROOT"
    exit 0
fi

if [[ $EUID -ne 0 ]]; then
    log "must run as root to build $ROOT (debootstrap and chroot)"
    exit 1
fi

mkdir -p "$(dirname "$ROOT")"
exec 9>"${ROOT}.lock"
flock 9
if root_ready "$ROOT"; then  # another run finished it while we waited for the lock
    echo "$ROOT"
    exit 0
fi
if [[ -e "$ROOT" ]]; then
    log "$ROOT exists but holds no Asterisk ${ASTERISK_MAJOR}; remove it and run again"
    exit 1
fi

# 3. debootstrap, unless a previous run finished it (debootstrap removes its own
#    working directory <target>/debootstrap only when it succeeds).
bootstrapped() {
    [[ -x "$PARTIAL/usr/bin/apt-get" && ! -e "$PARTIAL/debootstrap" ]]
}
if ! bootstrapped; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2
    fi
    rm -rf "$PARTIAL"
    log "debootstrap --variant=minbase sid $PARTIAL (about half a minute)"
    debootstrap --variant=minbase sid "$PARTIAL" "$MIRROR" >&2
fi

# 4. Packages. Deny service starts from maintainer scripts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$PARTIAL/usr/sbin/policy-rc.d"
chmod 0755 "$PARTIAL/usr/sbin/policy-rc.d"
log "installing ${PACKAGES[*]} into $PARTIAL"
chroot "$PARTIAL" apt-get -o Acquire::Check-Valid-Until=false update >&2
DEBIAN_FRONTEND=noninteractive chroot "$PARTIAL" \
    apt-get install -y --no-install-recommends "${PACKAGES[@]}" >&2
chroot "$PARTIAL" apt-get clean >&2

# 5. No DNS here: without a hosts entry for this host Asterisk resolves names on every
#    call and SIP retransmissions run out under load.
host="$(hostname)"
{
    echo "127.0.0.1 localhost"
    [[ "$host" != localhost ]] && echo "127.0.0.1 $host"
    echo "::1 localhost ip6-localhost ip6-loopback"
} >"$PARTIAL/etc/hosts"

if ! root_ready "$PARTIAL"; then
    log "Asterisk ${ASTERISK_MAJOR} is not runnable in $PARTIAL after the install"
    exit 1
fi

# 6. Publish atomically.
mv -T "$PARTIAL" "$ROOT"
log "Asterisk root ready: $ROOT"
echo "$ROOT"
