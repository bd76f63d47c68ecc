"""Listeners: SSH (paramiko server API, legacy algorithms) and telnet; reload; shutdown."""

import logging
import os
import socket
import threading
import time

from .cli import DEFAULT_WELCOME, CliSession
from .terminal import Terminal

log = logging.getLogger("switchsim")


def _legacy_transport_class():
    """A paramiko Transport offering what the EdgeSwitch offers: diffie-hellman-group14-sha1 and
    diffie-hellman-group1-sha1 key exchange and ssh-rsa (SHA-1) host-key signatures. Paramiko 5
    dropped those, so they are added back here (the group-14 code with SHA-1, and RFC 2409's group 2)."""
    from hashlib import sha1

    import paramiko
    from cryptography.hazmat.primitives import hashes
    from paramiko.kex_group14 import KexGroup14SHA256

    class KexGroup14SHA1(KexGroup14SHA256):
        name = "diffie-hellman-group14-sha1"
        hash_algo = sha1

    class KexGroup1SHA1(KexGroup14SHA256):
        name = "diffie-hellman-group1-sha1"
        hash_algo = sha1
        P = int(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E"
            "3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF"
            "5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF", 16)

    class LegacyTransport(paramiko.Transport):
        _kex_info = dict(paramiko.Transport._kex_info)
        _kex_info[KexGroup14SHA1.name] = KexGroup14SHA1
        _kex_info[KexGroup1SHA1.name] = KexGroup1SHA1
        _preferred_kex = (KexGroup14SHA1.name, KexGroup1SHA1.name)
        _preferred_keys = ("ssh-rsa",)

    class LegacyRSAKey(paramiko.RSAKey):
        HASHES = dict(paramiko.RSAKey.HASHES)
        HASHES["ssh-rsa"] = hashes.SHA1

    return LegacyTransport, LegacyRSAKey


class _SshServer:
    def __init__(self, sim):
        import paramiko

        class Iface(paramiko.ServerInterface):
            def __init__(self):
                self.event = threading.Event()

            def get_allowed_auths(self, username):
                return "password"

            def check_auth_password(self, username, password):
                settings = sim.state.settings()
                if sim.state.faults().get("reject_login"):
                    return paramiko.AUTH_FAILED
                if username == settings["username"] and password == settings["password"]:
                    return paramiko.AUTH_SUCCESSFUL
                return paramiko.AUTH_FAILED

            def get_banner(self):
                where = sim.state.settings().get("banner_over_ssh", "shell")
                if where in ("preauth", "both"):
                    text = sim.state.read_banner() or DEFAULT_WELCOME
                    return (text.rstrip("\n") + "\n", "en-US")
                return (None, None)

            def check_channel_request(self, kind, chanid):
                return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

            def check_channel_pty_request(self, *args):
                return True

            def check_channel_shell_request(self, channel):
                self.event.set()
                return True

            def check_channel_window_change_request(self, *args):
                return True

        self.Iface = Iface
        self.paramiko = paramiko


class Simulator:
    def __init__(self, state, bind, ssh_port=22, telnet_port=23):
        self.state = state
        self.bind = bind
        self.ssh_port = ssh_port
        self.telnet_port = telnet_port
        self.stopping = threading.Event()
        self.listeners = []
        self.sessions = set()
        self.lock = threading.Lock()
        self.reloading = False
        self._host_key = None
        self._ssh = None

    # ---- host key ---------------------------------------------------------------------------------
    def host_key(self):
        if self._host_key is None:
            import paramiko
            path = os.path.join(self.state.dir, "ssh_host_rsa_key")
            if not os.path.exists(path):
                paramiko.RSAKey.generate(2048).write_private_key_file(path)
            if self.state.settings().get("legacy_algorithms", True):
                _, key_class = _legacy_transport_class()
            else:
                key_class = paramiko.RSAKey
            self._host_key = key_class(filename=path)
        return self._host_key

    # ---- listeners ----------------------------------------------------------------------------------
    def start_listeners(self):
        for port, handler in ((self.ssh_port, self.handle_ssh), (self.telnet_port, self.handle_telnet)):
            if not port:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.bind, port))
            sock.listen(16)
            self.listeners.append(sock)
            threading.Thread(target=self.accept_loop, args=(sock, handler), daemon=True).start()
        self.state.write_status("up")   # only now: a client that waits for "up" finds the ports open

    def stop_listeners(self):
        listeners, self.listeners = self.listeners, []
        for sock in listeners:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def accept_loop(self, sock, handler):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._guard, args=(handler, conn), daemon=True).start()

    def _guard(self, handler, conn):
        try:
            handler(conn)
        except Exception:  # a broken client must not take the switch down
            log.debug("session ended with an error", exc_info=True)
            conn.close()

    def _track(self, closer):
        with self.lock:
            self.sessions.add(closer)

    def _untrack(self, closer):
        with self.lock:
            self.sessions.discard(closer)

    def handle_telnet(self, conn):
        term = Terminal(conn, telnet=True)
        self._track(term.close)
        try:
            CliSession(self.state, term, self, kind="telnet").run()
        finally:
            self._untrack(term.close)

    def handle_ssh(self, conn):
        import paramiko
        if self._ssh is None:
            self._ssh = _SshServer(self)
        if self.state.settings().get("legacy_algorithms", True):
            transport_class, _ = _legacy_transport_class()
        else:
            transport_class = paramiko.Transport
        transport = transport_class(conn)
        transport.local_version = "SSH-2.0-OpenSSH_7.5"
        transport.add_server_key(self.host_key())
        iface = self._ssh.Iface()
        self._track(transport.close)
        try:
            transport.start_server(server=iface)
            chan = transport.accept(30)
            if chan is None or not iface.event.wait(30):
                return
            CliSession(self.state, Terminal(chan), self, kind="ssh").run()
        finally:
            self._untrack(transport.close)
            transport.close()

    # ---- reload -----------------------------------------------------------------------------------
    def reload(self):
        """Called by the CLI after `reload` is confirmed: drop everything, stay away, boot again."""
        with self.lock:
            if self.reloading:
                return
            self.reloading = True
        threading.Thread(target=self._reload, daemon=True).start()

    def _reload(self):
        time.sleep(0.2)  # let "System will now restart!" reach the client
        self.stop_listeners()
        with self.lock:
            closers = list(self.sessions)
        for close in closers:
            try:
                close()
            except Exception:
                pass
        self.state.reloads += 1
        self.state.write_status("reloading")
        delay = float(self.state.settings().get("reload_delay", 3.0))
        images = self.state.images.read()
        if images.get("next") == "backup" and not (images.get("backup") or {}).get("bootable", True):
            delay *= 2  # the new image fails, the switch starts over with the previous one
        end = time.time() + delay
        while not self.stopping.is_set() and (time.time() < end or self.state.faults().get("reload_never_returns")):
            self.stopping.wait(0.2)
        if self.stopping.is_set():
            return
        self.state.boot()
        self.start_listeners()
        with self.lock:
            self.reloading = False

    def shutdown(self):
        self.stopping.set()
        self.stop_listeners()
        with self.lock:
            closers = list(self.sessions)
        for close in closers:
            try:
                close()
            except Exception:
                pass
