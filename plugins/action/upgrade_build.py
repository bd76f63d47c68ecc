# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for waggle.honeycomb.upgrade_build: builds the payload on the controller.

Nothing is sent to the target host: ``src``, ``dest`` and ``sign_key`` are controller paths.
Relative ``src`` is searched like other controller files (role/playbook ``files/`` then the
playbook directory); relative ``dest`` and ``sign_key`` are taken relative to the playbook directory.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=build.argument_spec())
        params = dict(args)
        try:
            params["src"] = self._find_needle("files", os.path.expanduser(args["src"]))
        except AnsibleError as exc:
            result.update(failed=True, changed=False,
                          msg="upgrade_build src %s not found on the controller: %s" % (args["src"], to_text(exc)))
            return result
        params["dest"] = self._loader.path_dwim(os.path.expanduser(args["dest"]))
        if args.get("sign_key"):
            params["sign_key"] = self._loader.path_dwim(os.path.expanduser(args["sign_key"]))
        built = build.run(params, check_mode=self._task.check_mode)
        result.update(built)
        return result
