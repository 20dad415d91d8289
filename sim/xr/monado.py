"""A real OpenXR runtime on a machine with no headset: Monado in a Debian trixie root.

Host-side tooling for the VR tests and ``surgisim bench vr`` (and anyone who wants to
try the headset client without a headset): :class:`XrRoot` builds the root once per
machine (``sim/xr/xr-root.sh``, cached) and runs commands inside it with the current
checkout bind-mounted at ``/surgisim``; :class:`MonadoService` starts ``monado-service``
there headless (null compositor; the simulated headset, or the ``remote`` driver whose
poses a test sets through :class:`RemoteHub`). See ``docs/vr.md``.

Every command runs in a private mount namespace (``unshare --mount``): the bind mounts
vanish with the process, nothing is left mounted when a test is killed. Needs root.
Only one service runs per machine at a time (the remote driver's port 4242): a file lock
serialises users.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shlex
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.xr.errors import XrError

#: The project's script that builds the root.
BUILD_SCRIPT = Path(__file__).resolve().parent / "xr-root.sh"
#: Exit code of the build script when the root cannot be built here (skip, not fail).
CANNOT_BUILD = 77
#: Inside the root: the Python environment, the checkout's mount point, Monado's manifest.
VENV = "/opt/surgisim-venv"
SRC_MOUNT = "/surgisim"
RUNTIME_JSON = "/usr/share/openxr/1/openxr_monado.json"
#: The remote driver's TCP port (fixed in Monado's default configuration).
REMOTE_PORT = 4242
#: Monado's headsets here: its simulated one, or one driven through :class:`RemoteHub`.
DRIVERS = ("simulated", "remote")


def default_root() -> Path:
    """``$SURGISIM_XR_ROOT``, else ``${XDG_CACHE_HOME:-~/.cache}/surgisim/xr-root``."""
    env = os.environ.get("SURGISIM_XR_ROOT")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "surgisim" / "xr-root"


class RootUnavailableError(XrError):
    """The root cannot be built on this machine (not root, no network, no apt): callers
    skip, saying why."""


@dataclass
class XrRoot:
    """The trixie root with Monado and the viewer's Python (see the module docstring).

    Args:
        path: where the root lives (default :func:`default_root`).
        source: the checkout to bind-mount at ``/surgisim`` (default this one).
    """

    path: Path = field(default_factory=default_root)
    source: Path = field(default_factory=lambda: BUILD_SCRIPT.parents[2])

    def ensure(self, log=print) -> None:
        """Build or update the root (seconds when it is up to date; ~2-4 min the first
        time). Raises :class:`RootUnavailableError` when it cannot be built here."""
        if os.geteuid() != 0:
            raise RootUnavailableError(
                "the OpenXR root needs root (debootstrap, chroot, bind mounts); run as root"
            )
        if not BUILD_SCRIPT.exists():
            raise RootUnavailableError(
                f"the build script {BUILD_SCRIPT} is missing from this install"
            )
        if not (self.source / "pyproject.toml").is_file():
            # the root installs surgisim from the checkout it mounts (editable, so that a
            # root built once serves every later commit); a wheel has no checkout
            raise RootUnavailableError(
                f"the OpenXR root is built from a source checkout of surgisim, and "
                f"{self.source} is none (an installed wheel): run from a clone "
                "('git clone ... && pip install -e .')"
            )
        run = subprocess.run(
            ["bash", str(BUILD_SCRIPT), str(self.path)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        for line in (run.stdout + run.stderr).splitlines():
            log(line)
        if run.returncode == CANNOT_BUILD:
            reason = [ln for ln in run.stdout.splitlines() if "cannot build" in ln]
            raise RootUnavailableError(reason[-1] if reason else "the root cannot be built here")
        if run.returncode != 0:
            raise XrError(
                f"sim/xr/xr-root.sh failed (exit {run.returncode}): {run.stderr.strip()[-500:]}"
            )

    def argv(self, command: list[str], env: dict[str, str] | None = None) -> list[str]:
        """The host command line that runs ``command`` inside the root as root, with
        /proc, /sys, /dev and the checkout bind-mounted in a private mount namespace and
        a clean environment (``env`` added; the venv first on PATH)."""
        root = str(self.path)
        binds = [
            ("/proc", "proc"),
            ("/sys", "sys"),
            ("/dev", "dev"),
            (str(self.source), "surgisim"),
        ]
        mounts = " && ".join(
            f"mkdir -p {shlex.quote(root + '/' + dst)} && mount --rbind {shlex.quote(src)} "
            f"{shlex.quote(root + '/' + dst)}"
            for src, dst in binds
        )
        environment = {
            "PATH": f"{VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        inner = ["chroot", root, "/usr/bin/env", "-i"]
        inner += [f"{k}={v}" for k, v in environment.items()] + list(command)
        script = f"{mounts} && exec {shlex.join(inner)}"
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]

    def popen(self, command: list[str], env: dict[str, str] | None = None, **kwargs):
        """Start ``command`` inside the root (see :meth:`argv`); its pid is the command's
        own (every step execs), so a signal to it reaches the command."""
        return subprocess.Popen(self.argv(command, env), **kwargs)

    def python(self, args: list[str], env: dict[str, str] | None = None, **kwargs):
        """Start the root's Python 3.13 (with pyopenxr and surgisim) on ``args``."""
        return self.popen([f"{VENV}/bin/python", *args], env, **kwargs)


