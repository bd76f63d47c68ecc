# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch and deploy flows for waggle.honeycomb.edgeswitch_config (the module is a thin wrapper)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch import config as cfg
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.cli import (
    cli_from_params, wait_for_port)
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.errors import (
    ConnectError, ConnectionLost, EdgeSwitchError, TransferError)
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.lock import SwitchLock
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.parsers import parse_clibanner
from ansible_collections.waggle.honeycomb.plugins.module_utils._edgeswitch.servers import (
    local_address_for, make_server)


class DeployFailed(EdgeSwitchError):
    """A deployment failed after the push started; .result says what the switch holds now."""

    def __init__(self, message, result):
        EdgeSwitchError.__init__(self, message)
        self.result = result


def write_private(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hc-")
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


class Engine(object):
    """One run's work on one switch. The switch's lock (lock.py) is taken with the first CLI session and
    held through reloads and reconnects until :meth:`disconnect`."""

    def __init__(self, params, log=None, what=None):
        self.p = params
        self.log = log or (lambda msg: None)
        self.cli = None
        self.bind = None
        self.lock = SwitchLock(params["host"], params.get("lock_dir"), params.get("lock_timeout"),
                               what or "edgeswitch_config state=%s" % params.get("state", "fetched"))

    # ---- plumbing ---------------------------------------------------------------------------------
    def new_cli(self):
        return cli_from_params(self.p)

    def connect(self):
        if self.cli is None:
            if not self.lock.held:
                self.lock.acquire()
                if self.lock.waited >= 1:
                    self.log("waited %.0f s for another run on the switch %s" % (self.lock.waited, self.p["host"]))
            self.cli = self.new_cli().open()
        return self.cli

    def disconnect(self):
        """The end of the run: closes the CLI session and lets the next run have the switch."""
        try:
            if self.cli is not None:
                self.cli.close()
                self.cli = None
        finally:
            self.lock.release()

    def server(self):
        if self.bind is None:
            self.bind = self.p.get("server_address") or local_address_for(self.p["host"])
        return make_server(self.p.get("transfer", "ftp"), self.bind, self.p.get("ftp_port", 21),
                           self.p.get("tftp_port", 69))

    # ---- operations -----------------------------------------------------------------------------
    def fetch(self):
        """The switch's startup-config, uploaded by the switch to a short-lived server on the node."""
        cli = self.connect()
        with self.server() as srv:
            name = srv.new_name()
            cli.copy("nvram:startup-config", srv.url(name), srv.password, timeout=self.p.get("transfer_timeout", 300))
            if not srv.settle():
                raise TransferError("the switch reported a successful upload but the %s server on %s still had "
                                    "the transfer open 10 s later; nothing was read" % (srv.scheme.upper(), srv.bind))
            try:
                with open(srv.path(name), "rb") as handle:
                    return handle.read().decode("utf-8", "replace")
            except (IOError, OSError):
                raise TransferError("the switch reported a successful upload but no file arrived at the "
                                    "%s server on %s" % (srv.scheme.upper(), srv.bind))

    def push(self, text):
        cli = self.connect()
        with self.server() as srv:
            name = srv.new_name()
            write_private(srv.path(name), text)
            cli.copy(srv.url(name), "nvram:startup-config", srv.password,
                     timeout=self.p.get("transfer_timeout", 300))

    def banner(self):
        return parse_clibanner(self.connect().command("show clibanner"))

    def set_banner(self, banner):
        cli = self.connect()
        cli.command("configure")
        try:
            if banner:
                cli.command('set clibanner "%s"' % banner)
            else:
                cli.command("no set clibanner")
        finally:
            cli.command("exit", check=False)

    def reload_and_wait(self):
        cli = self.connect()
        self.cli = None
        cli.reload(save=False)
        port = self.p.get("port") or (22 if self.p.get("connection", "ssh") == "ssh" else 23)
        timeout = self.p.get("reload_timeout", 300)
        deadline = time.time() + timeout
        time.sleep(min(2.0, timeout))
        last = None
        while time.time() < deadline:
            if not wait_for_port(self.p["host"], port, deadline):
                break
            try:
                self.cli = self.new_cli().open()
                return
            except (ConnectError, ConnectionLost) as exc:
                last = exc
                time.sleep(2)
        raise ConnectError("the switch %s did not come back within %ss after reload%s" % (
            self.p["host"], timeout, (" (last error: %s)" % last) if last else ""))

    def reconnect(self, attempts_deadline):
        """After a dropped connection: a fresh session, retried until the deadline."""
        if self.cli is not None:
            self.cli.abort()
            self.cli = None
        last = None
        while time.time() < attempts_deadline:
            try:
                return self.connect()
            except (ConnectError, ConnectionLost) as exc:
                last = exc
                time.sleep(2)
        raise ConnectError("cannot reconnect to the switch %s: %s" % (self.p["host"], last))

    # ---- state: fetched --------------------------------------------------------------------------
    def run_fetched(self):
        text = self.fetch()
        banner = self.banner()
        result = {"changed": False, "config": text, "banner": banner,
                  "version": cfg.banner_version(banner, self.p.get("version_regex") or cfg.DEFAULT_VERSION_REGEX)}
        dest = self.p.get("dest")
        if dest:
            old = None
            if os.path.exists(dest):
                with open(dest, "rb") as handle:
                    old = handle.read().decode("utf-8", "replace")
            if old != text:
                if not self.p.get("check_mode"):
                    write_private(dest, text)
                result["changed"] = True
            result["dest"] = dest
        return result

    # ---- state: deployed --------------------------------------------------------------------------
    def desired_banner(self):
        if self.p.get("banner") is not None:
            return self.p["banner"]
        if self.p.get("version") is not None:
            return cfg.render_banner(self.p.get("banner_template") or cfg.DEFAULT_BANNER_TEMPLATE, self.p["version"])
        return None

    def backup_path(self):
        if self.p.get("backup_path"):
            return self.p["backup_path"]
        directory = self.p.get("backup_dir") or "/var/lib/honeycomb/edgeswitch"
        return os.path.join(directory, "backup-%s-%s.cfg" % (
            self.p["host"], time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())))

    def run_deployed(self, desired):
        p = self.p
        ignore = p.get("ignore_lines") or ()
        regex = p.get("version_regex") or cfg.DEFAULT_VERSION_REGEX
        want_banner = self.desired_banner()

        current = self.fetch()
        current_banner = self.banner()
        current_version = cfg.banner_version(current_banner, regex)
        result = {"changed": False, "version": current_version, "previous_version": current_version,
                  "banner": current_banner, "switch_config": "previous", "restored": False}
        if p.get("compare") == "banner":
            needed = current_version != str(p["version"])
        else:
            needed = not cfg.same_config(current, desired, ignore) or (
                want_banner is not None and current_banner.strip() != want_banner.strip())
        result["diff"] = {"before": cfg.strip_volatile(current), "after": cfg.strip_volatile(desired),
                          "before_header": "%s startup-config" % p["host"], "after_header": p.get("src") or "content"}
        if want_banner is not None and current_banner.strip() != want_banner.strip():
            result["diff"]["before"] += "! clibanner: %s\n" % current_banner
            result["diff"]["after"] += "! clibanner: %s\n" % want_banner
        if not needed:
            return result
        result["changed"] = True
        if p.get("check_mode"):
            return result

        backup = self.backup_path()
        write_private(backup, current)
        result["backup_path"] = backup
        stage = "push"
        try:
            self.push(desired)
            stage = "verify"
            got = self.fetch()
            if not cfg.same_config(got, desired, ignore):
                raise TransferError("verification failed: the startup-config read back from the switch "
                                    "differs from the one sent (%s)" % self._first_difference(desired, got, ignore))
            if want_banner is not None:
                stage = "banner"
                self.set_banner(want_banner)
                now = self.banner()
                if now.strip() != want_banner.strip():
                    raise TransferError("verification failed: the CLI banner reads %r, expected %r" % (now, want_banner))
            result["switch_config"] = "new"
            if p.get("apply") == "reload":
                stage = "reload"
                self.reload_and_wait()
                stage = "verify after reload"
                got = self.fetch()
                if not cfg.same_config(got, desired, ignore):
                    raise TransferError("verification after reload failed: the startup-config differs from "
                                        "the one sent (%s)" % self._first_difference(desired, got, ignore))
                if want_banner is not None and self.banner().strip() != want_banner.strip():
                    raise TransferError("verification after reload failed: the CLI banner does not carry %r"
                                        % want_banner)
                result["reloaded"] = True
        except EdgeSwitchError as exc:
            self.recover(exc, stage, current, current_banner, desired, backup, result)
        now_banner = want_banner if want_banner is not None else current_banner
        result["banner"] = now_banner
        result["version"] = cfg.banner_version(now_banner, regex)
        return result

    @staticmethod
    def _first_difference(want, got, ignore):
        a, b = cfg.normalise(want, ignore), cfg.normalise(got, ignore)
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else "<end>"
            y = b[i] if i < len(b) else "<end>"
            if x != y:
                return "line %d: sent %r, switch has %r" % (i + 1, x, y)
        return "no difference"

    def recover(self, exc, stage, backup_text, backup_banner, desired, backup, result):
        """A failure after the push started: find out what the switch holds, restore the backup if
        needed, and fail saying which configuration the switch ends with."""
        p = self.p
        ignore = p.get("ignore_lines") or ()
        base = "deploying the configuration to %s failed during %s: %s" % (p["host"], stage, exc)
        if stage == "reload" and isinstance(exc, ConnectError):
            result.update(switch_config="new (unverified: the switch is unreachable)", restored=False)
            raise DeployFailed("%s. The switch was given the new startup-config (verified before the "
                               "reload) but has not come back, so the backup could not be restored; it is "
                               "kept on the node at %s" % (base, backup), result)
        deadline = time.time() + p.get("reload_timeout", 300)
        try:
            if self.cli is None or isinstance(exc, (ConnectionLost, ConnectError)):
                self.reconnect(deadline)
            holds = self.fetch()
        except EdgeSwitchError as exc2:
            result.update(switch_config="unknown", restored=False)
            raise DeployFailed("%s. The switch could not be read back afterwards (%s); the backup of its "
                               "previous configuration is on the node at %s" % (base, exc2, backup), result)
        if cfg.same_config(holds, backup_text, ignore) and stage == "push":
            result.update(switch_config="previous", restored=False)
            raise DeployFailed("%s. The switch still holds its previous startup-config (checked); nothing "
                               "was restored. Backup on the node: %s" % (base, backup), result)
        try:
            if not cfg.same_config(holds, backup_text, ignore):
                self.push(backup_text)
            if self.banner().strip() != (backup_banner or "").strip():
                self.set_banner(backup_banner)
            if stage in ("reload", "verify after reload"):
                self.reload_and_wait()
            again = self.fetch()
            if not cfg.same_config(again, backup_text, ignore):
                raise TransferError("the restored startup-config does not match the backup (%s)"
                                    % self._first_difference(backup_text, again, ignore))
        except EdgeSwitchError as exc3:
            what = "new" if cfg.same_config(holds, desired, ignore) else "unknown"
            result.update(switch_config=what, restored=False)
            raise DeployFailed("%s. Restoring the backup failed too (%s); the switch holds %s; the backup "
                               "is on the node at %s" % (base, exc3, "the new configuration" if what == "new"
                                                         else "a configuration that is neither the new one "
                                                         "nor the backup", backup), result)
        result.update(switch_config="previous", restored=True)
        raise DeployFailed("%s. The backup of the previous configuration was restored and verified "
                           "(backup on the node: %s)" % (base, backup), result)
