"""The real-time training server: the live session on the device bus.

- :mod:`sim.server.loop`: real-time pacing and the loop's own timing measurements.
"""
