"""Tenant isolation: no query without an account, and nothing of one account in another's pages.

* Every query builder of :mod:`rfa.queries` (every public ``*_query`` function, found
  automatically) takes ``account_id`` as its first, required parameter and puts an
  account filter bound to it in its WHERE clause, on PostgreSQL and on SQLite; the
  account is a bound parameter, never inlined into the SQL text.
* Property test (hypothesis) over generated demo databases and pairs of accounts
  (A, B): every page loader's result for A holds no name, id, e-mail or comment of
  B, and its numbers equal those computed on a database holding only A's rows.
* End to end: publishing one account through the CLI writes none of the other
  accounts' strings into its pages, data files, manifest, index or build logs.
"""

from __future__ import annotations

import functools
import hashlib
import html
import inspect
import json
import re
import tempfile
import typing
import uuid
from pathlib import Path
from unittest import mock

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from cli_helpers import run_rfa
from demo_db import ANCHOR
from query_builders import builders
from rfa import dashboards
from rfa.db import TABLES, ai_sessions, connect, init_db, session_ratings
from rfa.demo import generate, load
from rfa.errors import NotFoundError
from rfa.queries import accounts as aq
from rfa.window import Window, make_window

SENTINEL = "5e471e1e-a11d-4c0c-8abc-0123456789ab"
"""The account id every builder is called with: it must come back as a bound parameter."""

ACCOUNT_INDEPENDENT: dict[str, str] = {
    "rfa.queries.accounts.accounts_query": (
        "lists every account for operators (`rfa accounts`, the --demo plan, the "
        "not-found message); no page loader reads it — checked by the property test"
    ),
}
"""Builders allowed to take no account, each with the reason."""

WINDOW = make_window("30d", "2026-11-01", "UTC")


# ------------------------------------------------------------------ builders


BUILDERS = builders(qualified=True)
SCOPED = {k: v for k, v in BUILDERS.items() if k not in ACCOUNT_INDEPENDENT}


def _value(name: str, annotation: object, window: Window) -> object:
    """An argument for a builder parameter, from its name and type."""
    if annotation is Window:
        return window
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)[0]
    options = typing.get_args(annotation) or (annotation,)
    if bool in options:
        return True
    if int in options:
        return 3
    if str in options:
        return f"arg-{name}"
    raise AssertionError(f"no test value for parameter {name}: {annotation!r}; extend _value")


def _calls(fn) -> list[tuple[dict, dict]]:
    """``(required, everything)`` keyword arguments (other than ``account_id``): the
    builder called with its required arguments only, and with every optional one set."""
    hints = typing.get_type_hints(fn)
    required, everything = {}, {}
    for name, param in inspect.signature(fn).parameters.items():
        if name == "account_id":
            continue
        value = _value(name, hints.get(name), WINDOW)
        everything[name] = value
        if param.default is inspect.Parameter.empty:
            required[name] = value
    return [required, everything] if required != everything else [required]


def _compile(stmt, dialect) -> tuple[str, dict]:
    compiled = stmt.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


def test_every_builder_is_discovered():
    assert len(BUILDERS) >= 16, sorted(BUILDERS)
    for name in ("sessions_query", "ratings_query", "claimed_handoffs_query", "psa_posts_query"):
        assert any(k.endswith(f".{name}") for k in BUILDERS), name
    stale = set(ACCOUNT_INDEPENDENT) - set(BUILDERS)
    assert not stale, f"allow-list names builders that no longer exist: {stale}"


@pytest.mark.parametrize("name", sorted(SCOPED))
def test_builder_takes_the_account_first_and_required(name):
    fn = SCOPED[name]
    params = list(inspect.signature(fn).parameters.values())
    assert params, name
    first = params[0]
    assert first.name == "account_id", f"{name}: first parameter is {first.name}"
    assert first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD), name
    assert first.default is inspect.Parameter.empty, f"{name}: account_id has a default"
    for kwargs in _calls(fn):
        with pytest.raises(TypeError, match="account_id"):
            fn(**kwargs)


