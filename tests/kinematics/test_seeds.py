"""One seed range (``kinematics.seeds``) for the IK, the session, the commands and the
benchmarks: each once had its own constant (``SEED_END = 2**63`` exclusive beside
``MAX_SEED = 2**63 - 1``) and its own comparison."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kinematics.errors import KinematicsError
from kinematics.ik import check_seed
from kinematics.seeds import MAX_SEED, is_seed


@pytest.mark.parametrize("seed", [0, 1, MAX_SEED, np.int64(MAX_SEED), np.uint64(5)])
def test_seeds_in_the_range_are_accepted_everywhere(seed):
    from bench.session import unknown_options
    from sim.cli.checks import checked_seed

    assert is_seed(seed)
    assert check_seed(seed) == int(seed)
    assert checked_seed(seed) == seed
    assert "--seeds" not in unknown_options(None, "expert", seeds=1, first_seed=int(seed))


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, True, 1.0, "3", np.float64(2)])
def test_values_outside_are_refused_with_each_callers_own_message(seed):
    from sim.cli.checks import checked_seed
    from sim.errors import SimError

    assert not is_seed(seed)
    with pytest.raises(KinematicsError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        check_seed(seed)
    if isinstance(seed, int) and not isinstance(seed, bool):  # the options are typed int
        with pytest.raises(SimError, match=r"--seed must be an integer from 0 to 2\*\*63 - 1"):
            checked_seed(seed)


def test_a_seed_run_past_the_range_is_refused_by_the_session_benchmark():
    from bench.session import unknown_options

    problems = unknown_options(None, "expert", seeds=2, first_seed=MAX_SEED)
    assert "seeds must be from 0 to 2**63 - 1" in problems["--seeds"]
    assert "--seeds" in unknown_options(None, "expert", seeds=1, first_seed=-1)


def test_the_command_line_reads_the_range_without_numpy():
    code = "import sys, kinematics.seeds; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
