#!/bin/sh
# 2021 quickstart mock (state check): passes, or fails when given the argument "fail"
# (the 2021 Honeycomb client never passed arguments). No HC_* variables, no exec bit: a legacy
# payload runs unchanged (waggle.honeycomb runs it through /bin/sh, as the 2021 client did).
if [ "${1:-}" = "fail" ]; then
    echo "quickstart state check failed (asked to)"
    exit 1
fi
echo "quickstart state check passed"
exit 0
