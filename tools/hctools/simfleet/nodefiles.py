"""What a simulated node provides for the sanity checks (docs/simfleet.md, "What the sanity checks read").

Files on the node's persistent disk (written by `simfleet up`), the shared helper files of a fleet
(`DIR/sim/`: the stand-in `kubectl`, the fsck log bodies that node_init.sh copies to
`/run/initramfs/fsck.log` at every boot) and the manifest a node caches.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import bootslot

# The Wild Sage NX layout (docs/devices/node.md, storage and paths): read-only eMMC root, NVMe overlay, plugin data.
# mount point on the node -> (per-node directory under DIR/nodes/<VSN>/, mode)
MEDIA_MOUNTS = {
    "/media/root-ro": ("media-root-ro", "ro"),
    "/media/root-rw": ("media-root-rw", "rw"),
    "/media/plugin-data": ("media-plugin-data", "rw"),
}

# PSU status lines: config.ini [wagman] key -> GPIO number. The real numbers are node configuration
# (not in public sources); the sanity check reads whatever config.ini says, so any
# numbers work as long as config.ini and the GPIO tree agree, as they do here.
PSU_GPIOS = {"gpio-acok3": 492, "gpio-pg1": 493, "gpio-pg2": 494, "gpio-pg3": 495, "gpio-pg4": 496}
# `simfleet fault NODE psu --line NAME` names a line as the sanity check does
PSU_LINES = {"acok": "gpio-acok3", "pg1": "gpio-pg1", "pg2": "gpio-pg2", "pg3": "gpio-pg3", "pg4": "gpio-pg4"}

FSCK_DEVICE = "/dev/mmcblk0p1"

# Body of /run/initramfs/fsck.log (initramfs-tools runs `logsave -s /run/initramfs/fsck.log fsck -C -a -T
# -t ext4 <root>`); node_init.sh adds logsave's header and footer lines with the boot time.
FSCK_CLEAN = f"""\
fsck from util-linux 2.31.1
{FSCK_DEVICE}: clean, 191307/1831424 files, 3141960/7325696 blocks
"""
FSCK_ERROR = f"""\
fsck from util-linux 2.31.1
{FSCK_DEVICE} contains a file system with errors, check forced.
{FSCK_DEVICE}: Inode 524301 has an invalid extent
\t(logical block 0, invalid physical block 2228318, len 1)

{FSCK_DEVICE}: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.
\t(i.e., without -a or -p options)
fsck exited with status code 4
"""

SANITY_CONFIG_INI = """\
# Waggle sanity suite configuration (waggle-sanity-check), simulated node (simfleet)
[all]
warning_tests = /etc/waggle/sanity/warning
fatal_tests = /etc/waggle/sanity/fatal
interactive_tests = /etc/waggle/sanity/interactive
check_mins = 60
timeout_secs = 150
"""

# The passing tests every simulated node has (severity folder, file name, script).
SANITY_TESTS = {
    ("warning", "node_id_set.test"): """\
#!/bin/sh
# simfleet: as Waggle's node_id_set, the hostname must be ws-nxcore-<node ID>
# (SIMFLEET_* are set in ports mode only, where the node has no /etc/waggle nor hostname of its own)
id=$(cat "${SIMFLEET_ETC_WAGGLE:-/etc/waggle}/node-id") || exit 1
name=${SIMFLEET_HOSTNAME:-$(hostname)}
if [ "$name" != "ws-nxcore-$id" ]; then
    echo "hostname $name is not ws-nxcore-$id"
    exit 1
fi
echo "hostname ws-nxcore-$id"
""",
    ("warning", "current_media.test"): """\
