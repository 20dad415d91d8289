"""``plan:`` is checked like every other field: each kind its own strict model (an unknown
field, a wrong type or a field the kind does not read is an error at its line, with the
closest field), and what the file alone settles (the driver is a driven arm with jaws,
the plan has its two instruments) is refused at validation, not 8 s into a run."""

from __future__ import annotations

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import LIBRARY, parse_scenario
from scenarios.plan import PLAN_KINDS

NT = (LIBRARY / "needle-tissue.yaml").read_text()
RW = (LIBRARY / "ring-walk.yaml").read_text()
NT_PLAN = "plan: {kind: needle_tissue, driver: PSM2, entry: entry0, exit: exit0}"


def _refused(text: str, file: str = "nt.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, file)
    return caught.value


def _plan_line(text: str) -> int:
    return next(i + 1 for i, s in enumerate(text.splitlines()) if s.startswith("plan:"))


def _with_plan(plan: str, text: str = NT) -> str:
    assert NT_PLAN in text or "plan: {kind: ring_walk}" in text
    return text.replace(NT_PLAN, plan).replace("plan: {kind: ring_walk}", plan)


def test_the_bundled_plan_reads_as_its_model():
    plan = parse_scenario(NT, "nt.yaml").plan
    assert (plan.kind, plan.driver, plan.entry, plan.exit) == (
        "needle_tissue",
        "PSM2",
        "entry0",
        "exit0",
    )


def test_a_driver_that_names_no_arm_is_an_error_with_the_closest():
    """It validated, and the run died with "unexpected KeyError: 'PSM7'"."""
    text = _with_plan("plan: {kind: needle_tissue, driver: PSM7}")
    err = _refused(text)
    assert err.line == _plan_line(text)
    assert "plan.driver: no arm 'PSM7'" in err.message and "Did you mean 'PSM" in err.message


def test_a_misspelt_plan_field_is_an_error_with_a_suggestion():
    """``drivr`` was silently dropped (and the default driver used)."""
    text = _with_plan("plan: {kind: needle_tissue, drivr: PSM1, entry: entry0, exit: exit0}")
    err = _refused(text)
    assert (
        err.line == _plan_line(text)
        and err.col == text.splitlines()[err.line - 1].index("drivr") + 1
    )
    assert "unknown field 'drivr' in plan" in err.message
    assert "Did you mean 'driver'?" in err.message


@pytest.mark.parametrize(
    "plan",
    [
        "plan: {kind: needle_tissue, entry: 5}",
        "plan: {kind: needle_tissue, driver: [1]}",
        "plan: {kind: needle_tissue, exit: true}",
        "plan: {kind: needle_tissue, entry: ''}",
    ],
)
def test_plan_fields_of_the_wrong_type_are_errors(plan):
    err = _refused(_with_plan(plan))
    assert err.message.startswith("plan.")


def test_a_field_the_kind_does_not_read_is_an_error():
    """``ring_walk`` reads no ``driver``: accepted before, and ignored."""
    text = _with_plan("plan: {kind: ring_walk, driver: PSM1}", RW)
    err = _refused(text, "rw.yaml")
    assert err.line == _plan_line(text)
    assert "unknown field 'driver' in plan: it is a field of a plan of kind" in err.message
    assert "this one is kind 'ring_walk'" in err.message
    assert err.message.endswith("The fields of plan are ['kind'].")


def test_a_driver_without_jaws_is_refused():
    """``driver: ECM`` ran, grasped nothing and stored a failed attempt."""
    text = _with_plan("plan: {kind: needle_tissue, driver: ECM}")
    err = _refused(text)
    assert err.line == _plan_line(text)
    assert "plan.driver:" in err.message and "'ECM' is an ECM, which has no jaws" in err.message
    assert "driven instruments are ['PSM1', 'PSM2']" in err.message


def test_a_plan_without_a_kind_names_the_kinds():
    err = _refused(_with_plan("plan: {}"))
    assert "missing required field 'plan.kind'" in err.message
    assert str(list(PLAN_KINDS)) in err.message


def test_an_unknown_kind_is_an_error_with_the_closest():
    err = _refused(_with_plan("plan: {kind: needle_tisue}"))
    assert "unknown kind 'needle_tisue'" in err.message
    assert "Did you mean 'needle_tissue'?" in err.message


def test_a_two_handed_plan_on_a_one_instrument_scene_is_refused_at_validation():
    """``w/nt_onepsm.yaml``: the run said "drive every hand the scenario maps (no --name,
    no --map DEVICE=none)", options ``surgisim run`` does not have."""
    start = NT.index("    - name: PSM1")
    end = NT.index("    - name:", start + 1)
    text = (NT[:start] + NT[end:]).replace("by: PSM1", "by: PSM2")
    err = _refused(text)
    assert err.line == _plan_line(text)
    assert "the needle_tissue plan drives 2 instruments" in err.message
    assert "the scenario maps 1 (PSM2)" in err.message and "--name" not in err.message


def test_every_plan_kind_has_a_plan():
    from sim.session.plans import PLANS

    assert sorted(PLANS) == list(PLAN_KINDS)
