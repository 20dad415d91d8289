"""``surgisim bench render --frames``: how many frames each case times per round."""

from bench.render import HEAVY_CASES, timed_frames


def test_heavy_cases_time_a_quarter_of_frames_and_follow_it():
    """``divisor = max(frames // 4, 3)`` then ``frames // divisor`` timed 4 frames of
    1920x1080 and stereo for any --frames >= 16."""
    for case in HEAVY_CASES:
        assert timed_frames(case, 60) == 15
        assert timed_frames(case, 400) == 100
        assert timed_frames(case, 5) == 3  # never fewer than 3
    assert timed_frames("surgisim 640x480", 60) == 60