#!/bin/sh
# simfleet: as Waggle's current_media, rc = the boot slot (0 eMMC "Normal", 1 SD card "Recovery"; the
# stand-in nvbootctrl answers, see `simfleet fault NODE recovery`)
slot=$(nvbootctrl get-current-slot 2>/dev/null) || slot=0
case "$slot" in 1) echo "booted from slot 1 (SD card, Recovery)" ;; *) slot=0; echo "booted from slot 0 (eMMC)" ;; esac
exit "$slot"
""",
    ("fatal", "node_manifest.test"): """\
#!/bin/sh
# simfleet: the cached node manifest names this node
etc=${SIMFLEET_ETC_WAGGLE:-/etc/waggle}
id=$(cat "$etc/node-id") || exit 1
if ! grep -q "\\"name\\": \\"$id\\"" "$etc/node-manifest-v2.json"; then
    echo "/etc/waggle/node-manifest-v2.json does not name node $id"
    exit 2
fi
echo "manifest of $id present"
""",
}

# The tests the sanity-fail / sanity-hang faults add (file name -> script).
FAULT_TESTS = {
    "sanity-fail": ("simfleet_fail.test", """\
#!/bin/sh
# added by `simfleet fault <node> sanity-fail`
echo "simulated failure (simfleet fault sanity-fail)"
exit 3
"""),
    "sanity-hang": ("simfleet_hang.test", """\
#!/bin/sh
# added by `simfleet fault <node> sanity-hang`: never ends on its own
echo "simulated hang (simfleet fault sanity-hang)"
exec sleep 86400
"""),
}

# A stand-in for k3s's kubectl, first in every node's PATH (/usr/local/bin), so that the host's own
# kubectl (if any) never answers for a node. Simulates `get node(s)` for the node itself only.
KUBECTL = r"""#!/bin/sh
# simfleet: stands in for k3s's kubectl on a simulated Wild Sage node (docs/simfleet.md).
# Simulates only `kubectl [--kubeconfig F] get node[s] [NAME] [-o json|wide|name]` for this node;
# Ready unless `simfleet fault <node> k3s-notready` is on (/run/simfleet/k3s-notready exists).
# Ports mode: the node's /etc/waggle and /run are $SIMFLEET_ETC_WAGGLE and $SIMFLEET_RUN (node sshd SetEnv).
output=''
words=''
while [ $# -gt 0 ]; do
    case "$1" in
        --kubeconfig|--namespace|-n|--context|--server|-s) shift ;;
        -o|--output) shift; output=${1:-} ;;
        --output=*) output=${1#--output=} ;;
        -o*) output=${1#-o} ;;
        -*) ;;
        *) words="$words $1" ;;
    esac
    [ $# -gt 0 ] && shift
done
# shellcheck disable=SC2086  # word splitting wanted
set -- $words
id=$(cat "${SIMFLEET_ETC_WAGGLE:-/etc/waggle}/node-id" 2>/dev/null) || { echo "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?" >&2; exit 1; }
me="$(echo "$id" | tr '[:upper:]' '[:lower:]').ws-nxcore"
case "${1:-}/${2:-}" in
    get/node|get/nodes|get/no) ;;
    *) echo "error: simfleet's kubectl only simulates 'kubectl get node(s) [NAME] [-o json]'" >&2; exit 1 ;;
esac
name=${3:-}
if [ -n "$name" ] && [ "$name" != "$me" ]; then
    echo "Error from server (NotFound): nodes \"$name\" not found" >&2
    exit 1
fi
now=$(date -u +%FT%TZ)
if [ -e "${SIMFLEET_RUN:-/run}/simfleet/k3s-notready" ]; then
    state=NotReady
    ready="{\"type\": \"Ready\", \"status\": \"Unknown\", \"reason\": \"NodeStatusUnknown\", \"message\": \"Kubelet stopped posting node status.\", \"lastHeartbeatTime\": \"$now\", \"lastTransitionTime\": \"$now\"}"
else
    state=Ready
    ready="{\"type\": \"Ready\", \"status\": \"True\", \"reason\": \"KubeletReady\", \"message\": \"kubelet is posting ready status. AppArmor enabled\", \"lastHeartbeatTime\": \"$now\", \"lastTransitionTime\": \"$now\"}"