def own_session_until_parent_dies(signum: int | None = None) -> None:
    """``preexec_fn`` for the processes a headset session starts (Monado, the client in
    the root, the training server): each in a session of its own, so that the terminal's
    Ctrl-C reaches ``surgisim`` alone, which then ends them in order (the client's headset
    session, the server's stored session, then Monado); before, all four got SIGINT at
    once, and the trainee read "the OpenXR runtime went away" and "the training server
    did not take the stop request" about a session that had been stored. Each still gets
    a signal if ``surgisim`` itself dies (Linux's parent-death signal: the surgisim
    commands' own :data:`~sim.stop_signals.PARENT_GONE`, taken as one SIGTERM however many
    times it comes; ``signum`` SIGTERM for Monado), so none is left behind by a
    ``kill -9``."""
    from sim.stop_signals import PARENT_GONE, stop_with_parent

    os.setsid()
    stop_with_parent(PARENT_GONE if signum is None else signum)


class RootExchange:
    """Files that cross into and out of the root for one command (a context manager): a
    private folder under the root's ``/tmp``, so that options naming host files mean the
    same with the client in the root as without (``surgisim vr --monado``).

    :meth:`inward` copies a host file in (a key file) and gives its path in the root;
    :meth:`outward` gives a root path for a file or folder the command writes, moved to
    the host path on exit (when the command wrote it). The folder goes on exit.
    """

    def __init__(self, root: XrRoot) -> None:
        self.root_dir = f"/tmp/surgisim-exchange-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self.host_dir = Path(str(root.path) + self.root_dir)
        self._outputs: list[tuple[Path, Path]] = []  # (written here, moved there)
        self._names = 0

    def _slot(self, host_path: Path) -> str:
        """A name in the folder of its own (two options may name files alike)."""
        self._names += 1
        return f"{self._names}-{host_path.name}"

    def inward(self, host_path: Path | str) -> str:
        """Copy the host file in; its path in the root."""
        import shutil

        host_path = Path(host_path)
        name = self._slot(host_path)
        shutil.copy2(host_path, self.host_dir / name)
        return f"{self.root_dir}/{name}"

    def outward(self, host_path: Path | str) -> str:
        """A root path for something the command writes, moved to ``host_path`` on exit."""
        host_path = Path(host_path).absolute()
        name = self._slot(host_path)
        self._outputs.append((self.host_dir / name, host_path))
        return f"{self.root_dir}/{name}"

    def __enter__(self) -> RootExchange:
        self.host_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        try:
            for written, target in self._outputs:
                if written.is_dir():
                    shutil.copytree(written, target, dirs_exist_ok=True)
                elif written.exists():
                    if written.suffix == ".json":
                        self._name_host_paths(written)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(written, target)
        finally:
            shutil.rmtree(self.host_dir, ignore_errors=True)

    def _name_host_paths(self, report: Path) -> None:
        """A report the command wrote names the files it wrote by their paths in the root
        (``captures``: ``/tmp/surgisim-exchange-.../1-cap1/frame_000020.npz``), which are
        gone once the exchange folder is: name them by where they were moved."""
        text = report.read_text()
        for written, target in self._outputs:
            text = text.replace(f"{self.root_dir}/{written.name}", str(target))
        report.write_text(text)


