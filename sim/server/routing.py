"""Which master device drives which arm, and what the camera pedal changes.

Devices are named as on the dVRK: ``MTMR`` is the trainee's right hand, ``MTML`` the
left. By default each drives the scenario's arm whose ``hand:`` is that side; a command
line's ``--map MTMR=PSM2`` overrides it. While a device's camera pedal is pressed its
samples drive the endoscope (when the scenario lets a hand drive it) and its own
instrument sees the clutch pressed, as at a da Vinci console; otherwise the endoscope's
pipeline is fed the right hand's samples with the clutch pressed. Every pipeline thus
gets a steady stream (its watchdog never starves) from one device at a time, and only
the pipelines meant to move do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from haptics.master import MasterSample
from sim.errors import SimError

#: Device name for each hand, as on the dVRK console.
DEVICE_OF_HAND = {"right": "MTMR", "left": "MTML"}


def default_device_map(scenario) -> dict[str, str]:
    """``{device: arm}`` from the scenario's ``hand:`` fields (instruments only: a scope
    arm with a hand is driven through the camera pedal)."""
    camera = scenario.scene.camera.arm
    out = {}
    for arm in scenario.scene.arms:
        if arm.driven and arm.name != camera:
            device = DEVICE_OF_HAND.get(arm.hand)
            if device is not None:
                out[device] = arm.name
    return out


def parse_device_map(entries: Sequence[str], scenario) -> dict[str, str]:
    """The default map with ``DEV=ARM`` overrides applied (each checked). ``DEV=none``
    leaves a device out: a one-handed test device on a two-handed scenario (the server
    would otherwise wait for the other hand's device forever).

    An override takes its arm from the device the default gave it, but two overrides
    never share an arm, nor does one device get two entries: ``--map MTMR=PSM1 --map
    MTML=PSM1`` silently dropped MTMR and left PSM2 with no device."""
    arms = {a.name for a in scenario.scene.arms}
    driven = {a.name for a in scenario.scene.arms if a.driven}
    out = default_device_map(scenario)
    given: dict[str, str] = {}  # device -> its entry, as the user wrote it
    for entry in entries:
        device, sep, arm = entry.partition("=")
        device, arm = device.strip(), arm.strip()
        if not sep or not device or not arm:
            raise SimError(f"--map {entry!r}: expected DEVICE=ARM (e.g. MTMR=PSM2) or DEVICE=none.")
        if device in given:
            raise SimError(
                f"--map {given[device]!r} and --map {entry!r}: device {device!r} is given "
                "twice; give each device once."
            )
        given[device] = entry
        if arm.lower() == "none":
            if device not in out:
                raise SimError(f"--map {entry!r}: no device {device!r} to leave out.")
            del out[device]
            continue
        if arm not in arms:
            raise SimError(f"--map {entry!r}: no arm {arm!r}; arms are {sorted(arms)}.")
        if arm not in driven:
            # its samples would go nowhere: the arm has no teleoperation in this session
            raise SimError(
                f"--map {entry!r}: no master drives {arm} in this scenario (its "
                f"'teleoperated' is false); arms a device can drive: {sorted(driven)}."
            )
        for other, other_entry in given.items():
            if other != device and out.get(other) == arm:
                raise SimError(
                    f"--map {other_entry!r} and --map {entry!r}: two devices ({other} and "
                    f"{device}) for arm {arm!r}; an arm takes one device: map one of them "
                    "to another arm, or to none."
                )
        for other, mapped in list(out.items()):
            if mapped == arm and other != device:
                del out[other]  # one device per arm
        out[device] = arm
    return out


class Router:
    """Turns device samples into per-arm master samples (see the module docstring).

    Args:
        device_map: ``{device: arm}``.
        camera_arm: the endoscope's arm if a hand may drive it (a teleoperated scope),
            else None: the endoscope is fixed, and a hand whose camera pedal is pressed
            holds its instrument, as on the console (the trainee means to move the
            camera, not the tool), and is said once (:meth:`pop_fixed_camera`).
    """

    def __init__(self, device_map: Mapping[str, str], camera_arm: str | None) -> None:
        self.device_map = dict(device_map)
        self.camera_arm = camera_arm
        #: devices that pressed the camera pedal with no scope to drive, not yet said
        self._fixed_camera_news: list[str] = []
        self._fixed_camera_said: set[str] = set()
        devices = sorted(self.device_map, key=lambda d: d != DEVICE_OF_HAND["right"])
        #: the device that feeds the endoscope's pipeline while no camera pedal is pressed
        self.primary = devices[0] if devices else None

    def route(self, samples) -> dict[str, list[MasterSample]]:
        """``{arm: [samples in arrival order]}`` from :class:`haptics.bus.DeviceSample` s."""
        out: dict[str, list[MasterSample]] = {}
        for s in samples:
            arm = self.device_map.get(s.device)
            if arm is None:
                continue
            sample = s.sample
            clutched = dataclasses.replace(sample, clutch=True)
            if self.camera_arm is None:
                # a fixed endoscope: the pedal moves nothing, but the instrument must not
                # follow a hand that means to move the camera (it went on moving at 1 mm/s
                # through a pressed pedal, without a word)
                if s.camera and s.device not in self._fixed_camera_said:
                    self._fixed_camera_said.add(s.device)
                    self._fixed_camera_news.append(s.device)
                out.setdefault(arm, []).append(clutched if s.camera else sample)
                continue
            driving_camera = bool(s.camera)
            out.setdefault(arm, []).append(clutched if driving_camera else sample)
            if driving_camera:
                out[self.camera_arm] = [*out.get(self.camera_arm, []), sample]
                self._camera_driver = s.device
            elif s.device == self._feeder() and arm != self.camera_arm:
                # a hand mapped to the scope (--map MTMR=ECM) drives it itself: a clutched
                # copy beside each sample read as a clutch press the trainee never made
                out.setdefault(self.camera_arm, []).append(clutched)
        return out

    _camera_driver: str | None = None

    def pop_fixed_camera(self) -> list[str]:
        """The devices that pressed the camera pedal, with no scope to drive, since the
        last call (each once per session): the server says why their arm holds."""
        news, self._fixed_camera_news = self._fixed_camera_news, []
        return news

    def _feeder(self) -> str | None:
        """The device whose clutched samples keep the endoscope's pipeline fed: the one
        that last drove it, else the right hand."""
        return self._camera_driver or self.primary
