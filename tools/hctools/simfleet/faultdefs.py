"""The fault table of simfleet: every fault's name, effect, the checks it fails and whether it survives a
boot (docs/simfleet.md). Data only (bottom layer); faults.py switches them.
"""

from __future__ import annotations

from dataclasses import dataclass

@dataclass(frozen=True)
class Fault:
    name: str
    effect: str
    checks: tuple[str, ...]  # sanity_check results it makes fail
    persistent: bool
    why: str  # why it does or does not survive a boot
    options: tuple[str, ...] = ()


FAULTS = {f.name: f for f in (
    Fault("fsck", "/run/initramfs/fsck.log reports UNEXPECTED INCONSISTENCY for /dev/mmcblk0p1 instead of clean",
          ("fsck_clean",), True, "a damaged file system fails the boot-time fsck again at every boot"),
    Fault("clock", "/run/systemd/timesync/synchronized is removed (timesyncd never synchronised)",
          ("clock_synchronized",), True, "models an unreachable time server: not synchronised after a boot either"),
    Fault("mount-ro", "/media/root-rw is remounted read-only", ("mounts",), False,
          "models the kernel remounting read-only after I/O errors; the boot mounts it read-write again"),
    Fault("psu", "a PSU status line (--line, default pg1) reads 0 in /sys/class/gpio/gpio<N>/value",
          ("psu_gpio",), True, "hardware: the supply stays faulty", ("line",)),
    Fault("sanity-fail", "adds /etc/waggle/sanity/<severity>/simfleet_fail.test, which exits 3",
          ("simfleet_fail",), True, "the test file is on the node's disk", ("severity",)),
    Fault("sanity-hang", "adds /etc/waggle/sanity/<severity>/simfleet_hang.test, which never ends (rc 127 "
          "after the test timeout)", ("simfleet_hang",), True, "the test file is on the node's disk", ("severity",)),
    Fault("k3s-notready", "kubectl reports the node's Ready condition Unknown (NotReady)", ("k3s_node_ready",),
          False, "models a stalled kubelet; k3s starts afresh at boot"),
    Fault("vsn", "/etc/waggle/vsn holds a malformed VSN (the VSN in lower case)", ("node_identity",), True,
          "the file is on the node's disk"),
    Fault("switch-down", "stops the node's switch simulator (10.31.81.2)", ("switch_reachable",), True,
          "the switch has its own power supply: a node reboot does not restart it"),
    Fault("camera-down", "stops the node's camera simulator (10.31.81.10)", ("cameras_http",), True,
          "the camera is powered by the switch (PoE), not by the node"),
    Fault("lan0-down", "unplugs lan0: its peer in the LAN namespace goes down, lan0 loses carrier",
          ("lan0_up", "switch_reachable", "cameras_http"), True,
          "a pulled cable stays pulled; without lan0 the switch and cameras are unreachable too"),
    Fault("recovery", "the node reboots onto boot slot 1 (the SD card recovery copy): nvbootctrl get-current-slot "
          "prints 1 and /var/lib/honeycomb is a fresh empty tmpfs; --off reboots it onto slot 0 (bootslot.py)",
          ("current_media",), True, "the bootloader keeps the active slot: every boot uses slot 1 until switched back"),
)}

DEVICE_FAULTS = {"switch-down": "switch", "camera-down": "camera"}
SEVERITIES = ("warning", "fatal")


def describe() -> str:
    """The table `simfleet fault --list` prints."""
    rows = [("FAULT", "PERSISTS", "CHECKS THAT FAIL", "EFFECT")]
    for f in FAULTS.values():
        opts = "".join(f" [--{o} ...]" for o in f.options)
        rows.append((f.name + opts, "yes" if f.persistent else "no", ",".join(f.checks), f.effect))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    out = [f"{r[0]:{w[0]}}  {r[1]:{w[1]}}  {r[2]:{w[2]}}  {r[3]}" for r in rows]
    out.append("")
    out.append("PERSISTS yes: survives `simfleet power-cut` + `power-on` (cleared by --off or a fresh `up`); "
               "no: gone after the next boot.")
    for f in FAULTS.values():
        out.append(f"  {f.name}: {f.why}")
    out.append("psu --line: acok, pg1 (default), pg2, pg3, pg4; sanity-fail/sanity-hang --severity: warning "
               "(default) or fatal.")
    return "\n".join(out) + "\n"


def as_json() -> list[dict]:
    return [{"name": f.name, "effect": f.effect, "checks": list(f.checks), "persistent": f.persistent,
             "why": f.why, "options": list(f.options)} for f in FAULTS.values()]
