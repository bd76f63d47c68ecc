#!/usr/bin/env bash
# Runs `ansible-test sanity` without containers. ansible-test needs the collection to sit physically
# at .../ansible_collections/waggle/honeycomb (a symlink is refused), so the tracked and untracked,
# non-ignored files are copied there first; tools/ is left out as it is not part of the collection.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv="$here/.venv"
# Outside the checkout: inside it, ansible-test would list files with the enclosing git repo,
# where .build/ is ignored, and find no targets.
work=$(mktemp -d /tmp/hc-ansible-test.XXXXXX)
dest="$work/ansible_collections/waggle/honeycomb"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
git ls-files --cached --others --exclude-standard -z \
  | grep -zv -e '^tools/' -e '^\.ci/' -e '^Makefile$' -e '^requirements' \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$dest"

# ansible-test bootstraps pip in each of its venvs with a script it downloads from a host this
# machine cannot reach; the stand-in installs the bundled pip and upgrades it from PyPI instead.
pip_version=$("$venv/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
m = re.search(r"PIP_VERSION\s*=\s*'([0-9.]+)'", src.read_text()) or re.search(r"pip==([0-9.]+)", src.read_text())
print(m.group(1) if m else "25.2")
PY
)
mkdir -p "$HOME/.ansible/test/cache"
cp "$here/tools/ansible-test-get-pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

# ansible-test creates its per-test venvs under ~/.ansible/test; concurrent runs race there.
exec 9>"$HOME/.ansible/test/.waggle-honeycomb-sanity.lock"
flock 9

pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$dest"
"$venv/bin/ansible-test" sanity --local --python "$pyver" --color no "$@"
