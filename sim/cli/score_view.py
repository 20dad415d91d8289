"""The score on the terminal: the metric table (readable names, units, direction, how
each metric counts, its effect on the score) and the arithmetic under it, shared by
``run``, ``serve`` and ``rescore``."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def score_table(result, title: str) -> Table:
    """The per-metric table of a :class:`~scenarios.scoring.ScoreResult`, risk and
    safety first. A benchmark says whether it is published expert data or a parameter,
    from the rubric's flag the result carries (``MetricScore.benchmark_published``); a
    result stored before it was kept says neither, and claims no expert."""
    from scenarios.explain import contribution, how_it_counts, value_text
    from scenarios.glossary import GROUP_TITLES, info, ordered

    table = Table(title=title)
    for col in ("metric", "value", "better", "how it counts", "pass mark", "effect"):
        table.add_column(col)
    for group in ("safety", "efficiency"):
        members = [result.metrics[n] for n in ordered(result.metrics)]
        members = [m for m in members if m.group == group]
        if not members:
            continue
        table.add_section()
        table.add_row(f"[bold]{GROUP_TITLES[group]}[/bold]")
        for m in members:
            table.add_row(
                escape(info(m.name).label),
                "does not apply" if m.value is None else escape(value_text(m)),
                "higher" if m.higher_is_better else "lower",
                escape(how_it_counts(m, published=m.benchmark_published)),
                _pass_mark(m),
                escape(contribution(m, result)),
            )
    return table


def verdict_score(result) -> str:
    """The score for a verdict line: ``score 91.6/100 (fls, pass score 85)``; a score
    that close to its pass score gets the decimals that tell them apart."""
    from scenarios.scoring import pass_score_text

    mark = result.pass_score
    beside = "" if mark is None else f", pass score {pass_score_text(mark, result.score)}"
    return f"score {result.score_text()}/100 ({result.rule}{beside})"


def _pass_mark(m) -> str:
    """The pass mark and the verdict on it in one cell (``≤ 0 pass``), so that no column
    stays empty for the many metrics that are only reported; a metric that does not apply
    keeps the mark the rubric set."""
    from scenarios.glossary import with_unit

    if m.threshold is None:
        return ""
    mark = ("≥ " if m.higher_is_better else "≤ ") + escape(with_unit(m.name, m.threshold))
    return mark + {True: " pass", False: " [red]FAIL[/red]", None: ""}[m.passed]


def print_score(console: Console, result, title: str) -> None:
    """The table, then how the score was computed, line by line."""
    from scenarios.explain import explain

    console.print(score_table(result, title))
    explanation = explain(result)
    if explanation is None:
        for reason in result.reasons:
            console.print(f"- {escape(reason)}")
        return
    console.print(escape(explanation.rule_line))
    for line in explanation.metric_lines:
        console.print(f"  {escape(line)}")
    console.print(f"  [bold]{escape(explanation.formula)}[/bold]")
    console.print(escape(explanation.outcome))