@pytest.mark.parametrize("name", sorted(SCOPED))
@pytest.mark.parametrize(
    ("dialect", "placeholder"),
    [(postgresql.dialect(), r"%\((\w+)\)s"), (sqlite.dialect(), r"\?")],
    ids=["postgresql", "sqlite"],
)
def test_builder_filters_on_the_bound_account(name, dialect, placeholder):
    fn = SCOPED[name]
    for kwargs in _calls(fn):
        stmt = fn(SENTINEL, **kwargs)
        sql, params = _compile(stmt, dialect)
        assert SENTINEL not in sql, f"{name}: the account is inlined into the SQL"
        assert SENTINEL in params.values(), f"{name}: the account is not a bound parameter"
        assert re.search(rf"\baccount_id = {placeholder}", sql), f"{name}: no filter\n{sql}"
        # The filter is in the statement's own WHERE clause, bound to this account.
        assert stmt.whereclause is not None, name
        where, where_params = _compile(stmt.whereclause, dialect)
        assert re.search(rf"\baccount_id = {placeholder}", where), f"{name}: {where}"
        assert SENTINEL in where_params.values(), f"{name}: {where} {where_params}"
        if dialect.name == "postgresql":  # every account_id comparison is bound to it
            keys = re.findall(r"\baccount_id = %\((\w+)\)s", sql)
            assert keys and all(params[k] == SENTINEL for k in keys), (name, keys, params)
        for other in ("account_id = '", "account_id = 0", "account_id IS NULL"):
            assert other not in sql, f"{name}: {other!r} in\n{sql}"


@pytest.mark.parametrize("name", sorted(ACCOUNT_INDEPENDENT))
def test_account_independent_builders_are_documented(name):
    fn = BUILDERS[name]
    assert "account_id" not in inspect.signature(fn).parameters
    assert ACCOUNT_INDEPENDENT[name]
    assert "operator" in (fn.__doc__ or ""), f"{name}: its docstring should say who uses it"


# ------------------------------------------------------------------ generated accounts


def _only_account(rows: dict[str, list[dict]], account_id: str) -> dict[str, list[dict]]:
    """The rows of one account: those with its ``account_id``, and rows without that
    column whose every foreign key points at a kept row (sessions → trees, …)."""
    kept: dict[str, set] = {}
    out: dict[str, list[dict]] = {}
    for table in TABLES:  # parents first
        data = rows.get(table.name, [])
        if table.name == "accounts":
            keep = [r for r in data if r["id"] == account_id]
        elif "account_id" in table.c:
            keep = [r for r in data if r.get("account_id") == account_id]
        else:
            fks = [(fk.parent.name, fk.column.table.name) for fk in table.foreign_keys]
            assert fks, f"{table.name}: neither account_id nor a foreign key; extend this test"
            keep = [
                r
                for r in data
                if all(r.get(col) is None or r[col] in kept[parent] for col, parent in fks)
            ]
        out[table.name] = keep
        kept[table.name] = {r["id"] for r in keep if "id" in r}
    return out


def _account_strings(rows: dict[str, list[dict]], account_id: str) -> set[str]:
    """Every identifying string of one account: ids, slug, name, flow names, user
    names and e-mails, rating comments, AI session and other row ids."""
    mine = _only_account(rows, account_id)
    out: set[str] = set()
    for table, data in mine.items():
        for r in data:
            if r.get("id"):
                out.add(str(r["id"]))
                out.add(uuid.UUID(str(r["id"])).hex)
            for key in ("slug", "name", "email", "comment"):
                value = r.get(key)
                if isinstance(value, str) and value.strip():
                    out.add(value.strip())
        if table == "ai_sessions":
            out |= {r["psa_ticket_id"] for r in data if r.get("psa_ticket_id")}
    return out


def _foreign(rows, a_id: str) -> set[str]:
    """Strings of every other account that account A does not also hold (and long
    enough not to occur in a page by chance)."""
    own = _account_strings(rows, a_id)
    others = set()
    for acc in rows["accounts"]:
        if acc["id"] != a_id:
            others |= _account_strings(rows, acc["id"])
    return {s for s in others - own if len(s) >= 6}


_WORKDIR = Path(tempfile.mkdtemp(prefix="rfa-isolation-"))


@functools.cache
def _world(seed: int) -> tuple[dict[str, list[dict]], str]:
    """Generated rows for ``seed`` (3 accounts) loaded into a fresh SQLite database."""
    rows = generate(seed=seed, scale=0.02, anchor=ANCHOR)
    path = _WORKDIR / f"all-{seed}.sqlite"
    url = f"sqlite:///{path}"
    init_db(url)
    load(url, rows)
    return rows, url


@functools.cache
def _alone(seed: int, account_id: str) -> str:
    """A database holding only ``account_id``'s rows of the world ``seed``."""
    rows, _ = _world(seed)
    path = _WORKDIR / f"only-{seed}-{account_id}.sqlite"
    url = f"sqlite:///{path}"
    init_db(url)
    load(url, _only_account(rows, account_id))
    return url


