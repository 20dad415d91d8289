"""``surgisim bench env --ray ADDRESS``: the sweep part on a cluster given by address (one
started within a shared machine's ports), as ``surgisim sweep --ray`` connects; before,
it always started local clusters on Ray's own ports."""

from __future__ import annotations

import socket
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from bench import env as bench_env
from sim.cli import app


class _Ray:
    """Ray's task calls, counting how many tasks run at once."""

    def __init__(self):
        self.running, self.most, self.done = [], 0, []

    def remote(self, num_cpus):
        ray = self

        class _Remote:
            def __init__(self, fn):
                self.fn = fn

            def remote(self, job):
                ray.running.append(job)
                ray.most = max(ray.most, len(ray.running))
                return job

        return _Remote

    def wait(self, refs, num_returns):
        first = refs[0]
        self.running.remove(first)
        return [first], refs[1:]

    def get(self, refs):
        self.done += list(refs)
        return refs


def test_at_most_the_measured_workers_run_at_once():
    ray = _Ray()
    remote = ray.remote(num_cpus=1)(None)
    bench_env.run_at_most(ray, remote, range(7), 2)
    assert ray.most == 2 and sorted(ray.done) == list(range(7))


def test_the_sweep_part_connects_to_the_given_address(monkeypatch):
    """Both sizes go to the cluster at the address (the local one was started on Ray's
    own ports, with no way to keep it to a port range)."""
    import sim.session.ray_cluster as ray_cluster

    asked = []

    @contextmanager
    def cluster(address, workers):
        asked.append((address, workers))
        yield _Ray()

    monkeypatch.setattr(ray_cluster, "cluster", cluster)
    monkeypatch.setattr("sim.session.sweep.jobs", lambda *a: [1, 2, 3])
    for workers in (1, 2):
        bench_env.ray_sweep_seconds(workers, 3, "127.0.0.1:40801")
    assert asked == [("127.0.0.1:40801", 1), ("127.0.0.1:40801", 2)]


@pytest.mark.timeout(60)
def test_an_address_that_does_not_answer_is_refused_before_the_benchmark(monkeypatch):
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"  # closed when the block ends
    monkeypatch.setattr(
        bench_env, "run_env_benchmark", lambda *a: pytest.fail("ran before the check")
    )
    result = CliRunner().invoke(app, ["bench", "env", "--ray", address])
    assert result.exit_code == 2, result.output
    assert address in " ".join(result.output.split())
