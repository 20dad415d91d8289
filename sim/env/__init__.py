"""Gymnasium environments of the bundled scenarios (and of any scenario file).

Importing this package registers the environments with Gymnasium - with string entry
points, so nothing heavy (pybullet, numba) is imported until an environment is made::

    import gymnasium as gym
    import sim.env  # registers surgisim/*

    env = gym.make("surgisim/PegTransfer-v0", control_rate_hz=50.0)
    env = gym.make("surgisim/Scenario-v0", scenario="path/to/my-exercise.yaml")

or, without the import, ``gym.make("sim.env:surgisim/PegTransfer-v0")`` (Gymnasium
imports the module named before the colon). The environment itself is
:class:`sim.env.surgical.SurgicalEnv` (observation, action and reward are documented there).
"""

from __future__ import annotations

#: registered id -> bundled scenario name (None: the scenario is a ``scenario=`` argument)
ENVIRONMENTS: dict[str, str | None] = {
    "surgisim/PegTransfer-v0": "peg-transfer",
    "surgisim/RingWalk-v0": "ring-walk",
    "surgisim/NeedleHandover-v0": "needle-handover",
    "surgisim/NeedleTissue-v0": "needle-tissue",
    "surgisim/CameraTargeting-v0": "camera-targeting",
    "surgisim/Scenario-v0": None,
}

ENTRY_POINT = "sim.env.surgical:SurgicalEnv"


def register_envs() -> list[str]:
    """Register every surgisim environment with Gymnasium (idempotent); return the ids.

    No time limit wrapper is added: each episode ends at its scenario's own time limit
    (``truncated``), and ``max_episode_s`` shortens it.
    """
    from gymnasium.envs.registration import register, registry

    for env_id, scenario in ENVIRONMENTS.items():
        if env_id in registry:
            continue
        # Scenario-v0 without scenario= is refused, not peg-transfer (the class default)
        kwargs = {"scenario": scenario}
        register(id=env_id, entry_point=ENTRY_POINT, kwargs=kwargs)
    return list(ENVIRONMENTS)


register_envs()
