#!/bin/sh
# pid 1 of one simulated Wild Sage node (see docs/simfleet.md).
#
# simfleet starts this script as the init of a fresh pid + mount + UTS namespace, already inside the
# node's network namespace. It gives the node its production paths, then supervises the node's sshd and
# its reverse tunnel to the bastion like systemd does on a real node (waggle-bk-reverse-tunnel,
# Restart=always). A power cut is SIGKILL to this process: the kernel then kills everything in the
# namespace at once.
#
# Environment (set by simfleet): SIMFLEET_NODE_DIR (the node's persistent directory on the host),
# SIMFLEET_RESTART_DELAY (seconds between tunnel restarts), SIMFLEET_SSHD (path of sshd),
# SIMFLEET_SIM_DIR (files shared by the fleet's nodes: bin/kubectl, fsck log bodies),
# SIMFLEET_FAULTS (the persistent faults this boot re-creates, space separated; see faults.py).
# The boot slot is SIMFLEET_NODE_DIR/bootctrl/active-slot (0 when missing; see bootslot.py).
#
# Ports mode (SIMFLEET_ISOLATION=ports, no root): no namespaces and no mounts. The node's production
# paths are folders of SIMFLEET_NODE_DIR (etc-waggle, honeycomb, var-log; tmp and run emptied here at
# every boot), its sshd listens on 127.0.0.1:SIMFLEET_SSH_PORT, and the tunnel binds SIMFLEET_RTUN (the
# node's socket in the bastion's home_dirs folder) as SIMFLEET_BK_USER. Not pid 1: simfleet finds the
# node's processes by their process tree and their HC_SIMFLEET_NODE environment marker.
set -u
D="${SIMFLEET_NODE_DIR:?SIMFLEET_NODE_DIR must be set}"
S="${SIMFLEET_SIM_DIR:?SIMFLEET_SIM_DIR must be set}"
DELAY="${SIMFLEET_RESTART_DELAY:-2}"
SSHD="${SIMFLEET_SSHD:-/usr/sbin/sshd}"
FAULTS=" ${SIMFLEET_FAULTS:-} "
SLOT=$(cat "$D/bootctrl/active-slot" 2>/dev/null) || SLOT=0
case "$SLOT" in 0|1) ;; *) SLOT=0 ;; esac

die() { echo "node_init: $*" >&2; exit 1; }
warn() { echo "node_init: WARNING: $*" >&2; }
fault() { case "$FAULTS" in *" $1 "*) return 0 ;; esac; return 1; }

# What the boot leaves on /run: the initramfs fsck log of the root device (logsave format) and
# systemd-timesyncd's flag file (it would appear once synchronised; a simulated clock is at once).
boot_run_files() {
    if fault fsck; then body="$S/fsck-error.log"; else body="$S/fsck-clean.log"; fi
    stamp=$(date -u '+%a %b %d %H:%M:%S %Y')
    { printf 'Log of fsck -C -a -T -t ext4 /dev/mmcblk0p1 \n%s\n\n' "$stamp"; cat "$body"
      printf '\n%s\n----------------\n' "$stamp"; } > "$RUN/initramfs/fsck.log"
    fault clock || : > "$RUN/systemd/timesync/synchronized"
}

if [ "${SIMFLEET_ISOLATION:-namespaces}" = ports ]; then
    ETC="$D/etc-waggle"
    RUN="$D/run"
    LOG="$D/var-log/simfleet"
    # Volatile: a fresh /tmp and /run at every boot (what a tmpfs gives in namespaces mode).
    rm -rf "$D/tmp" "$RUN" || die "cannot empty $D/tmp and $RUN"
    mkdir -p "$D/tmp" "$RUN/simfleet" "$RUN/initramfs" "$RUN/systemd/timesync" || die "mkdir $RUN"
    echo 0 > "$RUN/simfleet/boot-slot"  # no boot slots without a mount namespace (bootslot.py)
    UPLINK="$D/uplink/bastion.sock"
    SSHD_CONFIG="$D/etc-ssh/sshd_config"
    SSH_CONFIG="$D/etc-ssh/ssh_config"
    TARGET="127.0.0.1:${SIMFLEET_SSH_PORT:?SIMFLEET_SSH_PORT must be set}"
    RTUN="${SIMFLEET_RTUN:?SIMFLEET_RTUN must be set}"
    BK_USER="${SIMFLEET_BK_USER:?SIMFLEET_BK_USER must be set}"
    boot_run_files
else
ETC=/etc/waggle
RUN=/run
LOG=/var/log/simfleet
UPLINK=/run/simfleet-uplink/bastion.sock
SSHD_CONFIG=''
SSH_CONFIG=''
TARGET=localhost:22
BK_USER=root
# Mounts made here stay in this node's mount namespace and die with it.
mount --make-rprivate / || die "cannot make / private"
# Persistent per-node state, bound on the production paths. Bind these before /tmp is covered: the
# node directory itself may live under /tmp on the host.
mount --bind "$D/etc-waggle" /etc/waggle || die "bind /etc/waggle"
# Boot slot (bootslot.py): this boot uses the slot the bootloader keeps active. On the recovery slot
# (1, the SD card copy) the root's overlay is a tmpfs: the state dir is a fresh empty one, the node's own
# state dir on its disk stays as it was for the next boot on slot 0.
if [ "$SLOT" = 1 ]; then
    mount -t tmpfs -o mode=0755,size=1g,nosuid,nodev simfleet-recovery /var/lib/honeycomb \
        || die "tmpfs /var/lib/honeycomb (recovery slot)"
