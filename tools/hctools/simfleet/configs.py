"""Configuration texts of the simulated bastion and nodes (sshd_config, config.ini, hosts; bottom layer)."""

BASTION_SSHD_CONFIG = """\
# simfleet bastion (stands in for beekeeper's bk-sshd); runs in its own mount namespace where
# {dir}/home_dirs is /home_dirs and {dir}/root is /root.
ListenAddress 127.0.0.1:{port}
HostKey {dir}/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
StreamLocalBindUnlink yes
StreamLocalBindMask 0177
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PermitTunnel no
ClientAliveCountMax 3
"""

# sshd settings of the bastion, appended to BASTION_SSHD_CONFIG: production = what beekeeper's bk-sshd
# sets (MaxStartups, MaxSessions unset, i.e. OpenSSH's 10:30:100 and 10; no local unix-socket forwarding;
# ClientAliveInterval 60); permissive = generous limits for load tests that must not meet the bastion's
# throttling.
BASTION_PROFILES = {
    "production": "AllowStreamLocalForwarding remote\nClientAliveInterval 60\nLogLevel VERBOSE\n",
    "permissive": "AllowStreamLocalForwarding yes\nMaxStartups 200:30:400\nMaxSessions 100\n"
                  "ClientAliveInterval 10\nLogLevel INFO\n",
}
DEFAULT_BASTION_PROFILE = "production"

NODE_SSHD_CONFIG = """\
# simulated Wild Sage node: production nodes accept ssh only on 127.0.0.1, i.e. through the tunnel
ListenAddress 127.0.0.1:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
LogLevel INFO
"""

# a compute unit of a node (`up --units`, namespaces mode): sshd on its LAN address, only for connections
# from the node's nxcore (the real units' hosts.allow)
UNIT_SSHD_CONFIG = """\
# simulated {hostname} of a Wild Sage node
ListenAddress {address}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers root@{nxcore}
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
Subsystem sftp internal-sftp
LogLevel INFO
"""

NODE_CONFIG_INI = """\
[system]
# simulated node (simfleet)

[reverse-tunnel]
host = bastion
port = {port}
key = {key}
"""

NODE_HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
10.31.81.1\tws-nxcore-{node_id}
10.31.81.2\tswitch
10.31.81.3\tws-nxagent
10.31.81.4\tws-rpi
"""