fi
node="{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"$me\", \"labels\": {\"kubernetes.io/hostname\": \"$me\", \"node-role.kubernetes.io/master\": \"true\", \"node-role.kubernetes.io/control-plane\": \"true\", \"node.kubernetes.io/instance-type\": \"k3s\", \"kubernetes.io/arch\": \"arm64\", \"kubernetes.io/os\": \"linux\"}}, \"spec\": {\"podCIDR\": \"10.42.0.0/24\"}, \"status\": {\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"10.31.81.1\"}, {\"type\": \"Hostname\", \"address\": \"$me\"}], \"conditions\": [{\"type\": \"MemoryPressure\", \"status\": \"False\", \"reason\": \"KubeletHasSufficientMemory\"}, {\"type\": \"DiskPressure\", \"status\": \"False\", \"reason\": \"KubeletHasNoDiskPressure\"}, {\"type\": \"PIDPressure\", \"status\": \"False\", \"reason\": \"KubeletHasSufficientPID\"}, $ready], \"nodeInfo\": {\"kubeletVersion\": \"v1.25.4+k3s1\", \"osImage\": \"Ubuntu 18.04.6 LTS\", \"architecture\": \"arm64\", \"operatingSystem\": \"linux\", \"containerRuntimeVersion\": \"containerd://1.6.8-k3s1\"}}}"
case "$output" in
    json)
        if [ -n "$name" ]; then echo "$node"; else echo "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [$node]}"; fi ;;
    name) echo "node/$me" ;;
    *)
        printf '%-28s %-9s %-27s %-5s %s\n' NAME STATUS ROLES AGE VERSION
        printf '%-28s %-9s %-27s %-5s %s\n' "$me" "$state" "control-plane,master" 1d v1.25.4+k3s1 ;;
esac
"""


def manifest(n: dict, beekeeper_node: dict) -> dict:
    """/etc/waggle/node-manifest-v2.json: the node's `/manifests/<VSN>/` entry as nodes cache it."""
    keys = ("vsn", "name", "phase", "project", "address", "gps_lat", "gps_lon", "modem", "tags", "computes",
            "sensors", "resources", "lorawanconnections")
    return {k: beekeeper_node[k] for k in keys if k in beekeeper_node}


def resources() -> list[dict]:
    """The node's resources in the manifest: an EP power supply (psu-bbbd: the psu check tests PG2) and
    the switch (docs/devices/node.md)."""
    def hw(hardware, model, maker):
        return {"hardware": hardware, "hw_model": model, "hw_version": "", "sw_version": "", "manufacturer": maker,
                "datasheet": "", "capabilities": [], "description": ""}
    return [{"name": "psu", "hardware": hw("psu-bbbd", "PSU-BBBD", "Waggle")},
            {"name": "switch", "hardware": hw("switch", "ES-8-150W", "Ubiquiti")}]


