"""The renderer's hook for headset clients: views drawn straight into a framebuffer the
caller owns (an OpenXR swapchain image in the VR client), no readback."""

from __future__ import annotations

import numpy as np

from sim.render.camera import perspective


def _target(GL, width, height, internal_format):
    """A texture-backed framebuffer in the renderer's context (as a swapchain image)."""
    texture = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
    GL.glTexStorage2D(GL.GL_TEXTURE_2D, 1, internal_format, width, height)
    fbo = int(GL.glGenFramebuffers(1))
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glFramebufferTexture2D(
        GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, texture, 0
    )
    assert GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) == GL.GL_FRAMEBUFFER_COMPLETE
    return fbo, texture


def _read(GL, fbo, width, height):
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, rgb)
    return rgb[::-1].copy()


def test_views_drawn_into_an_srgb_texture_match_the_read_back_image(peg_scene, gl_backend):
    from sim.render import Renderer, RenderView

    description, X_WN = peg_scene
    w, h = 160, 120
    with Renderer(description, w, h) as r:
        from OpenGL import GL  # after the renderer chose the GL platform

        expected = r.render(X_WN)
        X_WC = description.camera_pose(X_WN)
        camera = description.camera
        P = perspective(camera.fov_y_rad, w / h, camera.near_m, camera.far_m)
        fbo, texture = r.call(_target, GL, w, h, GL.GL_SRGB8_ALPHA8)
        calls = []
        r.render_views(
            X_WN,
            [RenderView(X_WC, P, fbo, (0, 0, w, h))],
            on_view=lambda i, phase: calls.append((i, phase)),
        )
        got = r.call(_read, GL, fbo, w, h)
        r.call(GL.glDeleteFramebuffers, 1, [fbo])
        r.call(GL.glDeleteTextures, 1, [texture])
    assert calls == [(0, "start"), (0, "end")]
    # the same bytes as the renderer's own image: no sRGB conversion on the way in
    assert expected.std() > 10
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_an_off_centre_projection_moves_the_image(peg_scene, gl_backend):
    """A frustum shifted right (as a headset eye's asymmetric one) shows the scene
    further left in the image than the symmetric one."""
    from sim.render import Renderer, RenderView

    description, X_WN = peg_scene
    w, h = 160, 120
    camera = description.camera
    P = perspective(camera.fov_y_rad, w / h, camera.near_m, camera.far_m)
    shifted = P.copy()
    shifted[0, 2] = 0.3  # the frustum's centre moves right: the scene moves left
    with Renderer(description, w, h) as r:
        from OpenGL import GL  # after the renderer chose the GL platform

        X_WC = description.camera_pose(X_WN)
        fbo, texture = r.call(_target, GL, w, h, GL.GL_RGBA8)
        images = []
        for proj in (P, shifted):
            r.render_views(X_WN, [RenderView(X_WC, proj, fbo, (0, 0, w, h))])
            images.append(r.call(_read, GL, fbo, w, h).astype(float).sum(axis=2))
        r.call(GL.glDeleteFramebuffers, 1, [fbo])
        r.call(GL.glDeleteTextures, 1, [texture])
    columns = np.arange(w)
    centre = [float((img.sum(axis=0) * columns).sum() / img.sum()) for img in images]
    assert centre[1] < centre[0] - 5, centre
