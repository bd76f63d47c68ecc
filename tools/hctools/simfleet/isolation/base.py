"""What an isolation mode of simfleet decides: how a node is kept apart from the host and from the other
nodes (docs/simfleet.md, "Isolation"). The lifecycle (fleet.py), the faults and the inventory ask the
fleet's mode (Fleet.iso) instead of testing the mode's name.

Every method takes the fleet it works for (a fleet.Fleet: its dir, state, prefix and paths) and the
node record n where it is about one node.
"""

from __future__ import annotations

from pathlib import Path


class Isolation:
    name = ""
    # fault name -> why this mode cannot simulate it (refused by `simfleet fault`)
    unsupported_faults: dict[str, str] = {}
    # `simfleet wait-devices`: where the device simulators listen
    devices_where = ""

    # ------------------------------------------------------------ host
    def check_host(self) -> None:
        """Refuse to start when the host cannot run this mode (FleetError)."""

    def stop_needs_root(self, fleet) -> bool:
        """Whether stopping this fleet needs root (its namespaces, mounts) even when none are left."""
        return False

    def prepare_host(self) -> None:
        """Host-side preparation before the first node (e.g. mountpoints)."""

    def home(self) -> str:
        """HOME of every process simfleet starts."""
        raise NotImplementedError

    # ------------------------------------------------------------ nodes
    def node_record(self, fleet, index: int, vsn: str, node_id: str) -> dict:
        """The node's entry in fleet.json as `up` creates it."""
        raise NotImplementedError

    def allocate(self, fleet, nodes: list[dict]) -> None:
        """Give the new nodes what they need before anything starts (ports, ...)."""

    def make_network(self, fleet, nodes: list[dict]) -> None:
        """Create the new nodes' networks."""

    def node_key_path(self, fleet, n: dict) -> str:
        """config.ini's reverse-tunnel key as the node's own processes see it."""
        raise NotImplementedError

    def node_sshd_config(self, fleet, n: dict) -> str:
        raise NotImplementedError

    def boot(self, fleet, n: dict, argv: list[str], env: dict[str, str], log_path: str) -> dict:
        """Start the node's init (argv) and return its process record."""
        raise NotImplementedError

    def power_cut(self, fleet, n: dict) -> None:
        """Kill every process of a powered node at once and wait until they are gone."""
        raise NotImplementedError

    def node_root(self, fleet, n: dict) -> Path:
        """The node's file system as its own processes see it (a powered node)."""
        raise NotImplementedError

    # ------------------------------------------------------------ bastion
    def bastion_sshd_config(self, fleet, port: int) -> str:
        raise NotImplementedError

    def bastion_script(self) -> str:
        """Shell commands that run before the bastion's sshd (`set -e; ...; `)."""
        raise NotImplementedError

    def bastion_new_ns(self) -> int:
        """os.CLONE_* flags of the bastion's namespaces."""
        return 0

    def bastion_started(self, fleet, proc: dict) -> None:
        """Record what `down` needs to find the bastion's processes again."""

    def bastion_home_dirs(self, fleet) -> str:
        """The bastion's home_dirs folder as a login on the bastion sees it."""
        raise NotImplementedError

    # ------------------------------------------------------------ devices
    def device_bind(self, n: dict, dev: str, lan_addr: str) -> tuple[str, str]:
        """(address, extra command-line options) of node n's device simulator dev."""
        raise NotImplementedError

    def device_endpoint(self, n: dict, dev: str) -> tuple[str, int]:
        """(address, port) where node n's device simulator dev listens (`wait-devices`, device faults)."""
        raise NotImplementedError

    # ------------------------------------------------------------ compute units (up --units)
    def unit_endpoint(self, n: dict, unit: str) -> tuple[str, int]:
        """(address, port) of node n's unit's sshd, as the node's nxcore reaches it."""
        raise NotImplementedError

    def unit_sshd_config(self, fleet, n: dict, unit: str) -> str:
        raise NotImplementedError

    def boot_unit(self, fleet, n: dict, unit: str, argv: list[str], env: dict[str, str], log_path: str) -> dict:
        """Start the unit's init (argv) and return its process record."""
        raise NotImplementedError

    def unit_host_vars(self, fleet, n: dict, unit: str) -> dict:
        """Extra inventory host vars of node n's unit."""
        return {}

    # ------------------------------------------------------------ inventory
    def login_user(self, fleet) -> str:
        """The login on the bastion and the nodes."""
        return "root"

    def inventory_vars(self, fleet, fleet_vars: dict) -> dict:
        """The inventory's `all` vars, adapted to this mode."""
        return fleet_vars

    def host_vars(self, fleet, n: dict) -> dict:
        """Extra inventory host vars of node n."""
        return {}
