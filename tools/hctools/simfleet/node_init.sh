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
# SIMFLEET_RESTART_DELAY (seconds between tunnel restarts), SIMFLEET_SSHD (path of sshd).
set -u
D="${SIMFLEET_NODE_DIR:?SIMFLEET_NODE_DIR must be set}"
DELAY="${SIMFLEET_RESTART_DELAY:-2}"
SSHD="${SIMFLEET_SSHD:-/usr/sbin/sshd}"

die() { echo "node_init: $*" >&2; exit 1; }

# Mounts made here stay in this node's mount namespace and die with it.
mount --make-rprivate / || die "cannot make / private"
# Persistent per-node state, bound on the production paths. Bind these before /tmp is covered: the
# node directory itself may live under /tmp on the host.
mount --bind "$D/etc-waggle" /etc/waggle || die "bind /etc/waggle"
mount --bind "$D/honeycomb" /var/lib/honeycomb || die "bind /var/lib/honeycomb"
mount --bind "$D/root" /root || die "bind /root"
mount --bind "$D/etc-ssh" /etc/ssh || die "bind /etc/ssh"
mount --bind "$D/var-log" /var/log || die "bind /var/log"
mount --bind "$D/etc-hosts" /etc/hosts || die "bind /etc/hosts"
# Volatile: a fresh /run and /tmp at every boot.
mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev tmpfs /run || die "tmpfs /run"
mkdir -p /run/sshd /run/simfleet-uplink
# The node's only way out: a unix socket whose other end (a relay in the host) leads to the bastion.
mount --bind "$D/uplink" /run/simfleet-uplink || die "bind uplink"
mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs /tmp || die "tmpfs /tmp"
mount -t proc -o nosuid,nodev,noexec proc /proc || die "proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || die "sysfs"

ID=$(cat /etc/waggle/node-id) || die "no /etc/waggle/node-id"
ini() {  # ini SECTION KEY: a value from /etc/waggle/config.ini
    awk -F '[ \t]*=[ \t]*' -v s="[$1]" -v k="$2" \
        '$0 == s {f = 1; next} /^\[/ {f = 0} f && $1 == k {print $2; exit}' /etc/waggle/config.ini
}
BK_HOST=$(ini reverse-tunnel host)
BK_PORT=$(ini reverse-tunnel port)
BK_KEY=$(ini reverse-tunnel key)
LOG=/var/log/simfleet
mkdir -p "$LOG"
echo "$(date -u +%FT%TZ) boot node $ID" >> "$LOG/boot.log"

(
    while :; do
        "$SSHD" -D -e >> "$LOG/sshd.log" 2>&1
        echo "$(date -u +%FT%TZ) sshd exited rc=$?" >> "$LOG/sshd.log"
        sleep 1
    done
) &

(
    while :; do
        {
            date -u +"%FT%TZ tunnel start"
            ssh -N -o ServerAliveInterval=5 -o ServerAliveCountMax=2 -o ExitOnForwardFailure=yes \
                -o BatchMode=yes -o ConnectTimeout=10 \
                -o "ProxyCommand=socat - UNIX-CONNECT:/run/simfleet-uplink/bastion.sock" \
                -o HostKeyAlias=bastion -o UserKnownHostsFile=/etc/waggle/bk_known_hosts \
                -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
                -i "$BK_KEY" -p "$BK_PORT" \
                -R "/home_dirs/node-$ID/rtun.sock:localhost:22" "root@$BK_HOST" 2>&1
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
