"""Sim-side code of the device processes: the synthetic operators driving over the bus.

- :mod:`sim.devices.remote` — :class:`RemoteSession`: what the demonstration plans and the
  :class:`~sim.session.demo.Demonstrator` read from a session, built from the bus alone
  (server messages, the ``hello`` reply and the scenario's geometry).
- :mod:`sim.devices.synthetic` — :func:`run_synthetic`: connect, engage the arms (aligned
  hand, ``enable``, clutch in), run the scenario's plan in real time, stop cleanly.

Nothing here imports pybullet: a device process needs no physics engine.
"""
