"""The exercise side of surgisim: scenario language, scoring, trainee records and reports.

Depends on numpy (and pydantic, SQLAlchemy, matplotlib in the modules that need them);
never on pybullet: the same scorer rates a live session, a stored one, or a researcher's
headless run. Submodules are imported on demand.
"""
