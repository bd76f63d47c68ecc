# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of waggle.honeycomb.upgrade_info: the node-resident engine in one exec when the node has
this collection's version, else the module (which then installs it); see
plugins/plugin_utils/_honeycomb/resident.py and docs/resident-engine.md."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import info
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import resident

MODULE = "waggle.honeycomb.upgrade_info"


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        module_args = dict(self._task.args)
        module_args.pop("_honeycomb", None)  # internal: only this plugin sets it
        if self._task.async_val:
            result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars,
                                               wrap_async=True))
            return result
        try:
            enabled = boolean(module_args.get("resident_engine", True), strict=True)
        except TypeError:
            enabled = False  # not a boolean: the module reports it
        node = resident.EngineRunner(self, MODULE, "upgrade_info", task_vars, info.argument_spec(), enabled=enabled,
                                     state_dir=module_args.get("state_dir"))
        result.update(node.run(module_args))
        return result
