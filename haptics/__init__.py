"""Master side of surgisim: teleoperation, tremor filters, synthetic operators and the bus.

Nothing here imports pybullet (DESIGN.md): the master side runs in device processes,
in viewers and in headless benchmarks. Submodules are imported on demand.
"""
