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
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
StreamLocalBindMask 0177
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PermitTunnel no
MaxStartups 200:30:400
MaxSessions 100
ClientAliveInterval 10
ClientAliveCountMax 3
LogLevel INFO
"""

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
"""
