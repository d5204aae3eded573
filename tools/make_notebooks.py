"""Regenerate notebooks/*.ipynb from the cell lists below (outputs stripped).

The notebooks are the source users open in Jupyter; this script keeps their
shared parts (front matter, kernel, setup) identical. Run: python tools/make_notebooks.py
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from rfa.metrics.uncertainty import MIN_N as DEFAULT_MIN_N

KERNEL = "resolutionflow-analytics"
ROOT = Path(__file__).resolve().parents[1]


def front_matter(title: str) -> str:
    """The raw front-matter cell: Quarto's ``format: dashboard`` with ``theme: default``
    (Bootstrap's own fonts: no web-font ``@import``, nothing fetched), one embedded file."""
    return f"""---
title: {json.dumps(title, ensure_ascii=False)}
format:
  dashboard:
    orientation: rows
    scrolling: true
    embed-resources: true
    html-math-method: plain
    nav-buttons: []
    theme: default
execute:
  echo: false
jupyter: {KERNEL}
---"""


def params(lines: list[str]) -> nbformat.NotebookNode:
    cell = new_code_cell(
        "# Parameters — papermill injects scheduled values in a cell below this one.\n"
        "# The database URL is never a parameter: it comes from RFA_DATABASE_URL.\n"
        + "\n".join(lines)
    )
    cell.metadata["tags"] = ["parameters"]
    return cell


def kpibox(title: str, key: str, icon: str, color: str) -> nbformat.NotebookNode:
    """A value box of one KPI: value ± margin, ▲/▼ only for a significant change."""
    return new_code_cell(
        f'#| content: valuebox\n#| title: "{title}"\n'
        f'present.kpi_box(k.get("{key}"), icon="{icon}", color="{color}")'
    )


def honesty(rates: bool = True) -> list[nbformat.NotebookNode]:
    """The row under the value boxes: every KPI with n, interval, previous window and
    verdict, and (pages with rates) both windows' rates with 95% error bars."""
    cells = [row(), card("How sure are these numbers?", "HTML(present.kpi_html(page))")]
    if rates:
        cells.append(
            card(
                "Rates: this window and the previous one (95% intervals)",
                "charts.kpi_changes(page.kpis)",
            )
        )
    return cells


def card(title: str, body: str) -> nbformat.NotebookNode:
    """A titled card. ``#|`` options are YAML: the title is written as a double-quoted
    scalar (JSON), so a title holding ``: ``, quotes or ``#`` stays one plain string."""
    return new_code_cell(f"#| title: {json.dumps(title, ensure_ascii=False)}\n{body}")


def row(height: str | None = None) -> nbformat.NotebookNode:
    return new_markdown_cell(f"## Row {{height={height}}}" if height else "## Row")


COMMON = [
    'account: str = ""  # account slug or id; empty means the first account (demo use)',
    'period: str = "30d"  # 7d, 30d, 90d, or YYYY-MM-DD..YYYY-MM-DD (local dates, inclusive)',
    'as_of: str = ""  # end of the window: ISO date or datetime (UTC); empty means now',
]
DATA = 'data_file: str = ""  # path of the JSON data file to write; empty means none'
MIN_N = f"min_n: int = {DEFAULT_MIN_N}  # below this many observations a figure is 'few sessions'"


def setup(loader: str, summary: str = "s = page.summary") -> nbformat.NotebookNode:
    return new_code_cell(
        "from IPython.display import HTML, Markdown\n\n"
        "from rfa import charts, dashboards, present\n"
        "from rfa.metrics.kpi import by_key\n\n"
        "charts.use_theme()\n"
        f"page = {loader}\n"
        "_ = dashboards.write_data_file(page, data_file)\n"
        f"{summary}\n"
        "k = by_key(page.kpis)\n"
        "tz = page.meta.account.timezone"
    )


GAP_THRESHOLDS = [
    "min_sessions: int = 10  # AI sessions needed before a domain or flow gap is claimed",
    "min_escalation_rate: float = 0.40  # domain escalation rate at or above this is a gap",
    "max_guided_rate: float = 0.30  # domain guided-tier share at or below this is a gap",
    "min_discovery_share: float = 0.30  # domain discovery-tier share at or above this",
    "min_option_sessions: int = 8  # ended sessions needed before a flow option gap is claimed",
    "min_option_bad_outcome_rate: float = 0.50  # option escalated or unresolved share",
]


def kpis(extra: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    return [
        row("15%"),
        kpibox("Sessions", "total_sessions", "people", "primary"),
        kpibox("Completion rate", "completion_rate", "check2-circle", "success"),
        kpibox("Median duration", "median_duration_minutes", "stopwatch", "info"),
        kpibox("p90 duration", "p90_duration_minutes", "hourglass-split", "info"),
        row("15%"),
        kpibox("Average CSAT", "avg_csat", "star", "warning"),
        kpibox("CSAT score (4–5)", "csat_score", "emoji-smile", "warning"),
        *extra,
        *honesty(),
    ]


ABOUT = card("About these numbers and glossary", "Markdown(present.about(page))")
PER_DAY = [
    row(),
    card("Sessions per day by outcome", "charts.outcomes_per_day(page.time_series)"),
    row(),
    card(
        "How long completed sessions took",
        "charts.duration_distribution(page.duration_distribution)",
    ),
]
MIX = card("Outcome mix of completed sessions", "charts.outcome_donut(s)")


def notebook(title: str, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_raw_cell(front_matter(title)), *cells])
    nb.metadata = {
        "kernelspec": {
            "name": KERNEL,
            "display_name": "ResolutionFlow Analytics",
            "language": "python",
        },
        "language_info": {"name": "python"},
    }
    return nb


NOTEBOOKS = {
    "team_analytics": notebook(
        "Team analytics",
        [
            params([*COMMON, MIN_N, DATA]),
            setup("dashboards.team_page(account, period, as_of, min_n)"),
            *kpis([kpibox("Active engineers", "active_engineers", "person-badge", "secondary")]),
            *PER_DAY,
            row(),
            card(
                "Top flows",
                'HTML(present.html_table(present.ranked_table(page.top_flows, "Flow")))',
            ),
            card(
                "Top engineers",
                'HTML(present.html_table(present.ranked_table(page.top_engineers, "Engineer")))',
            ),
            row(),
            MIX,
            card("CSAT distribution", "charts.csat_distribution(page.csat)"),
            row(),
            ABOUT,
        ],
    ),
    "personal_analytics": notebook(
        "Personal analytics",
        [
            params(
                [
                    *COMMON,
                    'engineer: str = ""  # engineer id, email or name; empty means the busiest one',
                    MIN_N,
                    DATA,
                ]
            ),
            setup("dashboards.personal_page(account, engineer, period, as_of, min_n)"),
            *kpis([]),
            *PER_DAY,
            row(),
            card(
                "My top flows",
                'HTML(present.html_table(present.ranked_table(page.top_flows, "Flow")))',
            ),
            row(),
            MIX,
            card("CSAT of my sessions", "charts.csat_distribution(page.csat)"),
            row(),
            ABOUT,
        ],
    ),
    "flow_analytics": notebook(
        "Flow analytics",
        [
            params(
                [
                    *COMMON,
                    'flow: str = ""  # flow id or exact name; empty means the busiest flow',
                    "min_group_size: int = 3  # hide CSAT, comments, thumbs with fewer raters",
                    MIN_N,
                    DATA,
                ]
            ),
            setup("dashboards.flow_page(account, flow, period, as_of, min_group_size, min_n)"),
            *kpis([kpibox("Ratings", "total_ratings", "chat-square-text", "secondary")]),
            *PER_DAY,
            row(),
            card(
                "Where sessions stop, and how helpful each step is",
                "charts.step_dropoff(page.steps)",
            ),
            row(),
            card(
                "Steps (worst drop-off first)",
                "HTML(present.html_table(present.step_table(page.steps)))",
            ),
            row(),
            MIX,
            card("CSAT distribution", "charts.csat_distribution(page.csat)"),
            row(),
            card(
                "Recent comments (anonymous)",
                "HTML(present.comments_html(page))",
            ),
            row(),
            ABOUT,
        ],
    ),
    "flowpilot": notebook(
        "FlowPilot",
        [
            params([*COMMON, MIN_N, DATA]),
            setup("dashboards.flowpilot_page(account, period, as_of, min_n)"),
            row("15%"),
            kpibox("AI sessions", "ai_sessions", "robot", "primary"),
            kpibox("Resolution rate", "resolution_rate_pct", "check2-circle", "success"),
            kpibox("MTTR", "mttr_minutes", "stopwatch", "info"),
            kpibox(
                "Avg steps to resolution", "avg_steps_to_resolution", "signpost-split", "secondary"
            ),
            kpibox("Average rating", "avg_rating", "star", "warning"),
            *honesty(),
            row(),
            card("Mean time to resolution per day", "charts.mttr_trend(page.mttr_trend)"),
            row(),
            card(
                "AI sessions by problem domain", "charts.domain_outcomes(page.sessions_by_domain)"
            ),
            card(
                "Resolution by confidence tier",
                "charts.confidence_tiers(page.confidence_breakdown)",
            ),
            row(),
            card(
                "Sessions by domain",
                "HTML(present.html_table(present.domain_table(page.sessions_by_domain)))",
            ),
            card("Knowledge coverage", "Markdown(present.coverage_text(page.knowledge_coverage))"),
            row(),
            card("PSA: from AI session to time entry", "charts.psa_funnel(page.psa)"),
            card("PSA pushes and time entries", "HTML(present.psa_html(page.psa))"),
            row(),
            card("Time entries and hours logged per day", "charts.psa_daily(page.psa.daily_trend)"),
            row(),
            ABOUT,
        ],
    ),
    "coverage": notebook(
        "Coverage and flow quality",
        [
            params([*COMMON, MIN_N, DATA]),
            setup(
                "dashboards.coverage_page(account, period, as_of, min_n)",
                summary="q = page.flow_quality",
            ),
            row("15%"),
            kpibox("Flows matched", "matched_flows", "diagram-3", "primary"),
            kpibox("Domains without a flow", "uncovered_domains", "exclamation-triangle", "danger"),
            kpibox(
                "AI sessions without a domain", "unmapped_sessions", "question-circle", "secondary"
            ),
            kpibox("Flows needing attention", "flows_needing_attention", "wrench", "warning"),
            *honesty(rates=False),
            row(),
            card(
                "Coverage by problem domain",
                "HTML(present.html_table(present.coverage_table(page.coverage_by_domain.domains)))",
            ),
            row(),
            card(
                "Flow quality: uses, success and score",
                "charts.flow_quality_map(page.flow_quality.flows)",
            ),
            row(),
            card(
                "Top performers",
                "HTML(present.html_table(present.quality_table("
                "page.flow_quality.top_performers, tz), 'No flow has enough matches yet.'))",
            ),
            card(
                "Needs attention",
                "HTML(present.html_table(present.quality_table("
                "page.flow_quality.needs_attention, tz), 'No flow needs attention.'))",
            ),
            row(),
            card(
                "How the quality score is computed",
                "Markdown(present.quality_formula_text(page.flow_quality))",
            ),
            row(),
            ABOUT,
        ],
    ),
    "knowledge_gaps": notebook(
        "Knowledge gaps",
        [
            params([*COMMON, *GAP_THRESHOLDS, MIN_N, DATA]),
            setup(
                "dashboards.knowledge_gaps_page(account, period, as_of, thresholds=dict(\n"
                "    min_sessions=min_sessions, min_escalation_rate=min_escalation_rate,\n"
                "    max_guided_rate=max_guided_rate, min_discovery_share=min_discovery_share,\n"
                "    min_option_sessions=min_option_sessions,\n"
                "    min_option_bad_outcome_rate=min_option_bad_outcome_rate), min_n=min_n)",
                summary="r = page.report",
            ),
            row("15%"),
            kpibox("Gaps", "gaps", "search", "primary"),
            kpibox("High severity", "high_severity_gaps", "exclamation-octagon", "danger"),
            kpibox("Domains assessed", "domains_assessed", "grid", "info"),
            kpibox("Flow options assessed", "options_assessed", "signpost", "secondary"),
            *honesty(rates=False),
            row(),
            card(
                "Gaps, most severe first",
                "HTML(present.html_table(present.gaps_table(r.gaps), "
                "'No gap passes the thresholds in this window.'))",
            ),
            row(),
            card("Gaps by kind and severity", "charts.gaps_by_kind(r.gaps)"),
            card("What was judged", "Markdown(present.gap_scope_text(r))"),
            row(),
            ABOUT,
        ],
    ),
    "escalations": notebook(
        "Escalations",
        [
            params([*COMMON, MIN_N, DATA]),
            setup(
                "dashboards.escalations_page(account, period, as_of, min_n)",
                summary="e = page.escalations",
            ),
            row("15%"),
            kpibox("Hand-offs claimed", "n_handoffs_claimed", "person-raised-hand", "primary"),
            kpibox("Acted on after claim", "action_conversion_rate", "check2-circle", "success"),
            kpibox(
                "Median time to first action", "median_seconds_to_first_action", "stopwatch", "info"
            ),
            kpibox(
                "p95 time to first action",
                "p95_seconds_to_first_action",
                "hourglass-split",
                "warning",
            ),
            *honesty(),
            row(),
            card("What this measures", "Markdown(present.escalation_text(e, k))"),
            row(),
            card("Time from claim to first action", "charts.escalation_lag_histogram(e.histogram)"),
            row(),
            ABOUT,
        ],
    ),
}


def main() -> None:
    for name, nb in NOTEBOOKS.items():
        for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
            cell.id = f"{name.split('_')[0]}-{i:02d}"
        nbformat.validate(nb)
        nbformat.write(nb, ROOT / "notebooks" / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    main()
