"""The payload module is the public face of manifest.py and archive.py: it must export each of
their public names, as the very same object (one owner per fact, no copies)."""

import types

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import archive, manifest, payload


def _public(module):
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
            and getattr(value, "__module__", module.__name__) == module.__name__}


def test_every_public_name_of_manifest_and_archive_is_exported_unchanged():
    owners = {name: manifest for name in _public(manifest)}
    for name in _public(archive):
        if name in vars(manifest):
            continue  # imported from manifest, owned there
        owners[name] = archive
    missing = sorted(name for name in owners if not hasattr(payload, name))
    assert not missing, "payload.py does not export %s" % ", ".join(missing)
    for name, owner in owners.items():
        assert getattr(payload, name) is getattr(owner, name), name


def test_payload_defines_nothing_itself():
    own = {name for name, value in vars(payload).items()
           if not name.startswith("_") and getattr(value, "__module__", None) == payload.__name__}
    assert not own