else
    mount --bind "$D/honeycomb" /var/lib/honeycomb || die "bind /var/lib/honeycomb"
fi
mount --bind "$D/root" /root || die "bind /root"
mount --bind "$D/etc-ssh" /etc/ssh || die "bind /etc/ssh"
mount --bind "$D/var-log" /var/log || die "bind /var/log"
mount --bind "$D/etc-hosts" /etc/hosts || die "bind /etc/hosts"
if [ -f /etc/hostname ]; then
    mount --bind "$D/etc-hostname" /etc/hostname || die "bind /etc/hostname"
else
    warn "the host has no /etc/hostname to bind onto; the node has none either"
fi
# The Wild Sage NX layout the sanity checks expect: eMMC root read-only, NVMe overlay and plugin data
# read-write (`simfleet fault NODE mount-ro` remounts root-rw read-only at run time).
mount --bind "$D/media-root-ro" /media/root-ro || die "bind /media/root-ro"
mount -o remount,bind,ro /media/root-ro || die "remount /media/root-ro read-only"
mount --bind "$D/media-root-rw" /media/root-rw || die "bind /media/root-rw"
mount --bind "$D/media-plugin-data" /media/plugin-data || die "bind /media/plugin-data"
# Volatile: a fresh /run and /tmp at every boot.
mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev tmpfs /run || die "tmpfs /run"
mkdir -p /run/sshd /run/simfleet-uplink /run/simfleet/bootctrl /run/initramfs /run/systemd/timesync
echo "$SLOT" > /run/simfleet/boot-slot
mkdir -p "$D/bootctrl" && mount --bind "$D/bootctrl" /run/simfleet/bootctrl || die "bind bootctrl"
# The node's only way out: a unix socket whose other end (a relay in the host) leads to the bastion.
mount --bind "$D/uplink" /run/simfleet-uplink || die "bind uplink"
boot_run_files
mount -t proc -o nosuid,nodev,noexec proc /proc || die "proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || die "sysfs"
# PSU status GPIOs: the node's own gpio tree on /sys/class/gpio. Without GPIO sysfs in the host
# kernel there is no /sys/class/gpio to bind onto, so a read-only overlay adds it to /sys/class.
if [ -d /sys/class/gpio ]; then
    mount --bind "$D/sys-class/gpio" /sys/class/gpio || die "bind /sys/class/gpio"
else
    mount -t overlay simfleet-gpio -o "lowerdir=$D/sys-class:/sys/class" /sys/class \
        || warn "cannot add /sys/class/gpio (overlayfs missing?): the psu_gpio check will fail"
fi
# A stand-in kubectl ahead of the host's own in PATH (/usr/local/bin), keeping the host's files there.
# Without overlayfs the fleet's bin folder replaces /usr/local/bin: the host's kubectl must not answer.
mount -t overlay simfleet-bin -o "lowerdir=$S/bin:/usr/local/bin" /usr/local/bin \
    || mount --bind "$S/bin" /usr/local/bin || die "cannot put kubectl on /usr/local/bin"
# Last: the node directory itself may live under /tmp on the host.
mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs /tmp || die "tmpfs /tmp"
fi


ID=$(cat "$ETC/node-id") || die "no $ETC/node-id"
RTUN="${RTUN:-/home_dirs/node-$ID/rtun.sock}"
ini() {  # ini SECTION KEY: a value from /etc/waggle/config.ini
    awk -F '[ \t]*=[ \t]*' -v s="[$1]" -v k="$2" \
        '$0 == s {f = 1; next} /^\[/ {f = 0} f && $1 == k {print $2; exit}' "$ETC/config.ini"
}
BK_HOST=$(ini reverse-tunnel host)
BK_PORT=$(ini reverse-tunnel port)
BK_KEY=$(ini reverse-tunnel key)
mkdir -p "$LOG"
echo "$(date -u +%FT%TZ) boot node $ID" >> "$LOG/boot.log"

(
    while :; do
        # shellcheck disable=SC2086  # no -f in namespaces mode: the node's /etc/ssh/sshd_config
        "$SSHD" -D -e ${SSHD_CONFIG:+-f "$SSHD_CONFIG"} >> "$LOG/sshd.log" 2>&1
        echo "$(date -u +%FT%TZ) sshd exited rc=$?" >> "$LOG/sshd.log"
        sleep 1
    done
) &

(
    while :; do
        {
            date -u +"%FT%TZ tunnel start"
            # shellcheck disable=SC2086
            ssh ${SSH_CONFIG:+-F "$SSH_CONFIG"} -N -o ServerAliveInterval=5 -o ServerAliveCountMax=2 -o ExitOnForwardFailure=yes \
                -o BatchMode=yes -o ConnectTimeout=10 \
                -o "ProxyCommand=socat - UNIX-CONNECT:$UPLINK" \
                -o HostKeyAlias=bastion -o UserKnownHostsFile="$ETC/bk_known_hosts" \
                -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
                -i "$BK_KEY" -p "$BK_PORT" \
                -R "$RTUN:$TARGET" "$BK_USER@$BK_HOST" 2>&1
            echo "$(date -u +%FT%TZ) tunnel exited rc=$?"
        } >> "$LOG/tunnel.log"
        sleep "$DELAY"
    done
) &

# Reap everything (orphans are re-parented to pid 1). The two loops never end, so wait blocks.
while :; do
    wait
    sleep 1
done
