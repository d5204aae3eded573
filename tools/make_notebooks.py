"""Regenerate notebooks/*.ipynb from the cell lists below (outputs stripped).

The notebooks are the source users open in Jupyter; this script keeps their
shared parts (front matter, kernel, setup) identical. Run: python tools/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

KERNEL = "resolutionflow-analytics"
ROOT = Path(__file__).resolve().parents[1]


def front_matter(title: str) -> str:
    return f"""---
title: "{title}"
format:
  dashboard:
    orientation: rows
    scrolling: true
    embed-resources: true
    html-math-method: plain
    nav-buttons: []
    theme: cosmo
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


def valuebox(title: str, icon: str, color: str, value: str) -> nbformat.NotebookNode:
    return new_code_cell(
        f'#| content: valuebox\n#| title: "{title}"\n'
        f'present.valuebox({value}, icon="{icon}", color="{color}")'
    )


def card(title: str, body: str) -> nbformat.NotebookNode:
    return new_code_cell(f"#| title: {title}\n{body}")


def row(height: str | None = None) -> nbformat.NotebookNode:
    return new_markdown_cell(f"## Row {{height={height}}}" if height else "## Row")


COMMON = [
    'account: str = "northwind-it"  # account slug or id',
    'period: str = "30d"  # 7d, 30d, 90d, or YYYY-MM-DD..YYYY-MM-DD (local dates, inclusive)',
    'as_of: str = ""  # end of the window: ISO date or datetime (UTC); empty means now',
]
DATA = 'data_file: str = ""  # path of the JSON data file to write; empty means none'


def setup(loader: str) -> nbformat.NotebookNode:
    return new_code_cell(
        "from IPython.display import HTML, Markdown\n\n"
        "from rfa import charts, dashboards, present\n\n"
        "charts.use_theme()\n"
        f"page = {loader}\n"
        "_ = dashboards.write_data_file(page, data_file)\n"
        "s, tz = page.summary, page.meta.account.timezone"
    )


def kpis(extra: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    return [
        row("15%"),
        valuebox("Sessions", "people", "primary", "present.fmt_int(s.total_sessions)"),
        valuebox(
            "Completion rate", "check2-circle", "success", "present.fmt_pct(s.completion_rate)"
        ),
        valuebox(
            "Median duration", "stopwatch", "info", "present.fmt_minutes(s.median_duration_minutes)"
        ),
        valuebox("Average CSAT", "star", "warning", "present.fmt_csat(page.csat.avg_csat)"),
        *extra,
    ]


ABOUT = card(
    "About these numbers",
    "Markdown(present.about_text(page.meta, present.data_quality_text(page.data_quality)))",
)
PER_DAY = [row(), card("Sessions per day by outcome", "charts.outcomes_per_day(page.time_series)")]
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
            params([*COMMON, DATA]),
            setup("dashboards.team_page(account, period, as_of)"),
            *kpis(
                [
                    valuebox(
                        "Active engineers",
                        "person-badge",
                        "secondary",
                        "present.fmt_int(s.active_engineers)",
                    )
                ]
            ),
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
                    DATA,
                ]
            ),
            setup("dashboards.personal_page(account, engineer, period, as_of)"),
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
                    DATA,
                ]
            ),
            setup("dashboards.flow_page(account, flow, period, as_of)"),
            *kpis(
                [
                    valuebox(
                        "Ratings",
                        "chat-square-text",
                        "secondary",
                        "present.fmt_int(page.csat.total_ratings)",
                    )
                ]
            ),
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
                "HTML(present.html_table(present.comments_table(page.recent_comments, tz), "
                '"No comments in this window."))',
            ),
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
