#!/bin/sh
# verify phase of the EdgeSwitch firmware payload: the collection's node-side handler does the work
# (hc-peripheral and hc_lib/ are added by the builder: collection_code in honeycomb.yml).
exec "${HC_PAYLOAD_DIR:-.}/hc-peripheral" switch-firmware verify
