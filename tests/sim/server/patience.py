"""A server whose watchdog waits longer, for the tests of what is not the watchdog.

On a loaded two-core machine a device thread beside the server in the test's process
(or a device process) is starved now and then for over 100 ms, and the server holds its
arm, as it must for a real device (the watchdog has its own tests: test_server,
test_server_hostile, test_device_faults). A test of the force at the session's end, or
of a device process's start and stop, then waited through hold after hold (CI saw six
in 30 s). With this, such a test's arm holds only after ``gap_timeout_s`` of silence.
"""

from __future__ import annotations

import dataclasses

import sim.server.server as server_module


def patient_watchdog(monkeypatch, gap_timeout_s: float = 1.0, max_sample_age_s: float = 0.5):
    """Make every server built from here on hold its arms only after ``gap_timeout_s``
    (s) of a device's silence, or a sample ``max_sample_age_s`` (s) late (the live
    defaults: 0.1 and 0.03)."""
    made = server_module.live_session_config

    def patient(*args, **kwargs):
        config = made(*args, **kwargs)
        waits = {"gap_timeout_s": gap_timeout_s, "max_sample_age_s": max_sample_age_s}
        return dataclasses.replace(
            config,
            teleop=dataclasses.replace(config.teleop, **waits),
            scope_teleop=dataclasses.replace(config.scope_teleop, **waits),
        )

    monkeypatch.setattr(server_module, "live_session_config", patient)
