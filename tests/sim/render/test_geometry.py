"""The renderer draws things where the pinhole camera model says they are: instrument tips
on instrument pixels, a moved ring moved by the predicted number of pixels, stereo
disparity of the right sign and size. Real OpenGL (Mesa), real pybullet scene."""

from __future__ import annotations

import numpy as np
import pytest

from kinematics.transforms import inverse

W, H = 640, 480


def _arm_nodes(description, arm: str) -> list[str]:
    return [n for n in description.node_names if n.startswith(f"{arm}/")]


def _only(description, node: str) -> list[str]:
    """Every node but ``node`` (to see all of it: pegs and instruments occlude rings)."""
    return [n for n in description.node_names if n != node]


def _mask(renderer, X_WN, node: str) -> np.ndarray:
    """Pixels covered by ``node`` alone (finite depth where only it is drawn)."""
    _, depth = renderer.render(X_WN, depth=True, hidden=_only(renderer.description, node))
    return np.isfinite(depth)


def _stereo_masks(renderer, X_WN, node: str, baseline_m: float):
    hidden = _only(renderer.description, node)
    (_, dl), (_, dr) = renderer.render_stereo(X_WN, None, baseline_m, depth=True, hidden=hidden)
    return np.isfinite(dl), np.isfinite(dr)


def _centroid(mask: np.ndarray) -> np.ndarray:
    v, u = np.nonzero(mask)
    return np.array([u.mean() + 0.5, v.mean() + 0.5])  # pixel centres


def test_image_size_type_and_not_blank(renderer, peg_scene):
    description, X_WN = peg_scene
    rgb, depth = renderer.render(X_WN, depth=True)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert depth.shape == (H, W) and depth.dtype == np.float32
    assert rgb.std() > 20, "an image of the board and instruments has contrast"
    seen = depth[np.isfinite(depth)]
    camera = description.camera
    assert seen.size > 0.3 * W * H
    assert (seen >= camera.near_m).all() and (seen <= camera.far_m).all()


@pytest.mark.parametrize("arm", ["PSM1", "PSM2"])
def test_instrument_tip_projects_onto_the_instrument(renderer, peg_scene, peg_world, arm):
    description, X_WN = peg_scene
    X_WC = description.camera_pose(X_WN)
    p_C = (inverse(X_WC) @ np.append(peg_world.arm(arm).measured_cp()[:3, 3], 1.0))[:3]
    u, v = description.camera.project(p_C, W, H)
    assert 10 < u < W - 10 and 10 < v < H - 10, "the tip is in view in this scene"
    rgb, depth = renderer.render(X_WN, depth=True)
    rgb_without, _ = renderer.render(X_WN, depth=True, hidden=_arm_nodes(description, arm))
    window = (slice(int(v) - 1, int(v) + 2), slice(int(u) - 1, int(u) + 2))
    # the instrument is what is drawn there: hiding it changes every pixel around the tip
    change = np.abs(rgb[window].astype(int) - rgb_without[window].astype(int)).sum(axis=2)
    assert (change > 30).all(), change
    # and the surface seen there is the wrist around the tip (radius 2-3 mm), not the board
    assert np.all(np.abs(depth[window] - p_C[2]) < 0.004), (depth[window], p_C[2])
    # instrument colours are neutral (steel, black), the board and rings are not
    pixels = rgb[window].reshape(-1, 3).astype(int)
    assert np.median(pixels.max(axis=1) - pixels.min(axis=1)) < 30


@pytest.mark.parametrize("axis", [0, 1])
def test_moving_a_ring_1cm_moves_it_by_the_predicted_pixels(renderer, peg_scene, axis):
    description, X_WN = peg_scene
    X_WC = description.camera_pose(X_WN)
    ring = "board/ring3"
    i = description.index(ring)
    moved = X_WN.copy()
    moved[i, :3, 3] += 0.01 * X_WC[:3, axis]  # 1 cm along the camera's x (right) or y (down)
    before = _centroid(_mask(renderer, X_WN, ring))
    after = _centroid(_mask(renderer, moved, ring))
    z = (inverse(X_WC) @ X_WN[i, :, 3])[2]
    predicted = description.camera.focal_px(H) * 0.01 / z  # pinhole: f dx / Z
    shift = after - before
    assert shift[axis] == pytest.approx(predicted, rel=0.1), (shift, predicted)
    assert abs(shift[1 - axis]) < 0.15 * predicted


def test_stereo_disparity_has_the_right_sign_and_size(renderer, peg_scene):
    description, X_WN = peg_scene
    X_WC = description.camera_pose(X_WN)
    ring = "board/ring3"
    baseline = 0.005
    left, right = renderer.render_stereo(X_WN, X_WC, baseline)
    assert left.shape == right.shape == (H, W, 3)
    assert not np.array_equal(left, right)
    mask_left, mask_right = _stereo_masks(renderer, X_WN, ring, baseline)
    u_left, u_right = _centroid(mask_left), _centroid(mask_right)
    z = (inverse(X_WC) @ X_WN[description.index(ring), :, 3])[2]
    predicted = description.camera.focal_px(H) * baseline / z
    disparity = u_left - u_right
    assert disparity[0] > 0, "a point in front of the scope is further right in the left eye"
    assert disparity[0] == pytest.approx(predicted, rel=0.1)
    assert abs(disparity[1]) < 0.5, "parallel eyes: no vertical disparity"
    # a zero baseline gives the same image twice
    a, b = renderer.render_stereo(X_WN, X_WC, 0.0)
    assert np.array_equal(a, b)


def test_the_scope_does_not_see_itself_and_hidden_nodes_vanish(renderer, peg_scene):
    description, X_WN = peg_scene
    full = renderer.render(X_WN)
    same = renderer.render(X_WN, hidden=_arm_nodes(description, "ECM"))
    assert np.array_equal(full, same)
    with pytest.raises(Exception, match="board/ring9"):
        renderer.render(X_WN, hidden=["board/ring9"])


def test_wrong_pose_array_is_refused_with_the_expected_shape(renderer, peg_scene):
    description, X_WN = peg_scene
    with pytest.raises(Exception, match=rf"\({len(description.nodes)}, 4, 4\)"):
        renderer.render(X_WN[:-1])


def test_shadows_darken_the_board_behind_an_instrument(gl_backend, peg_scene):
    """The scope light casts the instruments' shadows: turning shadows off brightens some
    board pixels and darkens none."""
    from sim.render import Renderer

    description, X_WN = peg_scene
    with (
        Renderer(description, 320, 240) as lit,
        Renderer(description, 320, 240, shadow_size=0) as flat,
    ):
        a = lit.render(X_WN).astype(int).sum(axis=2)
        b = flat.render(X_WN).astype(int).sum(axis=2)
    darker = b - a
    assert (darker > 15).sum() > 50, "some board pixels lie in shadow"
    assert (darker < -15).sum() == 0