class MonadoService:
    """``monado-service`` running headless in the root (a context manager).

    Args:
        root: the built root.
        driver: ``"simulated"`` (Monado's simulated headset and two simple controllers)
            or ``"remote"`` (a headset and two Index controllers whose poses and buttons
            come from :class:`RemoteHub` on port 4242).
        log_path: where the service's output goes (default: discarded).
    """

    def __init__(self, root: XrRoot, driver: str = "simulated", log_path=None) -> None:
        if driver not in DRIVERS:
            raise XrError(f"Monado driver must be one of {DRIVERS}, got {driver!r}")
        self.root = root
        self.driver = driver
        self.runtime_dir = f"/run/surgisim-xr-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._lock_file = None

    @property
    def client_env(self) -> dict[str, str]:
        """What an OpenXR application inside the root needs to find this service."""
        return {"XDG_RUNTIME_DIR": self.runtime_dir, "XR_RUNTIME_JSON": RUNTIME_JSON}

    def _host_runtime_dir(self) -> Path:
        return Path(str(self.root.path) + self.runtime_dir)

    def start(self, timeout_s: float = 20.0) -> MonadoService:
        """Start the service and wait for its socket (0.4-1 s usually)."""
        lock_path = self.root.path.parent / "monado.lock"
        self._lock_file = open(lock_path, "w")  # noqa: SIM115 - held until stop()
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        host_dir = self._host_runtime_dir()
        host_dir.mkdir(parents=True, exist_ok=True)
        host_dir.chmod(0o700)
        env = {
            **self.client_env,
            "XRT_COMPOSITOR_NULL": "1",
            "XRT_NO_STDIN": "1",
        }
        if self.driver == "remote":
            env["P_OVERRIDE_ACTIVE_CONFIG"] = "remote"
        else:
            env.update(SIMULATED_ENABLE="1", SIMULATED_LEFT="simple", SIMULATED_RIGHT="simple")
        out = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = self.root.popen(
            ["monado-service"],
            env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=functools.partial(own_session_until_parent_dies, signal.SIGTERM),
        )
        deadline = time.monotonic() + timeout_s
        socket_path = host_dir / "monado_comp_ipc"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise XrError(
                    f"monado-service exited at once (code {self.process.returncode}); "
                    f"its log: {self.log_path or 'not kept'}"
                )
            if socket_path.exists() and (self.driver != "remote" or _port_open(REMOTE_PORT)):
                return self
            time.sleep(0.05)
        self.stop()
        raise XrError(f"monado-service did not open {socket_path} within {timeout_s:g} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Make the runtime go away abruptly (tests of the client's survival)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, wait (1-3 s), SIGKILL if needed; remove the runtime dir; unlock."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            host_dir = self._host_runtime_dir()
            if host_dir.exists():
                for p in host_dir.iterdir():
                    with contextlib.suppress(OSError):
                        p.unlink()
                with contextlib.suppress(OSError):
                    host_dir.rmdir()
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None

    def __enter__(self) -> MonadoService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    """Whether something listens on TCP ``port``, read from /proc/net/tcp: connecting to
    find out would be worse than useless here, as the remote driver takes the probe for
    its client, writes to it after it closed, and dies of SIGPIPE."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                return True
    return False


# ---- the remote driver's wire format -------------------------------------------------------
# struct r_remote_data of Monado's src/xrt/drivers/remote/r_interface.h (protocol "mndrmt3"),
# little endian, natural alignment: header u64; head (2 views of fov[4 f32] + pose[7 f32] +
# pad u32, centre pose[7 f32], per_view_data_valid + 3 pad bools) = 128 bytes; then the left
# and right controllers, 120 bytes each: pose[7 f32], linear and angular velocity [3 f32]
# each, hand curl [5 f32], trigger, squeeze, squeeze force [f32], thumbstick [2 f32],
# trackpad force [f32], trackpad [2 f32], then 16 bools (hand tracking active, active,
# system click/touch, a click/touch, b click/touch, trigger click/touch, thumbstick
# click/touch, trackpad touch, 3 pad). Poses are orientation xyzw then position.
REMOTE_HEADER = b"mndrmt3\0"
_HEAD = struct.Struct("<" + "4f7fI" * 2 + "7f?3x")
_CONTROLLER = struct.Struct("<7f3f3f5f1f1f1f2f1f2f16?")
REMOTE_PACKET_BYTES = 8 + _HEAD.size + 2 * _CONTROLLER.size
assert _HEAD.size == 128 and _CONTROLLER.size == 120 and REMOTE_PACKET_BYTES == 376
_BUTTONS = (
    "hand_tracking_active", "active", "system_click", "system_touch", "a_click", "a_touch",
    "b_click", "b_touch", "trigger_click", "trigger_touch", "thumbstick_click",
    "thumbstick_touch", "trackpad_touch",
)  # fmt: skip


@dataclass
class RemoteController:
    """One controller of the remote driver: pose in the tracking origin (OpenXR STAGE:
    +y up, metres, quaternion xyzw), trigger and squeeze values (0..1), buttons."""

    position_m: tuple = (0.2, 1.3, -0.5)
    orientation_xyzw: tuple = (0.0, 0.0, 0.0, 1.0)
    trigger: float = 0.0
    squeeze: float = 0.0
    buttons: dict = field(default_factory=lambda: {"active": True})

    def pack(self) -> bytes:
        """The controller in the driver's wire format.

        Raises:
            XrError: a button name the driver does not have (a typo pressed nothing).
        """
        unknown = sorted(set(self.buttons) - set(_BUTTONS))
        if unknown:
            raise XrError(
                f"no button {unknown} on the remote driver's controller; its buttons: "
                f"{list(_BUTTONS)}"
            )
        values = [*self.orientation_xyzw, *self.position_m, *([0.0] * 6), *([0.0] * 5)]
        values += [float(self.trigger), float(self.squeeze), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        flags = [bool(self.buttons.get(name, False)) for name in _BUTTONS] + [False] * 3
        return _CONTROLLER.pack(*values, *flags)


class RemoteHub:
    """A client of Monado's remote driver: sets the headset and controller poses and
    buttons the OpenXR application sees (one frame late; Index controller profile).

    Args:
        host, port: where the driver listens (the service's machine, 4242).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = REMOTE_PORT, timeout_s=10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=2.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise XrError(f"no Monado remote driver on {host}:{port}") from None
                time.sleep(0.1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head_position_m = (0.0, 1.6, 0.0)
        self.head_orientation_xyzw = (0.0, 0.0, 0.0, 1.0)
        self.left = RemoteController(position_m=(-0.2, 1.3, -0.5))
        self.right = RemoteController(position_m=(0.2, 1.3, -0.5))
        self.ipd_m = 0.063
        self._drain()

    def _drain(self) -> None:
        """The driver first sends its reset and latest states: read them off (whatever
        their header: the first ones may carry a zero header)."""
        self.sock.settimeout(1.0)
        with contextlib.suppress(OSError):
            got = 0
            while got < 2 * REMOTE_PACKET_BYTES:
                chunk = self.sock.recv(2 * REMOTE_PACKET_BYTES - got)
                if not chunk:
                    break
                got += len(chunk)
        self.sock.settimeout(2.0)

    def packet(self) -> bytes:
        """The current state as one ``r_remote_data`` packet (376 bytes)."""
        fov = (-0.8, 0.8, 0.8, -0.8)
        views = []
        for side in (-1.0, 1.0):
            views += [*fov, 0.0, 0.0, 0.0, 1.0, side * self.ipd_m / 2, 0.0, 0.0, 0]
        head = _HEAD.pack(*views, *self.head_orientation_xyzw, *self.head_position_m, True)
        return REMOTE_HEADER + head + self.left.pack() + self.right.pack()

    def send(self) -> None:
        """Send the state (the driver keeps it until the next packet)."""
        self.sock.sendall(self.packet())

    def set_grip(self, hand: str, X_SG) -> None:
        """Put a controller's grip at pose ``X_SG`` (4x4 in the tracking space); send."""
        from kinematics.transforms import matrix_to_quat_xyzw

        X = np.asarray(X_SG, dtype=float)
        c = self.right if hand == "right" else self.left
        c.position_m = tuple(float(v) for v in X[:3, 3])
        c.orientation_xyzw = tuple(float(v) for v in matrix_to_quat_xyzw(X[:3, :3]))
        self.send()

    def close(self) -> None:
        """Close the connection (the driver keeps the last state)."""
        with contextlib.suppress(OSError):
            self.sock.close()
