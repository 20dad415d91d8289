"""The reference arms used across the kinematics tests."""

from __future__ import annotations

from pathlib import Path

import pybullet_data

from kinematics import Chain, ecm, psm

DATA = Path(pybullet_data.getDataPath())
IIWA_URDF = DATA / "kuka_iiwa" / "model.urdf"
PANDA_URDF = DATA / "franka_panda" / "panda.urdf"
IIWA_LINKS = ("lbr_iiwa_link_0", "lbr_iiwa_link_7")
PANDA_LINKS = ("panda_link0", "panda_hand")


def iiwa() -> Chain:
    return Chain.from_urdf(IIWA_URDF, *IIWA_LINKS)


def panda() -> Chain:
    return Chain.from_urdf(PANDA_URDF, *PANDA_LINKS)


ARMS = {"psm": psm, "ecm": ecm, "iiwa": iiwa, "panda": panda}
