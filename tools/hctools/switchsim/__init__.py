"""EdgeSwitch (FASTPATH CLI) simulator for waggle.honeycomb tests and the simulated fleet.

Run it with ``python -m hctools.switchsim --bind ADDR --state-dir DIR``. The CLI it presents follows
docs/devices/edgeswitch.md; everything that page marks unconfirmed is a setting in
``<state-dir>/switch.json`` and switchable faults live in ``<state-dir>/faults.json`` (re-read at each
use, so tests can change them while the simulator runs). See docs/edgeswitch.md.
"""
