"""Make ``ansible_collections.waggle.honeycomb`` importable the way ansible-test's pytest plugin does.

Some tests load Ansible plugins (inventory, action, callback), which installs Ansible's collection
finder on ``sys.meta_path``; from then on every ``ansible_collections.*`` import in the same process
goes through it. Installing it once, up front, with the checkout's collections root keeps imports
consistent whatever order the tests run in.
"""

import os

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

COLLECTIONS_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build", "collections")

# pylint: disable-next=protected-access
_AnsibleCollectionFinder(paths=[COLLECTIONS_ROOT])._install()
