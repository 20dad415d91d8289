"""The OpenXR side of the headset client: instance, session lifecycle, swapchains, actions.

:class:`XrRuntime` binds OpenXR to a :class:`~sim.render.renderer.Renderer`'s GL context
(``XR_MNDX_egl_enable`` with the ``egl`` backend, headless; ``XR_KHR_opengl_enable``
with an Xlib/GLX binding for the ``glfw`` backend, a window on a display). Every method
that touches the session's graphics runs on the renderer's GL thread (the client calls
them through :meth:`Renderer.call <sim.render.renderer.Renderer.call>`): the OpenGL
binding wants the application's context current for swapchain calls and ``xrEndFrame``.
Controller input (:meth:`XrRuntime.read_hands`) and vibration may come from another
thread: those calls need no GL.

Session lifecycle (OpenXR 1.0 §9.3), all handled in :meth:`XrRuntime.poll`:
IDLE -> READY (``xrBeginSession``) -> SYNCHRONIZED -> VISIBLE -> FOCUSED, and back
through STOPPING (``xrEndSession``) -> IDLE -> EXITING (done), or LOSS_PENDING and
instance loss (the runtime is going away). An OpenXR call that fails because the
runtime is gone (``XR_ERROR_INSTANCE_LOST``, ``XR_ERROR_SESSION_LOST``,
``XR_ERROR_RUNTIME_FAILURE``) raises :class:`~sim.xr.errors.RuntimeLostError`.

pyopenxr quirks handled here (see shared notes): importing ``xr`` switches PyOpenGL's
platform to GLX, so the renderer's platform is put back; the OpenGL graphics
requirements are asked before the session is created; ``xrSyncActions`` reports
``XR_SESSION_NOT_FOCUSED`` (a success code) as an exception.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from sim.xr.errors import RuntimeLostError, XrError
from sim.xr.frames import pose_matrix

_log = logging.getLogger(__name__)

#: GL internal formats (swapchain formats are GL enums with the OpenGL bindings).
GL_SRGB8_ALPHA8 = 0x8C43
GL_RGBA8 = 0x8058

#: Input bindings per interaction profile: (gripper, clutch, camera pedal, recentre) for
#: each hand; None where a profile has no such control. The trigger is the gripper (pull
#: to close); the lower face button the clutch, the upper one the camera pedal.
PROFILES: dict[str, dict[str, dict[str, str | None]]] = {
    "/interaction_profiles/valve/index_controller": {
        hand: {
            "gripper": "input/trigger/value",
            "clutch": "input/a/click",
            "camera": "input/b/click",
            "recentre": "input/thumbstick/click",
        }
        for hand in ("left", "right")
    },
    "/interaction_profiles/oculus/touch_controller": {
        "right": {
            "gripper": "input/trigger/value",
            "clutch": "input/a/click",
            "camera": "input/b/click",
            "recentre": "input/thumbstick/click",
        },
        "left": {
            "gripper": "input/trigger/value",
            "clutch": "input/x/click",
            "camera": "input/y/click",
            "recentre": "input/thumbstick/click",
        },
    },
    "/interaction_profiles/khr/simple_controller": {
        hand: {
            "gripper": "input/select/click",
            "clutch": "input/menu/click",
            "camera": None,
            "recentre": None,
        }
        for hand in ("left", "right")
    },
}
HANDS = ("left", "right")


@dataclass
class HandState:
    """One controller at one instant.

    Attributes:
        X_SG: the grip pose in the reference space S (4x4, m), or None when not tracked.
        trigger: 0 (released) .. 1 (pulled).
        clutch, camera, recentre: the buttons.
    """

    X_SG: np.ndarray | None
    trigger: float = 0.0
    clutch: bool = False
    camera: bool = False
    recentre: bool = False


@dataclass
class Swapchain:
    """One eye's swapchain: its handle, size, GL textures and a framebuffer on each."""

    handle: object
    width: int
    height: int
    images: list
    framebuffers: list[int] = field(default_factory=list)