def beekeeper_record(n: dict, units: list[str] | tuple = ()) -> dict:
    """Node n as the manifest API (`/manifests/`) returns it, with the `/api/v-beta/nodes/` fields
    merged in; units: its compute units besides nxcore (`up --units`), listed in `computes` with the
    manifest's zones. Simulated values are plausible, not real."""
    i = n["index"]
    phase = "Deployed"
    sensors = [
        {"name": "top_camera", "hw_model": "XNP-6400RW", "manufacturer": "Hanwha", "scope": "global",
         "capabilities": ["camera"], "is_active": True},
        {"name": "bme680", "hw_model": "BME680", "manufacturer": "Bosch", "scope": "global",
         "capabilities": [], "is_active": True},
    ]
    computes = [{"name": "nxcore", "zone": "core", "serial_no": n["node_id"], "hw_model": "xaviernx",
                 "manufacturer": "ConnectTech", "is_active": True, "capabilities": ["gpu", "cuda102", "arm64"]}]
    if "nxagent" in units:
        computes.append({"name": "nxagent", "zone": "agent", "serial_no": f"{n['node_id']}-A", "hw_model": "xaviernx",
                         "manufacturer": "ConnectTech", "is_active": True, "capabilities": ["gpu", "arm64"]})
    if "rpi" in units:
        computes.append({"name": "rpi", "zone": "shield", "serial_no": f"{n['node_id']}-R", "hw_model": "RPI4B",
                         "manufacturer": "Raspberry Pi", "is_active": True, "capabilities": ["arm64"]})
    return {
        "id": i,
        "vsn": n["vsn"],
        "name": n["node_id"],
        "phase": phase,
        "project": "SAGE",
        "focus": "simulated",
        "partner": "",
        "type": "WSN",
        "site_id": f"SIM{i:03d}",
        "address": f"Simulated site {i}",
        "location": "",
        "gps_lat": round(41.7 + i / 1000, 6),
        "gps_lon": round(-87.98 - i / 1000, 6),
        "gps_alt": 200,
        "commissioned_at": "2024-01-01T00:00:00Z",
        "registered_at": "2023-12-01T00:00:00Z",
        "modem": {"model": "mtcm2", "sim_type": "att", "carrier": "AT&T"},
        "modem_model": "mtcm2",
        "modem_sim_type": "att",
        "modem_carrier": "AT&T",
        "tags": ["simfleet"] + (["even"] if i % 2 == 0 else ["odd"]),
        "computes": computes,
        "sensors": sensors,
        "resources": resources(),
        "lorawanconnections": [],
    }


def wagman_ini() -> str:
    lines = ["[wagman]", "# PSU status GPIO lines (read by the Waggle psu_status test)"]
    lines += [f"{key} = {gpio}" for key, gpio in PSU_GPIOS.items()]
    return "\n".join(lines) + "\n"


def write_sim_dir(sim: Path, write) -> None:
    """DIR/sim/: files shared by every node of the fleet (read by node_init.sh and by `fault`)."""
    (sim / "bin").mkdir(parents=True, exist_ok=True)
    write(sim / "bin" / "kubectl", KUBECTL, 0o755)
    bootslot.write_sim_files(sim, write)
    write(sim / "fsck-clean.log", FSCK_CLEAN)
    write(sim / "fsck-error.log", FSCK_ERROR)


def write_node_inputs(nd: Path, n: dict, beekeeper_node: dict, write) -> None:
    """The per-node files the sanity checks read, all healthy (faults are switched on later)."""
    for _point, (sub, _mode) in MEDIA_MOUNTS.items():
        (nd / sub).mkdir(mode=0o755, exist_ok=True)
    gpio = nd / "sys-class" / "gpio"
    for key, number in PSU_GPIOS.items():
        (gpio / f"gpio{number}").mkdir(parents=True, exist_ok=True)
        write(gpio / f"gpio{number}" / "value", "1\n")
        write(gpio / f"gpio{number}" / "direction", "in\n")
        write(gpio / f"gpio{number}" / "label", f"simfleet {key}\n")
    write(nd / "etc-hostname", f"ws-nxcore-{n['node_id']}\n")
    ew = nd / "etc-waggle"
    write(ew / "node-manifest-v2.json", json.dumps(manifest(n, beekeeper_node), indent=1) + "\n")
    sanity = ew / "sanity"
    for sev in ("warning", "fatal", "interactive"):
        (sanity / sev).mkdir(parents=True, exist_ok=True)
    write(sanity / "config.ini", SANITY_CONFIG_INI)
    for (sev, name), script in SANITY_TESTS.items():
        write(sanity / sev / name, script, 0o755)
    for name, _script in FAULT_TESTS.values():
        for sev in ("warning", "fatal"):
            (sanity / sev / name).unlink(missing_ok=True)