def _pages(slug: str, period: str, url: str, flow: str, engineer: str) -> dict[str, dict]:
    """Every page loader's result for the account, as JSON data (``generated_at`` removed)."""
    as_of = ANCHOR.isoformat()
    pages = {
        "team": dashboards.team_page(slug, period, as_of, url=url),
        "personal": dashboards.personal_page(slug, "", period, as_of, url=url),
        "personal-drawn": dashboards.personal_page(slug, engineer, period, as_of, url=url),
        "flow": dashboards.flow_page(slug, "", period, as_of, url=url),
        "flow-drawn": dashboards.flow_page(slug, flow, period, as_of, url=url),
        "flowpilot": dashboards.flowpilot_page(slug, period, as_of, url=url),
        "coverage": dashboards.coverage_page(slug, period, as_of, url=url),
        "knowledge_gaps": dashboards.knowledge_gaps_page(slug, period, as_of, url=url),
        "escalations": dashboards.escalations_page(slug, period, as_of, url=url),
    }
    out = {}
    for name, page in pages.items():
        data = json.loads(page.model_dump_json())
        data["meta"].pop("generated_at")
        out[name] = data
    return out


def _leaks(text: str, foreign: set[str]) -> list[str]:
    """The strings of ``foreign`` found in ``text`` as they are, JSON- or HTML-escaped."""

    def forms(value: str) -> set[str]:
        return {value, json.dumps(value)[1:-1], html.escape(value), html.escape(value, False)}

    return sorted(f for f in foreign if any(form in text for form in forms(f)))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    pair=st.permutations(range(3)).map(lambda p: p[:2]),
    period=st.sampled_from(["7d", "30d", "90d"]),
    data=st.data(),
)
def test_no_row_of_another_account_reaches_a_page(seed, pair, period, data):
    rows, url = _world(seed)
    a, b = (rows["accounts"][i] for i in pair)
    users = [u for u in rows["users"] if u["account_id"] == a["id"]]
    runners = {s["user_id"] for s in rows["sessions"]}
    flows = [t for t in rows["trees"] if t["account_id"] == a["id"]]
    engineer = data.draw(st.sampled_from([u for u in users if u["id"] in runners]), "engineer")
    flow = data.draw(st.sampled_from(flows), "flow")
    engineer_key = data.draw(st.sampled_from([engineer["id"], engineer["email"]]), "by")
    flow_key = data.draw(st.sampled_from([flow["id"], flow["name"]]), "flow by")

    real_accounts_query = aq.accounts_query
    with mock.patch.object(aq, "accounts_query", side_effect=real_accounts_query) as listing:
        pages = _pages(a["slug"], period, url, flow_key, engineer_key)
    assert listing.call_count == 0, "a page loader read the operator-only account list"

    foreign = _foreign(rows, a["id"])
    assert any(b["name"] in f for f in foreign) and b["id"] in foreign
    for name, page in pages.items():
        leaked = _leaks(json.dumps(page, ensure_ascii=False), foreign)
        assert not leaked, f"{a['slug']} {name} page holds another account's {leaked[:5]}"
        assert page["meta"]["account"]["id"] == a["id"]

    # The same numbers from a database that holds nothing but A's rows.
    alone = _pages(a["slug"], period, _alone(seed, a["id"]), flow_key, engineer_key)
    for name in pages:
        assert pages[name] == alone[name], f"{a['slug']} {name}: other accounts' rows counted"

    # Asking A's pages for B's flow or engineer (by id, name or e-mail) finds nothing
    # and the refusal says nothing about B.
    b_flow = data.draw(st.sampled_from([t for t in rows["trees"] if t["account_id"] == b["id"]]))
    b_user = data.draw(st.sampled_from([u for u in rows["users"] if u["account_id"] == b["id"]]))
    as_of = ANCHOR.isoformat()
    asked = [
        (dashboards.flow_page, b_flow["id"]),
        (dashboards.flow_page, b_flow["name"]),
        (dashboards.personal_page, b_user["id"]),
        (dashboards.personal_page, b_user["email"]),
    ]
    for loader, key in asked:
        with pytest.raises(NotFoundError) as caught:
            loader(a["slug"], key, period, as_of, url=url)
        message = str(caught.value).replace(repr(key), "")
        assert not _leaks(message, foreign - {key}), message


