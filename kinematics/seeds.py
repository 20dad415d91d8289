"""The one range of seeds every part of surgisim accepts: integers from 0 to 2**63 - 1.

Seeds feed numpy's ``SeedSequence`` and the IK's restart streams, which are keyed on
int64, so a seed must fit a signed 64-bit integer. The IK, the session, the commands
(``--seed``, ``--first-seed``) and the benchmarks check against this module, each with its
own wording (an option names itself, a keyword argument says how to derive one).
Imports nothing heavy: ``surgisim --help`` reads :data:`MAX_SEED`.
"""

from __future__ import annotations

import numbers

#: The largest seed accepted (inclusive): seeds are integers in [0, 2**63).
MAX_SEED = 2**63 - 1


def is_seed(value) -> bool:
    """True for an integer (Python or numpy, not a bool) from 0 to :data:`MAX_SEED`.

    ``2.5``, ``"3"`` and ``True`` are not seeds: each was once taken silently somewhere.
    """
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and 0 <= value <= MAX_SEED
    )
