"""The headset's overlay panel goes into each eye's image through the client's own path
(:meth:`sim.xr.hud.HeadsetHud.draw`: Pillow text, one texture, a blended quad per eye),
on Mesa offscreen like the other render tests."""

from __future__ import annotations

import math

import numpy as np

from sim.view.hud import ArmLine, HudContent, draw_hud
from sim.xr.frames import symmetric_fov
from sim.xr.hud import EyeView, HeadsetHud, panel_layout


def _targets(GL, n, w, h):
    fbos, textures = [], []
    for _ in range(n):
        tex = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, w, h, 0, GL.GL_RGBA,
                        GL.GL_UNSIGNED_BYTE, None)  # fmt: skip
        fbo = int(GL.glGenFramebuffers(1))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0,
                                  GL.GL_TEXTURE_2D, tex, 0)  # fmt: skip
        fbos.append(fbo)
        textures.append(tex)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    return fbos, textures


def _read(GL, fbo, w, h):
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
    rgb = np.empty((h, w, 3), dtype=np.uint8)
    GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, rgb)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
    return rgb  # GL rows: the first is the bottom


def test_the_panel_is_blended_into_each_eye_where_its_layout_says(renderer, peg_scene):
    from OpenGL import GL

    from sim.render import RenderView
    from sim.render.camera import perspective, stereo_eyes

    description, X_WN = peg_scene
    w, h = renderer.width, renderer.height
    camera = description.camera
    fov = symmetric_fov(camera.fov_y_rad, w / h)
    eyes = [EyeView(-0.0315, fov), EyeView(0.0315, fov)]
    content = HudContent(
        title="Peg transfer", step="Step 1/2", instruction="Lift the ring.", time_s=12.3,
        score=91.0, arms=(ArmLine("PSM1", "right", "HOLDING"),),
        warnings=(("Dropped ring", "warning"),), result="PASS - score 91.0/100",
    )  # fmt: skip
    hud = HeadsetHud({"title": "Peg transfer"}, description, "console")
    X_WC = description.camera_pose(X_WN)
    P = perspective(camera.fov_y_rad, w / h, camera.near_m, camera.far_m)
    fbos, textures = renderer.call(_targets, GL, 2, w, h)
    try:
        views = [
            RenderView(e, P, f, (0, 0, w, h)) for e, f in zip(stereo_eyes(X_WC), fbos, strict=True)
        ]
        renderer.render_views(X_WN, views, X_WC)
        before = [renderer.call(_read, GL, f, w, h) for f in fbos]
        renderer.call(hud.draw, fbos, w, h, eyes, content)
        after = [renderer.call(_read, GL, f, w, h) for f in fbos]
        renderer.call(hud.free)
    finally:
        renderer.call(GL.glDeleteFramebuffers, 2, fbos)
        renderer.call(GL.glDeleteTextures, 2, textures)

    layout = panel_layout(w, h, eyes, hud.depth_m)
    panel = draw_hud(content, *layout.size, scale=layout.scale)[::-1].astype(float)  # GL rows
    a = panel[..., 3:] / 255.0
    for b, o, (x, y, pw, ph) in zip(before, after, layout.rects, strict=True):
        expected = b[y : y + ph, x : x + pw] * (1 - a) + panel[..., :3] * a
        assert np.abs(o[y : y + ph, x : x + pw] - expected).max() <= 2.0
        outside = np.ones((h, w), bool)
        outside[y : y + ph, x : x + pw] = False
        assert np.array_equal(o[outside], b[outside])  # the rest of the view untouched
        assert (o[y : y + ph, x : x + pw].max(axis=2) > 200).sum() > 500  # text is there
    # the left eye's panel sits right of the right eye's: crossed disparity, nearer
    # than infinity by f * IPD / d pixels in all
    fx = w / (2 * math.tan(-fov[0]))
    shift = layout.rects[0][0] - layout.rects[1][0]
    assert abs(shift - fx * 0.063 / hud.depth_m) <= 1.0
    assert layout.rects[0][1] == layout.rects[1][1]
    assert hud.redraws == 1
