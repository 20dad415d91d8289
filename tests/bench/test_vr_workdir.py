"""``surgisim bench vr``: each run writes into a folder of its own under the root's /tmp."""

from bench.vr import work_dir


def test_two_runs_get_different_folders_under_the_roots_tmp(tmp_path):
    first, first_in_root = work_dir(tmp_path)
    second, second_in_root = work_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.parent == tmp_path / "tmp"
    # the client in the root names the same folder by the root's /tmp
    assert first_in_root == f"/tmp/{first.name}" and second_in_root == f"/tmp/{second.name}"
