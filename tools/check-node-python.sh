#!/usr/bin/env bash
# Node-side code (modules and the module_utils they import) must run on the Python 3.6 of
# Ubuntu 18.04 nodes. ansible-test's compile check no longer covers 3.6, so compile them here.
set -euo pipefail
py=${1:?usage: check-node-python.sh /path/to/python3.6}
cd "$(dirname "$0")/.."
files=$(ls plugins/modules/*.py 2>/dev/null; find plugins/module_utils -name '*.py' 2>/dev/null)
[ -n "$files" ] || { echo "no node-side files yet"; exit 0; }
"$py" - $files <<'PY'
import sys
failed = 0
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        compile(source, path, "exec")
    except SyntaxError as exc:
        failed += 1
        print("%s:%s: not valid Python %d.%d: %s" % (path, exc.lineno, sys.version_info[0], sys.version_info[1], exc.msg))
print("node compatibility: %d files compiled with Python %s, %d failed" % (len(sys.argv) - 1, sys.version.split()[0], failed))
sys.exit(1 if failed else 0)
PY
