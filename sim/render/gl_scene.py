"""The GL side of the renderer: context, shaders, mesh buffers, framebuffers, drawing.

Everything here runs on the renderer's GL thread (:mod:`sim.render.executor`); the
public face is :class:`sim.render.renderer.Renderer`. Meshes are uploaded once (one
vertex array per mesh: interleaved position and normal, 32-bit indices) and drawn with one
call each; the frame goes to a multisampled framebuffer, is resolved into a plain one and
read back.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from scenarios.visual import SceneDescription
from sim.render import shaders
from sim.render.camera import EndoscopeLight, perspective, view_matrix
from sim.render.errors import RenderError
from sim.render.materials import SHADING

#: uniforms of the shading program (see :mod:`sim.render.shaders`)
MAIN_UNIFORMS = (
    "u_model", "u_view_proj", "u_eye", "u_light", "u_light_axis", "u_spot_falloff",
    "u_reference_d2", "u_max_gain", "u_ambient", "u_light_view_proj", "u_shadow_map",
    "u_normal_offset", "u_viewport", "u_vignette", "u_albedo", "u_material", "u_pattern",
    "u_shadow_contrast", "u_tint",
)  # fmt: skip

#: Defaults on a GPU: 4x MSAA and a 2048 shadow map cost next to nothing there.
HARDWARE_SAMPLES, HARDWARE_SHADOW_SIZE = 4, 2048
#: Defaults on a CPU rasteriser (llvmpipe): there 4x MSAA doubles the frame time (640x480
#: peg transfer: 34 against 20 ms of CPU per frame) and a 1024 shadow map costs 2.6 ms
#: against 0.9 ms for 512, so interactive views go without MSAA and with the smaller map
#: (still images ask for MSAA explicitly).
SOFTWARE_SAMPLES, SOFTWARE_SHADOW_SIZE = 0, 512
#: GL_RENDERER names of CPU rasterisers
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software rasterizer")


def is_software(gl_renderer: str) -> bool:
    """Whether a GL_RENDERER string names a CPU rasteriser."""
    name = gl_renderer.lower()
    return any(word in name for word in SOFTWARE_RENDERERS)


#: background (linear RGB): the dark body cavity beyond the light's reach
BACKGROUND = (0.0, 0.0, 0.0)


def srgb_to_linear(rgb) -> np.ndarray:
    """Display colour to linear with gamma 2, the inverse of the shader's encoding."""
    return np.square(np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0))


@dataclass
class _Draw:
    node: int
    vao: int
    count: int
    albedo: tuple[float, float, float]
    material: tuple[float, float, float, float]
    tint: tuple[float, float, float]
    pattern: int
    casts_shadow: bool


@dataclass(frozen=True)
class FrameSettings:
    """What one pass needs besides poses: projection, light, shadow and look settings."""

    fov_y_rad: float
    near_m: float
    far_m: float
    light: EndoscopeLight
    vignette: float
    shadow_fov_rad: float
    shadow_aspect: float
    shadow_near_m: float
    shadows: bool = True


def compile_program(GL, vertex: str, fragment: str, where: str = "") -> int:
    """Compile and link a GLSL program in the current context; a RenderError with the
    driver's log (and ``where``, e.g. the GL renderer) when it does not compile or link."""
    program = GL.glCreateProgram()
    for kind, source in ((GL.GL_VERTEX_SHADER, vertex), (GL.GL_FRAGMENT_SHADER, fragment)):
        shader = GL.glCreateShader(kind)
        GL.glShaderSource(shader, source)
        GL.glCompileShader(shader)
        if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
            log = GL.glGetShaderInfoLog(shader).decode(errors="replace")
            raise RenderError(f"shader did not compile {where}: {log}".replace("  ", " "))
        GL.glAttachShader(program, shader)
        GL.glDeleteShader(shader)
    GL.glLinkProgram(program)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        log = GL.glGetProgramInfoLog(program).decode(errors="replace")
        raise RenderError(f"shader program did not link {where}: {log}".replace("  ", " "))
    return program


