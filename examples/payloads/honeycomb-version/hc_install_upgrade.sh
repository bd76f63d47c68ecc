#!/bin/sh
# Install: remember the current version for rollback, then write the target version atomically.
set -eu
version_file=${HC_PARAM_VERSION_FILE:-/etc/waggle/honeycomb/version}
target=${HC_PARAM_TARGET_VERSION:-${HC_PAYLOAD_VERSION:?HC_PAYLOAD_VERSION is not set}}
job_dir=$(dirname "${HC_PAYLOAD_DIR:-$PWD}")

# Save the previous state once: a re-run after an interruption must not save our own output.
if [ ! -e "$job_dir/previous-version" ] && [ ! -e "$job_dir/previous-version.absent" ]; then
    if [ -f "$version_file" ]; then
        cp -p "$version_file" "$job_dir/previous-version"
    else
        : > "$job_dir/previous-version.absent"
    fi
fi

mkdir -p "$(dirname "$version_file")"
tmp="$version_file.hc-tmp.$$"
printf '%s\n' "$target" > "$tmp"
mv -f "$tmp" "$version_file"
echo "wrote $target to $version_file"
