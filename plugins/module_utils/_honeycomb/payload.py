# -*- coding: utf-8 -*-
# Copyright: waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Honeycomb upgrade payloads: the public face of :mod:`.manifest` and :mod:`.archive`.

Runs on nodes (Python 3.6, standard library only) and on the controller.  Callers import this
module; the rules live in two files, each with one job:

* :mod:`.manifest` -- what a payload declares: schema constants, limits and member names, the v2
  ``manifest.json`` validation, run-time parameters, and the 2021 (legacy) format mapping;
* :mod:`.archive` -- the ``.tar.gz`` itself: one streamed, hashed, bounded scan, and the
  all-or-nothing extraction (:func:`inspect_archive`, :func:`extract_archive`, :func:`sha256_file`).

Formats: see docs/payload-format.md.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# pylint: disable=unused-import
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.manifest import (  # noqa: F401
    DEFAULT_LIMITS,
    DEFAULT_STATE_CHECK_CODES,
    DEFAULT_TIMEOUTS,
    LEGACY_CHECKSUM_NAME,
    LEGACY_METADATA_NAME,
    LEGACY_STATE_CHECK_CODES,
    LEGACY_STATE_CHECK_MODES,
    MANIFEST_NAME,
    MAX_RETRIES,
    MAX_TIMEOUT,
    PHASES,
    REBUILD_HINT,
    REQUIRED_PHASES,
    SCHEMA_VERSION,
    SCRIPT_NAMES,
    SIGNATURE_NAME,
    STATE_CHECK_CODE_KINDS,
    PayloadError,
    load_json_object,
    normalise_legacy_metadata,
    normalise_member_name,
    parse_md5sum,
    resolve_limits,
    validate_backup_paths,
    validate_manifest,
    validate_parameter_schema,
    validate_parameters,
    validate_restart_units,
    validate_state_check_codes,
)
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.archive import (  # noqa: F401
    MAX_TRAILING_PADDING,
    Payload,
    extract_archive,
    inspect_archive,
    sha256_file,
)
