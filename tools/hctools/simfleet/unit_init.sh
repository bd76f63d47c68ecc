#!/bin/sh
# pid 1 of one simulated compute unit of a node (an nxagent or a Raspberry Pi; see docs/simfleet.md).
#
# simfleet starts this script as the init of a fresh pid + mount + UTS namespace inside the node's LAN
# namespace, where the unit has its address (10.31.81.3 nxagent, 10.31.81.4 rpi): only the node's nxcore
# (10.31.81.1, the other end of the LAN) reaches it, and its sshd lets in only connections from there
# (like the real units' hosts.allow). It gives the unit its file systems, then supervises its sshd.
#
# Environment (set by simfleet): SIMFLEET_UNIT_DIR (the unit's persistent directory on the host),
# SIMFLEET_UNIT (nxagent or rpi), SIMFLEET_SSHD (path of sshd), SIMFLEET_SIM_DIR (the fsck log body).
#
# nxagent: the image of nxcore; /var/lib/honeycomb and /media/plugin-data persist (its NVMe).
# rpi: a read-only root with a tmpfs overlay; only /media/plugin-data (its SD card) persists. Here /root,
# /var/lib/honeycomb, /var/log, /tmp and /run are tmpfs, empty at every boot (the operator's key is copied
# into /root/.ssh from the unit's directory, as the real Pi gets it from its NFS root).
#
# Ports mode (SIMFLEET_ISOLATION=ports, no root): no namespaces, no mounts; the unit's folders stand in
# for its paths and its sshd listens on a 127.0.0.1 port (see isolation/ports.py).
set -u
D="${SIMFLEET_UNIT_DIR:?SIMFLEET_UNIT_DIR must be set}"
S="${SIMFLEET_SIM_DIR:?SIMFLEET_SIM_DIR must be set}"
UNIT="${SIMFLEET_UNIT:?SIMFLEET_UNIT must be set}"
SSHD="${SIMFLEET_SSHD:-/usr/sbin/sshd}"

die() { echo "unit_init: $*" >&2; exit 1; }
# read now: the fleet's folders may live under /tmp, which the namespaces branch covers with a tmpfs
FSCK_BODY=$(cat "$S/fsck-clean.log") || die "no $S/fsck-clean.log"

if [ "${SIMFLEET_ISOLATION:-namespaces}" = ports ]; then
    # Ports mode (no root): no mounts; the unit's folders, the volatile ones emptied here at every boot
    # (the Pi's whole writable root but its plugin-data folder). Its sshd listens on a 127.0.0.1 port.
    if [ "$UNIT" = rpi ]; then
        rm -rf "$D/honeycomb" "$D/var-log" "$D/root" || die "cannot empty the Pi's volatile folders"
        mkdir -p "$D/root/.ssh" || die "mkdir $D/root/.ssh"
        chmod 0700 "$D/root" "$D/root/.ssh"
        cp "$D/authorized_keys" "$D/root/.ssh/authorized_keys" || die "cannot install the operator's key"
    fi
    rm -rf "$D/tmp" "$D/run" || die "cannot empty $D/tmp and $D/run"
    mkdir -p "$D/tmp" "$D/run/initramfs" "$D/run/systemd/timesync" "$D/honeycomb" "$D/var-log" || die "mkdir"
    RUN="$D/run"
    LOG="$D/var-log/simfleet"
    SSHD_CONFIG="$D/etc-ssh/sshd_config"
else
mount --make-rprivate / || die "cannot make / private"
mount --bind "$D/etc-ssh" /etc/ssh || die "bind /etc/ssh"
mount --bind "$D/media-plugin-data" /media/plugin-data || die "bind /media/plugin-data"
if [ "$UNIT" = rpi ]; then
    for p in /root /var/lib/honeycomb /var/log; do
        mount -t tmpfs -o mode=0700,size=64m,nosuid,nodev tmpfs "$p" || die "tmpfs $p"
    done
    chmod 0755 /var/log
    mkdir -p /root/.ssh && chmod 0700 /root/.ssh
    cp "$D/authorized_keys" /root/.ssh/authorized_keys || die "cannot install the operator's key"
    chmod 0600 /root/.ssh/authorized_keys
else
    mount --bind "$D/root" /root || die "bind /root"
    mount --bind "$D/honeycomb" /var/lib/honeycomb || die "bind /var/lib/honeycomb"
    mount --bind "$D/var-log" /var/log || die "bind /var/log"
    mount --bind "$D/media-root-ro" /media/root-ro || die "bind /media/root-ro"
    mount -o remount,bind,ro /media/root-ro || die "remount /media/root-ro read-only"
    mount --bind "$D/media-root-rw" /media/root-rw || die "bind /media/root-rw"
fi
mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev tmpfs /run || die "tmpfs /run"
mkdir -p /run/sshd /run/initramfs /run/systemd/timesync
mount -t proc -o nosuid,nodev,noexec proc /proc || die "proc"
mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs /tmp || die "tmpfs /tmp"
RUN=/run
LOG=/var/log/simfleet
SSHD_CONFIG=''
fi
stamp=$(date -u '+%a %b %d %H:%M:%S %Y')
{ printf 'Log of fsck -C -a -T -t ext4 /dev/mmcblk0p1 \n%s\n\n%s\n' "$stamp" "$FSCK_BODY"
  printf '\n%s\n----------------\n' "$stamp"; } > "$RUN/initramfs/fsck.log"
: > "$RUN/systemd/timesync/synchronized"
mkdir -p "$LOG"
echo "$(date -u +%FT%TZ) boot unit $UNIT" >> "$LOG/boot.log"

(
    while :; do
        # shellcheck disable=SC2086  # no -f in namespaces mode: the unit's /etc/ssh/sshd_config
        "$SSHD" -D -e ${SSHD_CONFIG:+-f "$SSHD_CONFIG"} >> "$LOG/sshd.log" 2>&1
        echo "$(date -u +%FT%TZ) sshd exited rc=$?" >> "$LOG/sshd.log"
        sleep 1
    done
) &

while :; do
    wait
    sleep 1
done