@dataclass
class FrameInfo:
    """What ``xrWaitFrame`` said and how long it took."""

    display_ns: int
    period_ns: int
    should_render: bool
    wait_s: float
    started_s: float


def require_pyopenxr() -> None:
    """Raise the install hint now when pyopenxr is missing (before anything starts)."""
    _import_xr()


def _import_xr():
    """``import xr`` without letting it switch PyOpenGL's platform to GLX under the
    renderer's feet (pyopenxr's Linux module forces GLXPlatform on import)."""
    import OpenGL.platform as platform

    saved = platform.PLATFORM
    try:
        import xr
    except ImportError:
        raise XrError(
            "the OpenXR client needs pyopenxr: pip install 'surgisim[vr]' (and an OpenXR "
            "runtime: Monado, SteamVR, ...); with no headset here, --monado simulated runs "
            "the client in Monado's simulated headset (docs/vr.md)"
        ) from None
    finally:
        platform.PLATFORM = saved
    return xr


def _name(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class XrRuntime:
    """OpenXR bound to a renderer's context (see the module docstring).

    Use: :meth:`open_instance` (any thread: the runtime, the headset, the recommended
    image size), then create the renderer at that size, then :meth:`open_session` on the
    renderer's GL thread.

    Args:
        backend: the renderer's GL backend (``egl`` or ``glfw``).
        srgb: prefer an sRGB swapchain (the renderer writes display-encoded colour).
        size: swapchain size per eye (pixels); default the runtime's recommended size.
        log: where status lines go.
    """

    def __init__(self, backend: str, *, srgb: bool = True, size=None, log=print):
        self.xr = _import_xr()
        self.renderer = None
        self.backend = backend
        self.srgb = srgb
        self.size = size
        self.log = log
        self.instance = None
        self.session = None
        self.system_id = None
        self.system_name = ""
        self.state_name = "UNKNOWN"
        self.states_seen: list[str] = []
        self.running = False
        self.exit = False
        self.lost: str | None = None
        self.swapchains: list[Swapchain] = []
        self.swapchain_format = 0
        self.recommended: list[tuple[int, int]] = []
        self.view_space = None
        self.base_space = None
        self.base_space_name = ""
        self.hand_spaces: dict[str, object] = {}
        self.hand_paths: dict[str, int] = {}
        self.profiles_bound: list[str] = []
        self.time_conversion = False
        self._actions: dict[str, object] = {}
        self._action_set = None
        self._binding = None
        self.haptic_errors = 0

    # ---- errors -------------------------------------------------------------------------------
    def _lost(self, exc) -> RuntimeLostError:
        xr = self.xr
        self.lost = f"{type(exc).__name__}: {exc}"
        self.exit = True
        return RuntimeLostError(
            f"the OpenXR runtime went away ({type(exc).__name__}); the headset view stopped. "
            "The training session goes on without this client: restart the runtime "
            f"({self.system_name or 'e.g. monado-service'}) and surgisim vr to rejoin."
            + ("" if isinstance(exc, xr.exception.XrException) else f" [{exc}]")
        )

    def _guard(self, fn, *args, **kwargs):
        """Call an OpenXR function; runtime-gone errors become :class:`RuntimeLostError`."""
        xr = self.xr
        try:
            return fn(*args, **kwargs)
        except (
            xr.exception.InstanceLostError,
            xr.exception.SessionLostError,
            xr.exception.RuntimeFailureError,
            xr.exception.RuntimeUnavailableError,
        ) as exc:
            raise self._lost(exc) from None

    # ---- set-up (GL thread) -------------------------------------------------------------------
    def open_instance(self) -> None:
        """Instance and system: the runtime and its headset, and the recommended image
        size (:attr:`recommended`). No GL needed.

        Raises:
            XrError: no runtime, no headset, a missing extension (the message says which).
        """
        xr = self.xr
        try:
            available = {
                _name(e.extension_name) for e in xr.enumerate_instance_extension_properties()
            }
        except xr.exception.XrException as exc:
            raise XrError(
                f"no OpenXR runtime answered ({type(exc).__name__}): start one (Monado: "
                "monado-service; SteamVR) or point XR_RUNTIME_JSON at its manifest"
            ) from None
        graphics = "XR_MNDX_egl_enable" if self.backend == "egl" else "XR_KHR_opengl_enable"
        wanted = ["XR_KHR_opengl_enable", graphics]
        missing = [e for e in wanted if e not in available]
        if missing:
            hint = (
                " Use the glfw backend (SURGISIM_GL=glfw, a display) for XR_KHR_opengl_enable."
                if graphics == "XR_MNDX_egl_enable"
                else ""
            )
            raise XrError(
                f"the OpenXR runtime lacks {missing} (it offers {len(available)} extensions, "
                f"OpenGL ones: {sorted(e for e in available if 'gl' in e.lower())}).{hint}"
            )
        if "XR_KHR_convert_timespec_time" in available:
            wanted.append("XR_KHR_convert_timespec_time")
            self.time_conversion = True
        try:
            self.instance = xr.create_instance(
                xr.InstanceCreateInfo(
                    application_info=xr.ApplicationInfo(
                        application_name="surgisim", engine_name="surgisim"
                    ),
                    enabled_extension_names=sorted(set(wanted)),
                )
            )
        except xr.exception.XrException as exc:  # before any session: no runtime there
            raise XrError(
                f"the OpenXR runtime did not start an instance ({type(exc).__name__}): is "
                "its service running (Monado: monado-service; SteamVR)? XR_RUNTIME_JSON "
                "names the runtime to use"
            ) from None
        try:
            self.system_id = xr.get_system(
                self.instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY)
            )
        except xr.exception.FormFactorUnavailableError:
            raise XrError(
                "the OpenXR runtime has no headset connected (FORM_FACTOR_UNAVAILABLE): "
                "connect and switch on the headset, then try again"
            ) from None
        props = xr.get_system_properties(self.instance, self.system_id)
        self.system_name = _name(props.system_name)
        views = xr.enumerate_view_configuration_views(
            self.instance, self.system_id, xr.ViewConfigurationType.PRIMARY_STEREO
        )
        self.recommended = [
            (v.recommended_image_rect_width, v.recommended_image_rect_height) for v in views
        ]
        # must precede xrCreateSession (a pyopenxr/OpenXR requirement)
        xr.get_opengl_graphics_requirements_khr(self.instance, self.system_id)

    def open_session(self, renderer) -> None:
        """Graphics binding, session, spaces, actions and swapchains, on ``renderer``'s
        context (call on its GL thread)."""
        xr = self.xr
        self.renderer = renderer
        self._binding = self._graphics_binding()
        self.session = self._guard(
            xr.create_session,
            self.instance,
            xr.SessionCreateInfo(
                next=ctypes.cast(ctypes.pointer(self._binding), ctypes.c_void_p),
                system_id=self.system_id,
            ),
        )
        self._spaces()
        self._create_actions()
        self._create_swapchains()

    def _graphics_binding(self):
        xr = self.xr
        context = self.renderer.context
        if self.backend == "egl":
            from OpenGL import EGL

            binding = xr.GraphicsBindingEGLMNDX()
            binding.display = context.display
            binding.config = context.config
            binding.context = context.context
            binding.get_proc_address = ctypes.cast(
                EGL.eglGetProcAddress.load(), xr.PFN_xrEglGetProcAddressMNDX
            )
            return binding
        if self.backend == "glfw":
            import glfw

            binding = xr.GraphicsBindingOpenGLXlibKHR()
            binding.x_display = glfw.get_x11_display()
            binding.glx_drawable = glfw.get_glx_window(context.window)
            binding.glx_context = glfw.get_glx_context(context.window)
            return binding
        raise XrError(
            f"the OpenXR client renders with the 'egl' (headless) or 'glfw' (a display) GL "
            f"backend, not {self.backend!r}; set SURGISIM_GL."
        )

    def _spaces(self) -> None:
        xr = self.xr
        kinds = xr.enumerate_reference_spaces(self.session)
        view = xr.ReferenceSpaceType.VIEW
        self.view_space = xr.create_reference_space(
            self.session, xr.ReferenceSpaceCreateInfo(reference_space_type=view)
        )
        base = (
            xr.ReferenceSpaceType.STAGE
            if xr.ReferenceSpaceType.STAGE in [xr.ReferenceSpaceType(k) for k in kinds]
            else xr.ReferenceSpaceType.LOCAL
        )
        self.base_space_name = base.name
        self.base_space = xr.create_reference_space(
            self.session, xr.ReferenceSpaceCreateInfo(reference_space_type=base)
        )

    def _create_actions(self) -> None:
        xr = self.xr
        inst = self.instance
        self.hand_paths = {h: xr.string_to_path(inst, f"/user/hand/{h}") for h in HANDS}
        paths = [self.hand_paths[h] for h in HANDS]
        self._action_set = xr.create_action_set(
            inst,
            xr.ActionSetCreateInfo(
                action_set_name="surgisim_master",
                localized_action_set_name="surgisim master controls",
                priority=0,
            ),
        )
        kinds = {
            "grip": xr.ActionType.POSE_INPUT,
            "gripper": xr.ActionType.FLOAT_INPUT,
            "clutch": xr.ActionType.BOOLEAN_INPUT,
            "camera": xr.ActionType.BOOLEAN_INPUT,
            "recentre": xr.ActionType.BOOLEAN_INPUT,
            "haptic": xr.ActionType.VIBRATION_OUTPUT,
        }
        for name, kind in kinds.items():
            self._actions[name] = xr.create_action(
                self._action_set,
                xr.ActionCreateInfo(
                    action_type=kind,
                    action_name=name,
                    localized_action_name=name,
                    subaction_paths=paths,
                ),
            )
        for profile, hands in PROFILES.items():
            bindings = []
            for hand, controls in hands.items():
                prefix = f"/user/hand/{hand}/"
                pairs = [("grip", "input/grip/pose"), ("haptic", "output/haptic")]
                pairs += [(a, p) for a, p in controls.items() if p is not None]
                for action, path in pairs:
                    bindings.append(
                        xr.ActionSuggestedBinding(
                            self._actions[action], xr.string_to_path(inst, prefix + path)
                        )
                    )
            try:
                xr.suggest_interaction_profile_bindings(
                    inst,
                    xr.InteractionProfileSuggestedBinding(
                        interaction_profile=xr.string_to_path(inst, profile),
                        suggested_bindings=bindings,
                    ),
                )
                self.profiles_bound.append(profile)
            except xr.exception.XrException as exc:  # a runtime without that profile
                self.log(f"OpenXR: bindings for {profile} refused ({type(exc).__name__})")
        xr.attach_session_action_sets(
            self.session, xr.SessionActionSetsAttachInfo(action_sets=[self._action_set])
        )
        for hand in HANDS:
            self.hand_spaces[hand] = xr.create_action_space(
                self.session,
                xr.ActionSpaceCreateInfo(
                    action=self._actions["grip"], subaction_path=self.hand_paths[hand]
                ),
            )

    def _create_swapchains(self) -> None:
        xr = self.xr
        from OpenGL import GL

        formats = list(xr.enumerate_swapchain_formats(self.session))
        order = [GL_SRGB8_ALPHA8, GL_RGBA8] if self.srgb else [GL_RGBA8, GL_SRGB8_ALPHA8]
        chosen = next((f for f in order if f in formats), None)
        if chosen is None:
            raise XrError(
                "the OpenXR runtime offers neither GL_SRGB8_ALPHA8 nor GL_RGBA8 swapchains "
                f"(it offers {[hex(f) for f in formats]})"
            )
        self.swapchain_format = chosen
        for width, height in self.recommended:
            if self.size is not None:
                width, height = self.size
            handle = self._guard(
                xr.create_swapchain,
                self.session,
                xr.SwapchainCreateInfo(
                    usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                    | xr.SwapchainUsageFlags.SAMPLED_BIT
                    | xr.SwapchainUsageFlags.TRANSFER_DST_BIT,
                    format=chosen,
                    sample_count=1,
                    width=width,
                    height=height,
                    face_count=1,
                    array_size=1,
                    mip_count=1,
                ),
            )
            images = xr.enumerate_swapchain_images(handle, xr.SwapchainImageOpenGLKHR)
            chain = Swapchain(handle, width, height, images)
            for image in images:
                fbo = int(GL.glGenFramebuffers(1))
                GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
                GL.glFramebufferTexture2D(
                    GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, image.image, 0
                )
                status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
                if status != GL.GL_FRAMEBUFFER_COMPLETE:
                    raise XrError(
                        f"a swapchain image cannot be drawn into (framebuffer status "
                        f"{int(status):#x}, format {chosen:#x})"
                    )
                chain.framebuffers.append(fbo)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            self.swapchains.append(chain)

    # ---- lifecycle (GL thread) ----------------------------------------------------------------
    def poll(self) -> str:
        """Handle every pending event (the session lifecycle); returns the state name."""
        xr = self.xr
        while True:
            try:
                event = xr.poll_event(self.instance)
            except xr.exception.EventUnavailable:
                break
            except (xr.exception.InstanceLostError, xr.exception.RuntimeFailureError) as exc:
                raise self._lost(exc) from None
            kind = xr.StructureType(event.type)
            if kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self.lost = "instance loss pending"
                self.exit = True
            elif kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                changed = ctypes.cast(
                    ctypes.byref(event), ctypes.POINTER(xr.EventDataSessionStateChanged)
                ).contents
                self._state(xr.SessionState(changed.state))
        return self.state_name

    def _state(self, state) -> None:
        xr = self.xr
        self.state_name = state.name
        self.states_seen.append(state.name)
        self.log(f"OpenXR session: {state.name}")
        if state == xr.SessionState.READY:
            self._guard(
                xr.begin_session,
                self.session,
                xr.SessionBeginInfo(
                    primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO
                ),
            )
            self.running = True
        elif state == xr.SessionState.STOPPING:
            self.running = False
            self._guard(xr.end_session, self.session)
        elif state == xr.SessionState.EXITING:
            self.exit = True
        elif state == xr.SessionState.LOSS_PENDING:
            self.lost = "session loss pending"
            self.exit = True

    def request_exit(self) -> None:
        """Ask the runtime to end the session (STOPPING, then EXITING follow)."""
        xr = self.xr
        if self.running:
            try:
                xr.request_exit_session(self.session)
            except xr.exception.XrException:
                self.exit = True
        else:
            self.exit = True

    # ---- frames (GL thread) -------------------------------------------------------------------
    def wait_frame(self) -> FrameInfo:
        """``xrWaitFrame`` then ``xrBeginFrame``."""
        xr = self.xr
        started = time.monotonic()
        state = self._guard(xr.wait_frame, self.session, xr.FrameWaitInfo())
        waited = time.monotonic() - started
        self._guard(xr.begin_frame, self.session, xr.FrameBeginInfo())
        return FrameInfo(
            int(state.predicted_display_time),
            int(state.predicted_display_period),
            bool(state.should_render),
            waited,
            started,
        )

    def locate_views(self, display_ns: int, space) -> list[tuple[np.ndarray, tuple]]:
        """The eyes at ``display_ns`` in ``space``: ``[(X_SV, (left, right, up, down))]``
        (OpenXR view poses, 4x4; fov angles, rad)."""
        xr = self.xr
        _, views = self._guard(
            xr.locate_views,
            self.session,
            xr.ViewLocateInfo(
                view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO,
                display_time=display_ns,
                space=space,
            ),
        )
        out = []
        for v in views:
            p, q = v.pose.position, v.pose.orientation
            fov = (v.fov.angle_left, v.fov.angle_right, v.fov.angle_up, v.fov.angle_down)
            out.append((pose_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w)), fov))
        return out

    def acquire(self) -> list[int]:
        """Acquire and wait for an image of each eye's swapchain; their framebuffers."""
        xr = self.xr
        fbos = []
        for chain in self.swapchains:
            index = self._guard(
                xr.acquire_swapchain_image, chain.handle, xr.SwapchainImageAcquireInfo()
            )
            self._guard(
                xr.wait_swapchain_image,
                chain.handle,
                xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION),
            )
            fbos.append(chain.framebuffers[index])
        return fbos

    def release(self) -> None:
        """Release every eye's image (after drawing)."""
        xr = self.xr
        for chain in self.swapchains:
            self._guard(xr.release_swapchain_image, chain.handle, xr.SwapchainImageReleaseInfo())

    def end_frame(self, display_ns: int, layer_space=None, views=None) -> None:
        """``xrEndFrame`` with one projection layer (``views``: ``[(X_SV, fov)]`` per eye
        in ``layer_space``) or none (the frame is not shown)."""
        xr = self.xr
        layers = []
        if views is not None:
            projection_views = []
            for chain, (X, fov) in zip(self.swapchains, views, strict=True):
                from kinematics.transforms import matrix_to_quat_xyzw

                q = matrix_to_quat_xyzw(X[:3, :3])
                pv = xr.CompositionLayerProjectionView(
                    pose=xr.Posef(
                        orientation=xr.Quaternionf(*[float(v) for v in q]),
                        position=xr.Vector3f(*[float(v) for v in X[:3, 3]]),
                    ),
                    fov=xr.Fovf(*[float(a) for a in fov]),
                    sub_image=xr.SwapchainSubImage(
                        swapchain=chain.handle,
                        image_rect=xr.Rect2Di(
                            offset=xr.Offset2Di(0, 0),
                            extent=xr.Extent2Di(chain.width, chain.height),
                        ),
                        image_array_index=0,
                    ),
                )
                projection_views.append(pv)
            layer = xr.CompositionLayerProjection(space=layer_space, views=projection_views)
            layers.append(ctypes.byref(layer))
        self._guard(
            xr.end_frame,
            self.session,
            xr.FrameEndInfo(
                display_time=display_ns,
                environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE,
                layers=layers,
            ),
        )

    # ---- time -----------------------------------------------------------------------------------
    def xr_time_to_monotonic(self, xr_ns: int) -> float | None:
        """An XrTime as ``time.monotonic()`` seconds (None without the conversion
        extension)."""
        if not self.time_conversion:
            return None
        xr = self.xr
        ts = self._guard(xr.convert_time_to_timespec_time_khr, self.instance, xr_ns)
        return ts.tv_sec + ts.tv_nsec * 1e-9

    def now(self) -> int | None:
        """The current XrTime (None without the conversion extension)."""
        if not self.time_conversion:
            return None
        xr = self.xr
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        ts = xr.timespec(t // 1_000_000_000, t % 1_000_000_000)
        value = self._guard(xr.convert_timespec_time_to_time_khr, self.instance, ts)
        return int(getattr(value, "value", value))

    # ---- input (any thread) ---------------------------------------------------------------------
    def read_hands(self, xr_time: int) -> dict[str, HandState] | None:
        """Both controllers at ``xr_time``; None while the session is not focused (the
        runtime gives input to a focused session only)."""
        xr = self.xr
        try:
            self._guard(
                xr.sync_actions,
                self.session,
                xr.ActionsSyncInfo(active_action_sets=[xr.ActiveActionSet(self._action_set, 0)]),
            )
        except xr.exception.SessionNotFocused:
            return None
        out = {}
        for hand in HANDS:
            path = self.hand_paths[hand]
            location = self._guard(
                xr.locate_space, self.hand_spaces[hand], self.base_space, xr_time
            )
            valid = (
                xr.SpaceLocationFlags.POSITION_VALID_BIT
                | xr.SpaceLocationFlags.ORIENTATION_VALID_BIT
            )
            X = None
            if (location.location_flags & valid) == valid:
                p, q = location.pose.position, location.pose.orientation
                X = pose_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
            values = {}
            for name in ("gripper", "clutch", "camera", "recentre"):
                info = xr.ActionStateGetInfo(action=self._actions[name], subaction_path=path)
                if name == "gripper":
                    state = self._guard(xr.get_action_state_float, self.session, info)
                else:
                    state = self._guard(xr.get_action_state_boolean, self.session, info)
                values[name] = (
                    state.current_state
                    if state.is_active
                    else (0.0 if name == "gripper" else False)
                )
            out[hand] = HandState(
                X,
                float(values["gripper"]),
                bool(values["clutch"]),
                bool(values["camera"]),
                bool(values["recentre"]),
            )
        return out

    def locate_head(self, xr_time: int) -> np.ndarray | None:
        """The head (OpenXR view space) in the reference space at ``xr_time`` (4x4), or
        None when not tracked."""
        xr = self.xr
        location = self._guard(xr.locate_space, self.view_space, self.base_space, xr_time)
        valid = (
            xr.SpaceLocationFlags.POSITION_VALID_BIT | xr.SpaceLocationFlags.ORIENTATION_VALID_BIT
        )
        if (location.location_flags & valid) != valid:
            return None
        p, q = location.pose.position, location.pose.orientation
        return pose_matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))

    def vibrate(self, hand: str, amplitude: float, duration_s: float = 0.05) -> None:
        """Vibrate a controller (amplitude 0..1; 0 stops it). A runtime that cannot is
        counted in ``haptic_errors``, never fatal."""
        xr = self.xr
        info = xr.HapticActionInfo(
            action=self._actions["haptic"], subaction_path=self.hand_paths[hand]
        )
        try:
            if amplitude <= 0.0:
                xr.stop_haptic_feedback(self.session, info)
            else:
                vibration = xr.HapticVibration(
                    duration=int(duration_s * 1e9),
                    frequency=xr.FREQUENCY_UNSPECIFIED,
                    amplitude=float(min(amplitude, 1.0)),
                )
                xr.apply_haptic_feedback(self.session, info, vibration)
        except (xr.exception.InstanceLostError, xr.exception.SessionLostError) as exc:
            raise self._lost(exc) from None
        except xr.exception.XrException:
            self.haptic_errors += 1

    # ---- teardown (GL thread) -------------------------------------------------------------------
    def close(self) -> None:
        """Destroy everything created (safe after a lost runtime: errors are ignored)."""
        xr = self.xr
        from OpenGL import GL

        for chain in self.swapchains:
            try:
                if chain.framebuffers:
                    GL.glDeleteFramebuffers(len(chain.framebuffers), chain.framebuffers)
            except Exception:  # no current context after a lost runtime: go on destroying
                _log.debug("deleting a swapchain's framebuffers failed", exc_info=True)
            if self.lost is None:
                with contextlib.suppress(xr.exception.XrException):
                    xr.destroy_swapchain(chain.handle)
        self.swapchains = []
        if self.lost is None:
            for handle, destroy in (
                (self.session, xr.destroy_session),
                (self.instance, xr.destroy_instance),
            ):
                if handle is not None:
                    with contextlib.suppress(xr.exception.XrException):
                        destroy(handle)
        self.session = None
        self.instance = None