class GLScene:
    """The uploaded scene and the framebuffers, owned by the GL thread."""

    def __init__(
        self,
        backend,
        description: SceneDescription,
        width: int,
        height: int,
        samples: int | None,
        shadow_size: int | None,
        visible: bool,
    ) -> None:
        self.context = backend.create_context(width, height, visible)
        from OpenGL import GL

        self.GL = GL
        self.width, self.height = width, height
        self.version = GL.glGetString(GL.GL_VERSION).decode(errors="replace")
        self.gl_renderer = GL.glGetString(GL.GL_RENDERER).decode(errors="replace")
        major = GL.glGetIntegerv(GL.GL_MAJOR_VERSION)
        minor = GL.glGetIntegerv(GL.GL_MINOR_VERSION)
        if (int(major), int(minor)) < (3, 3):
            raise RenderError(
                f"OpenGL {major}.{minor} ({self.gl_renderer}) is older than the 3.3 core "
                "profile the renderer needs; update Mesa or the GPU driver."
            )
        self.software = is_software(self.gl_renderer)
        if samples is None:
            samples = SOFTWARE_SAMPLES if self.software else HARDWARE_SAMPLES
        if shadow_size is None:
            shadow_size = SOFTWARE_SHADOW_SIZE if self.software else HARDWARE_SHADOW_SIZE
        self.samples = max(0, min(int(samples), int(GL.glGetIntegerv(GL.GL_MAX_SAMPLES))))
        self.shadow_size = max(int(shadow_size), 1)
        self._main = self._program(shaders.VERTEX, shaders.FRAGMENT)
        self._shadow = self._program(shaders.SHADOW_VERTEX, shaders.SHADOW_FRAGMENT)
        self._u = {name: GL.glGetUniformLocation(self._main, name) for name in MAIN_UNIFORMS}
        self._us = {
            name: GL.glGetUniformLocation(self._shadow, name)
            for name in ("u_model", "u_light_view_proj")
        }
        self._buffers: list[int] = []
        self._vaos: list[int] = []
        self.draws = self._upload(description)
        self._framebuffers()
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthFunc(GL.GL_LEQUAL)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)

    # ---- setup ---------------------------------------------------------------------------
    def _program(self, vertex: str, fragment: str) -> int:
        return compile_program(self.GL, vertex, fragment, f"on {self.gl_renderer}")

    def _upload(self, description: SceneDescription) -> list[_Draw]:
        GL = self.GL
        draws = []
        for node_index, node in enumerate(description.nodes):
            for mesh in node.meshes:
                if not len(mesh.faces):
                    continue
                interleaved = np.ascontiguousarray(
                    np.concatenate([mesh.vertices_m, mesh.normals], axis=1), dtype=np.float32
                )
                indices = np.ascontiguousarray(mesh.faces, dtype=np.uint32)
                vao = GL.glGenVertexArrays(1)
                vbo, ebo = GL.glGenBuffers(2)
                GL.glBindVertexArray(vao)
                GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
                GL.glBufferData(
                    GL.GL_ARRAY_BUFFER, interleaved.nbytes, interleaved, GL.GL_STATIC_DRAW
                )
                GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, ebo)
                GL.glBufferData(
                    GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STATIC_DRAW
                )
                GL.glEnableVertexAttribArray(0)
                GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 24, ctypes.c_void_p(0))
                GL.glEnableVertexAttribArray(1)
                GL.glVertexAttribPointer(1, 3, GL.GL_FLOAT, GL.GL_FALSE, 24, ctypes.c_void_p(12))
                GL.glBindVertexArray(0)
                self._vaos.append(vao)
                self._buffers += [int(vbo), int(ebo)]
                shading = SHADING[mesh.material]
                albedo = srgb_to_linear(mesh.rgba[:3])
                hue = albedo / max(float(albedo.max()), 1e-3)
                tint = (1.0 - shading.metallic) + shading.metallic * hue
                draws.append(
                    _Draw(
                        node_index,
                        vao,
                        int(indices.size),
                        tuple(float(a) for a in albedo),
                        (shading.diffuse, shading.specular, shading.shininess, shading.metallic),
                        tuple(float(t) for t in tint),
                        shading.pattern,
                        shading.casts_shadow,
                    )
                )
        # fewest state changes: group by material and colour
        draws.sort(key=lambda d: (d.pattern, d.material, d.albedo))
        return draws

    def _framebuffers(self) -> None:
        GL = self.GL
        w, h = self.width, self.height
        self._renderbuffers = list(GL.glGenRenderbuffers(4))
        color_ms, depth_ms, color, depth = self._renderbuffers
        self._fbo_ms, self._fbo, self._fbo_shadow = (int(f) for f in GL.glGenFramebuffers(3))
        for fbo, (c, d), samples in (
            (self._fbo_ms, (color_ms, depth_ms), self.samples),
            (self._fbo, (color, depth), 0),
        ):
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, c)
            GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, samples, GL.GL_RGBA8, w, h)
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, d)
            GL.glRenderbufferStorageMultisample(
                GL.GL_RENDERBUFFER, samples, GL.GL_DEPTH_COMPONENT24, w, h
            )
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glFramebufferRenderbuffer(
                GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, c
            )
            GL.glFramebufferRenderbuffer(
                GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, d
            )
            self._check_framebuffer("image")
        self._shadow_texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._shadow_texture)
        size = self.shadow_size
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_DEPTH_COMPONENT24, size, size, 0,
            GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT, None,
        )  # fmt: skip
        for key, value in (
            (GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR),
            (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
            (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_BORDER),
            (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_BORDER),
            (GL.GL_TEXTURE_COMPARE_MODE, GL.GL_COMPARE_REF_TO_TEXTURE),
            (GL.GL_TEXTURE_COMPARE_FUNC, GL.GL_LEQUAL),
        ):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, key, value)
        GL.glTexParameterfv(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_BORDER_COLOR, [1.0, 1.0, 1.0, 1.0])
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo_shadow)
        GL.glFramebufferTexture2D(
            GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_TEXTURE_2D, self._shadow_texture, 0
        )
        GL.glDrawBuffer(GL.GL_NONE)
        GL.glReadBuffer(GL.GL_NONE)
        self._check_framebuffer("shadow map")
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def _check_framebuffer(self, what: str) -> None:
        GL = self.GL
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RenderError(
                f"the {what} framebuffer is incomplete (status {int(status):#x}) on "
                f"{self.gl_renderer}; try fewer samples or a smaller image."
            )

    # ---- drawing -------------------------------------------------------------------------
    def draw(
        self,
        X_WN: np.ndarray,
        drawn: np.ndarray,
        eyes: list[np.ndarray],
        X_WC: np.ndarray,
        settings: FrameSettings,
        want_depth: bool,
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Render the scene for each eye pose (shadow map once); return (rgb, depth)
        per eye: (H, W, 3) uint8 top row first, and the window depth (H, W) or None."""
        models = np.ascontiguousarray(X_WN, dtype=np.float32)
        draws = [d for d in self.draws if drawn[d.node]]
        X_WL = settings.light.pose(X_WC)
        light_proj = perspective(
            settings.shadow_fov_rad, settings.shadow_aspect, settings.shadow_near_m, settings.far_m
        )
        light_view_proj = (light_proj @ view_matrix(X_WL)).astype(np.float32)
        casters = [d for d in draws if d.casts_shadow] if settings.shadows else []
        self.shadow_pass(models, casters, light_view_proj)
        self.start_shading(X_WL, light_view_proj, settings)
        out = []
        for X_WE in eyes:
            self.shade(models, draws, X_WE, settings)
            out.append(self._read(want_depth))
        self.GL.glBindVertexArray(0)
        return out

    def shadow_pass(self, models: np.ndarray, casters: list[_Draw], light_view_proj) -> None:
        """Depth of the shadow casters seen from the light outlet, into the shadow map."""
        GL = self.GL
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo_shadow)
        GL.glViewport(0, 0, self.shadow_size, self.shadow_size)
        GL.glClear(GL.GL_DEPTH_BUFFER_BIT)
        if not casters:
            return
        GL.glUseProgram(self._shadow)
        GL.glUniformMatrix4fv(self._us["u_light_view_proj"], 1, GL.GL_TRUE, light_view_proj)
        GL.glEnable(GL.GL_POLYGON_OFFSET_FILL)
        GL.glPolygonOffset(1.5, 2.0)
        loc = self._us["u_model"]
        for d in casters:
            GL.glUniformMatrix4fv(loc, 1, GL.GL_TRUE, models[d.node])
            GL.glBindVertexArray(d.vao)
            GL.glDrawElements(GL.GL_TRIANGLES, d.count, GL.GL_UNSIGNED_INT, None)
        GL.glDisable(GL.GL_POLYGON_OFFSET_FILL)

    def start_shading(self, X_WL: np.ndarray, light_view_proj, settings: FrameSettings) -> None:
        """Set the per-frame uniforms of the shading program (light, shadow map, look)."""
        GL, u, light = self.GL, self._u, settings.light
        aspect = self.width / self.height
        GL.glUseProgram(self._main)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._shadow_texture)
        GL.glUniform1i(u["u_shadow_map"], 0)
        GL.glUniformMatrix4fv(u["u_light_view_proj"], 1, GL.GL_TRUE, light_view_proj)
        GL.glUniform3f(u["u_light"], *X_WL[:3, 3])
        GL.glUniform3f(u["u_light_axis"], *X_WL[:3, 2])
        GL.glUniform1f(u["u_spot_falloff"], light.spot_falloff(settings.fov_y_rad, aspect))
        GL.glUniform1f(u["u_reference_d2"], light.reference_distance_m**2)
        GL.glUniform1f(u["u_max_gain"], light.max_gain)
        GL.glUniform1f(u["u_ambient"], light.ambient)
        GL.glUniform1f(u["u_shadow_contrast"], light.shadow_contrast)
        # a shadow-map texel at the reference distance: lookups clear the surface by that
        half = np.tan(settings.shadow_fov_rad / 2) * max(settings.shadow_aspect, 1.0)
        texel_m = 2.0 * light.reference_distance_m * half / self.shadow_size
        GL.glUniform1f(u["u_normal_offset"], 1.5 * texel_m)
        GL.glUniform2f(u["u_viewport"], float(self.width), float(self.height))
        GL.glUniform1f(u["u_vignette"], settings.vignette)

    def shade(
        self, models: np.ndarray, draws: list[_Draw], X_WE, settings: FrameSettings, proj=None
    ) -> None:
        """Draw the lit scene from eye pose ``X_WE`` into the multisampled framebuffer,
        through the camera's symmetric frustum or the given projection ``proj`` (4x4)."""
        GL, u = self.GL, self._u
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo_ms if self.samples else self._fbo)
        GL.glViewport(0, 0, self.width, self.height)
        GL.glClearColor(*BACKGROUND, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        if proj is None:
            proj = perspective(
                settings.fov_y_rad, self.width / self.height, settings.near_m, settings.far_m
            )
        view_proj = (proj @ view_matrix(X_WE)).astype(np.float32)
        GL.glUniformMatrix4fv(u["u_view_proj"], 1, GL.GL_TRUE, view_proj)
        GL.glUniform3f(u["u_eye"], *X_WE[:3, 3])
        last = None
        for d in draws:
            key = (d.albedo, d.material, d.pattern)
            if key != last:
                GL.glUniform3f(u["u_albedo"], *d.albedo)
                GL.glUniform4f(u["u_material"], *d.material)
                GL.glUniform3f(u["u_tint"], *d.tint)
                GL.glUniform1i(u["u_pattern"], d.pattern)
                last = key
            GL.glUniformMatrix4fv(u["u_model"], 1, GL.GL_TRUE, models[d.node])
            GL.glBindVertexArray(d.vao)
            GL.glDrawElements(GL.GL_TRIANGLES, d.count, GL.GL_UNSIGNED_INT, None)

    def draw_views(self, X_WN, drawn, views, X_WC, settings: FrameSettings, on_view=None) -> None:
        """Render each view straight into a framebuffer the caller owns (no readback).

        ``views`` are :class:`sim.render.renderer.RenderView` s (eye pose, projection,
        target framebuffer and viewport); the shadow map is made once for all of them.
        The image is copied as it is (gamma-2 encoded, like :meth:`draw`'s): with
        ``GL_FRAMEBUFFER_SRGB`` off, an sRGB target receives those bytes unchanged.
        ``on_view(i, "start" | "end")`` runs around each view (e.g. GPU timer queries).
        """
        GL = self.GL
        models = np.ascontiguousarray(X_WN, dtype=np.float32)
        draws = [d for d in self.draws if drawn[d.node]]
        X_WL = settings.light.pose(X_WC)
        light_proj = perspective(
            settings.shadow_fov_rad, settings.shadow_aspect, settings.shadow_near_m, settings.far_m
        )
        light_view_proj = (light_proj @ view_matrix(X_WL)).astype(np.float32)
        casters = [d for d in draws if d.casts_shadow] if settings.shadows else []
        self.shadow_pass(models, casters, light_view_proj)
        self.start_shading(X_WL, light_view_proj, settings)
        w, h = self.width, self.height
        for i, view in enumerate(views):
            if on_view is not None:
                on_view(i, "start")
            self.shade(models, draws, view.X_WE, settings, view.projection)
            if self.samples:  # resolve the multisampled image
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo_ms)
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo)
                GL.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
            x, y, vw, vh = view.viewport
            GL.glDisable(GL.GL_FRAMEBUFFER_SRGB)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, int(view.framebuffer))
            same = (vw, vh) == (w, h)
            GL.glBlitFramebuffer(
                0, 0, w, h, x, y, x + vw, y + vh, GL.GL_COLOR_BUFFER_BIT,
                GL.GL_NEAREST if same else GL.GL_LINEAR,
            )  # fmt: skip
            if on_view is not None:
                on_view(i, "end")
        GL.glBindVertexArray(0)

    def _read(self, want_depth: bool) -> tuple[np.ndarray, np.ndarray | None]:
        GL = self.GL
        w, h = self.width, self.height
        if self.samples:  # resolve the multisampled image
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo_ms)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo)
            bits = GL.GL_COLOR_BUFFER_BIT | (GL.GL_DEPTH_BUFFER_BIT if want_depth else 0)
            GL.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, bits, GL.GL_NEAREST)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        rgb = np.empty((h, w, 3), dtype=np.uint8)
        GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, rgb)
        depth = None
        if want_depth:
            depth = np.empty((h, w), dtype=np.float32)
            GL.glReadPixels(0, 0, w, h, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT, depth)
            depth = depth[::-1].copy()
        return rgb[::-1].copy(), depth

    def present(self) -> None:
        """Copy the last frame into the window (GLFW with a visible window) and show it."""
        GL = self.GL
        if not getattr(self.context, "visible", False):
            return
        w, h = self.context.size
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(
            0, 0, self.width, self.height, 0, 0, w, h, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR
        )
        self.context.present()

    def free(self) -> None:
        """Delete every GL object and release the context."""
        GL = self.GL
        try:
            if self._vaos:
                GL.glDeleteVertexArrays(len(self._vaos), self._vaos)
            if self._buffers:
                GL.glDeleteBuffers(len(self._buffers), self._buffers)
            GL.glDeleteFramebuffers(3, [self._fbo_ms, self._fbo, self._fbo_shadow])
            GL.glDeleteRenderbuffers(4, self._renderbuffers)
            GL.glDeleteTextures(1, [self._shadow_texture])
            GL.glDeleteProgram(self._main)
            GL.glDeleteProgram(self._shadow)
        finally:
            self.context.free()
