#!/bin/sh
# State check (read-only): is the version file older than the target version?
#   exit 0   upgrade needed (file missing or older)
#   exit 100 already in the target state (same or newer version)
#   exit 2   precondition failed (no target version known)
set -u
version_file=${HC_PARAM_VERSION_FILE:-/etc/waggle/honeycomb/version}
target=${HC_PARAM_TARGET_VERSION:-${HC_PAYLOAD_VERSION:-}}

if [ -z "$target" ]; then
    echo "no target version: set parameter target_version or run through waggle.honeycomb.upgrade" >&2
    exit 2
fi

# version_gt A B: true when version A sorts after version B (Debian rules when dpkg exists).
version_gt() {
    if command -v dpkg >/dev/null 2>&1; then
        dpkg --compare-versions "$1" gt "$2"
        return
    fi
    [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
}

if [ ! -f "$version_file" ]; then
    echo "$version_file does not exist: upgrade to $target needed"
    exit 0
fi
current=$(head -n 1 "$version_file")
if version_gt "$target" "$current"; then
    echo "$version_file has $current, older than $target: upgrade needed"
    exit 0
fi
echo "$version_file has $current, target $target: already applied"
exit 100
