#!/bin/sh
# Rollback: put back what install saved (the engine also restores backup_paths).
set -eu
version_file=${HC_PARAM_VERSION_FILE:-/etc/waggle/honeycomb/version}
job_dir=$(dirname "${HC_PAYLOAD_DIR:-$PWD}")

if [ -f "$job_dir/previous-version" ]; then
    tmp="$version_file.hc-tmp.$$"
    cp -p "$job_dir/previous-version" "$tmp"
    mv -f "$tmp" "$version_file"
    echo "restored $version_file to $(head -n 1 "$version_file")"
elif [ -e "$job_dir/previous-version.absent" ]; then
    rm -f "$version_file"
    echo "removed $version_file (it did not exist before install)"
else
    echo "install saved nothing: nothing to roll back"
fi
exit 0