# ------------------------------------------------------------------ end to end


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _demo_strings(url: str) -> dict[str, set[str]]:
    """Per account slug: its id, slug, name, flow ids and names, user ids, names and
    e-mails, rating comments and AI session ids, read from the database."""
    out: dict[str, set[str]] = {}
    with connect(url) as conn:
        for acc in aq.list_accounts(conn).iter_rows(named=True):
            own = {acc["account_id"], acc["slug"], acc["name"]}
            flows = aq.list_flows(conn, acc["account_id"])
            users = aq.list_users(conn, acc["account_id"])
            own |= set(flows["tree_id"]) | set(flows["name"])
            own |= set(users["user_id"]) | {v for v in users["name"] if v}
            own |= {v for v in users["email"] if v}
            r = session_ratings.c
            own |= {
                c.strip()
                for (c,) in conn.execute(
                    sa.select(r.comment).where(r.account_id == acc["account_id"])
                )
                if c and c.strip()
            }
            ai = ai_sessions.c
            own |= {
                str(i)
                for (i,) in conn.execute(sa.select(ai.id).where(ai.account_id == acc["account_id"]))
            }
            out[acc["slug"]] = {str(s) for s in own}
    return out


@pytest.mark.slow
def test_publishing_one_account_writes_nothing_of_the_others(tmp_path, demo_sqlite_url):
    database = Path(sa.engine.make_url(demo_sqlite_url).database)
    before = _checksum(database)
    strings = _demo_strings(demo_sqlite_url)
    account = "kiwi-tech"
    foreign = set().union(*(s for slug, s in strings.items() if slug != account))
    foreign = {f for f in foreign - strings[account] if len(f) >= 6}
    foreign |= {uuid.UUID(f).hex for f in foreign if re.fullmatch(r"[0-9a-f-]{36}", f)}
    publish_dir, build_dir = tmp_path / "published", tmp_path / "build"
    result = run_rfa(
        [
            "publish",
            "--account",
            account,
            "-d",
            "team",
            "-d",
            "flow",
            "--workers",
            "2",
            "--as-of",
            ANCHOR.isoformat(),
        ],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=build_dir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _checksum(database) == before

    manifest = json.loads((publish_dir / "manifest.json").read_text())
    assert {r["account_slug"] for r in manifest} == {account}
    assert sorted(r["dashboard"] for r in manifest).count("flow") >= 1
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".html", ".json", ".log", ".ipynb"} <= kinds, kinds
    assert (publish_dir / "index.html") in files and (publish_dir / "manifest.json") in files
    for path in files:
        text = path.read_text(errors="replace")
        leaked = _leaks(text, foreign)
        assert not leaked, f"{path.relative_to(tmp_path)}: {leaked[:5]}"
    assert not _leaks(result.stdout + result.stderr, foreign)


# ------------------------------------------------- another account's flow (issue 16 §11)


def test_ai_sessions_pointing_at_another_accounts_flow_leak_no_id(tmp_path):
    """Six AI sessions of account A matched to account B's flow: no page or data file of
    A holds B's flow id (it was first among top performers as 'Unknown flow'); the rows
    are counted as the ``ai_unknown_flow`` finding and still count as sessions."""
    from factories_db import TinyDB

    tiny = TinyDB(tmp_path / "two.sqlite")
    a, b = tiny.account("acct-a"), tiny.account("acct-b")
    own = tiny.flow(a, "a-own-flow")
    foreign = tiny.flow(b, "b-secret-flow")
    for i in range(6):
        tiny.ai_session(a, f"a-foreign-{i}", f"2026-11-1{i} 10:00", flow=foreign)
    tiny.ai_session(a, "a-own-0", "2026-11-10 11:00", flow=own)
    as_of = "2026-11-20"
    for loader in (dashboards.coverage_page, dashboards.flowpilot_page):
        page = loader("acct-a", "30d", as_of, url=tiny.url)
        text = page.model_dump_json()
        assert foreign not in text and uuid.UUID(foreign).hex not in text
        assert "b-secret-flow" not in text
        found = {f.check: f.count for f in page.data_quality}
        assert found.get("ai_unknown_flow") == 6, found
        assert page.knowledge_coverage.total_flows == 1
    coverage = dashboards.coverage_page("acct-a", "30d", as_of, url=tiny.url)
    assert [r.flow_id for r in coverage.flow_quality.flows] == [own]
    assert coverage.coverage_by_domain.domains[0].session_count == 7  # still sessions
    assert coverage.coverage_by_domain.domains[0].flow_count == 1
    gaps = dashboards.knowledge_gaps_page("acct-a", "30d", as_of, url=tiny.url)
    assert foreign not in gaps.model_dump_json()
