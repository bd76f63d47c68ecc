#!/bin/sh
# Verify: the version file now holds the target version.
set -u
version_file=${HC_PARAM_VERSION_FILE:-/etc/waggle/honeycomb/version}
target=${HC_PARAM_TARGET_VERSION:-${HC_PAYLOAD_VERSION:-}}

if [ ! -f "$version_file" ]; then
    echo "$version_file is missing" >&2
    exit 1
fi
current=$(head -n 1 "$version_file")
if [ "$current" != "$target" ]; then
    echo "$version_file has $current, expected $target" >&2
    exit 1
fi
echo "$version_file has $target"
exit 0
