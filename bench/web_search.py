"""Benchmark: searching 100,000 records on PostgreSQL, each filter alone and combined, against plain SQL (the peer).

    .venv/bin/python bench/web_search.py postgresql+psycopg://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/web_search.py URL --records 20000 --rounds 3 --repeats 10   # a quicker look

Creates (and drops) a database `evault_bench_search` on that server and a throwaway vault home, bulk-loads the
records with COPY (cases, parties with encrypted ID numbers, handlers, two handlers and some flags per record),
then times one page (50 records, with the total count) of `vault.evidence.search.search_evidence` for each filter
as a reviewer, and the same filter as one hand-written SQL statement plus its count (the peer: no ORM, no eager
loading). Service and peer alternate within each round; rounds repeat the whole set. Prints per filter the p50 and
p95 over every run, the spread of the round medians, the peer's p50 and the ratio, then peak RSS. Target: p95
under 150 ms, server side.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from evault.app import create_app
from evault.setup import initialise, open_vault
from vault.cases.service import id_number_digest
from vault.config import Settings
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.models import Confidentiality
from vault.evidence.search import EvidenceQuery, SortKey, SortOrder, search_evidence
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import Role, User
from vault.identities.service import create_user
from vault.identities.sign_in import SESSION_COOKIE, start_web_session
from vault.keys import DataCipher
from vault.logging import configure_logging

DATABASE = "evault_bench_search"
TARGET_P95 = 0.150
START = datetime(2024, 1, 1, tzinfo=UTC)
ACTIVITIES = ("inspection", "questioning", "seizure", "hearing", "service", "coercion")
FLAGS = ("late_upload", "party_not_informed", "recording_gap", "fewer_than_two_officers")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


@dataclass(frozen=True)
class Seeded:
    """What the load made, and values of it to search for."""

    case_number: str
    party_name: str
    party_id_number: str
    handler_name: str
    handler_certificate: str
    recorder: str
    officer_id: uuid.UUID


def _fresh_database(url: str) -> str:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return make_url(url).set(database=DATABASE).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def _id_number(rng: random.Random) -> str:
    return f"3412{rng.randint(10, 99)}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" \
           f"{rng.randint(0, 999):03d}{rng.choice('0123456789X')}"


def _copy(cursor: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _people(cursor: Any, rng: random.Random, cipher: DataCipher, records: int) -> tuple[list[Any], ...]:
    officers = [uuid.uuid4() for _ in range(60)]
    _copy(cursor, "COPY users (id, name, display_name, role, active, created_at) FROM STDIN",
          [(o, f"officer-{n}", "", "officer", True, START) for n, o in enumerate(officers)])
    handlers = [(uuid.uuid4(), f"140102{19000 + n}", _person_name(rng)) for n in range(150)]
    _copy(cursor, "COPY handlers (id, certificate_number, name, unit, category, valid_from, valid_until, status, "
          "created_at) FROM STDIN", [(h, c, name, "阜阳市应急管理局", "", START.date(), START.date().replace(
              year=2030), "valid", START) for h, c, name in handlers])
    cases = [(uuid.uuid4(), f"阜应急罚字〔{2020 + n % 6}〕{n}号") for n in range(max(records // 12, 10))]
    _copy(cursor, "COPY cases (id, case_number, case_type, title, status, opened_at, created_at) FROM STDIN",
          [(c, number, "general_procedure_penalty", "", "open", START, START) for c, number in cases])
    parties = []
    for n in range(max(records // 12, 10)):
        number = _id_number(rng)
        parties.append((uuid.uuid4(), f"{_person_name(rng)}{n}", number))
    _copy(cursor, "COPY parties (id, kind, name, legal_representative, id_number_enc, id_number_digest, created_at) "
          "FROM STDIN", [(p, "person", name, "", cipher.encrypt(number), id_number_digest(cipher, number), START)
                         for p, name, number in parties])
    return officers, handlers, cases, parties


def _load(context: VaultContext, records: int) -> Seeded:
    """Bulk-load the catalog with COPY; return values to search for."""
    rng = random.Random(20250331)
    raw = context.engine.raw_connection()
    try:
        cursor = raw.cursor()
        officers, handlers, cases, parties = _people(cursor, rng, context.cipher, records)
        evidence, links, flags = [], [], []
        for n in range(records):
            uploaded = START + timedelta(seconds=rng.randint(0, 730 * 86400))
            captured = uploaded - timedelta(hours=rng.randint(1, 20))
            confidentiality = "personal_privacy" if rng.random() < 0.03 else "none"
            evidence_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            evidence.append((
                evidence_id, f"{n:064x}", rng.randint(1_000_000, 2_000_000_000), "video/mp4", f"{n}.mp4", "local",
                f"{n:064x}", "1", uploaded + timedelta(days=1825), rng.choice(officers), uploaded, False,
                confidentiality, "", "{}", "stored", captured, captured + timedelta(minutes=rng.randint(1, 30)),
                f"DSJ-{rng.randint(0, 799):04d}", rng.choice(cases)[0] if rng.random() < 0.8 else None,
                rng.choice(parties)[0] if rng.random() < 0.7 else None, rng.choice(ACTIVITIES)))
            links.extend({(evidence_id, h[0]) for h in rng.sample(handlers, 2)})
            if rng.random() < 0.1:
                flags.append((evidence_id, rng.choice(FLAGS), "", "", "{}", uploaded,
                              uploaded + timedelta(days=3) if rng.random() < 0.2 else None))
        _copy(cursor, "COPY evidence (id, sha256, size, media_type, original_name, storage_backend, storage_key, "
              "version_id, store_retain_until, uploader_id, uploaded_at, party_informed, confidentiality, notes, "
              "media_info, status, capture_start, capture_end, recorder_serial, case_id, party_id, activity) "
              "FROM STDIN", evidence)
        _copy(cursor, "COPY evidence_handlers (evidence_id, handler_id) FROM STDIN", links)
        _copy(cursor, "COPY evidence_flags (evidence_id, flag, detail, code, facts, raised_at, cleared_at) FROM STDIN",
              flags)
        raw.commit()
        raw.driver_connection.autocommit = True  # VACUUM: the steady state autovacuum keeps (statistics, visibility)
        for table in ("evidence", "evidence_handlers", "evidence_flags", "parties", "handlers", "cases"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    finally:
        raw.close()
    case_number = cases[7][1].replace("〔", "[").replace("〕", "]")  # people type square brackets
    return Seeded(case_number=case_number, party_name=parties[17][1], party_id_number=parties[17][2],
                  handler_name=handlers[3][2], handler_certificate=handlers[5][1], recorder="DSJ-0042",
                  officer_id=officers[0])


@dataclass(frozen=True)
class Case:
    """One filter: the service query and the peer's WHERE clause with its parameters."""

    name: str
    query: EvidenceQuery
    where: str
    params: dict[str, Any]
    form: dict[str, str]  # the same search as the search page's form sends it
    order: str = "e.uploaded_at DESC"


def _cases(seeded: Seeded, cipher: DataCipher) -> list[Case]:
    month = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    week = (datetime(2024, 6, 3, tzinfo=UTC), datetime(2024, 6, 10, tzinfo=UTC))
    year = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    handler_ids = ("e.id IN (SELECT evidence_id FROM evidence_handlers WHERE handler_id IN "
                   "(SELECT id FROM handlers WHERE certificate_number = :h OR name LIKE :hl))")
    open_flag = "e.id IN (SELECT evidence_id FROM evidence_flags WHERE cleared_at IS NULL AND flag = :f)"
    return [
        Case("no filter (newest uploads)", EvidenceQuery(), "true", {}, {}),
        Case("case number ([] variant)", EvidenceQuery(case_number=seeded.case_number),
             "e.case_id = (SELECT id FROM cases WHERE case_number = :c)",
             {"c": seeded.case_number.replace("[", "〔").replace("]", "〕")}, {"case_number": seeded.case_number}),
        Case("party name", EvidenceQuery(party=seeded.party_name),
             "e.party_id IN (SELECT id FROM parties WHERE name LIKE :p)", {"p": f"%{seeded.party_name}%"},
             {"party": seeded.party_name}),
        Case("party ID number", EvidenceQuery(party=seeded.party_id_number),
             "e.party_id IN (SELECT id FROM parties WHERE id_number_digest = :d)",
             {"d": id_number_digest(cipher, seeded.party_id_number)}, {"party": seeded.party_id_number}),
        Case("handler name", EvidenceQuery(handler=seeded.handler_name), handler_ids,
             {"h": seeded.handler_name, "hl": f"%{seeded.handler_name}%"}, {"handler": seeded.handler_name}),
        Case("handler certificate", EvidenceQuery(handler=seeded.handler_certificate), handler_ids,
             {"h": seeded.handler_certificate, "hl": f"%{seeded.handler_certificate}%"},
             {"handler": seeded.handler_certificate}),
        Case("recorder serial", EvidenceQuery(recorder_serial=seeded.recorder), "e.recorder_serial = :r",
             {"r": seeded.recorder}, {"recorder_serial": seeded.recorder}),
        Case("capture range (1 month)", EvidenceQuery(captured_from=month[0], captured_to=month[1]),
             "e.capture_start >= :a AND e.capture_start < :b", {"a": month[0], "b": month[1]},
             {"captured_from": "2025-03-01", "captured_to": "2025-03-31"}),
        Case("upload range (1 week)", EvidenceQuery(uploaded_from=week[0], uploaded_to=week[1]),
             "e.uploaded_at >= :a AND e.uploaded_at < :b", {"a": week[0], "b": week[1]},
             {"uploaded_from": "2024-06-03", "uploaded_to": "2024-06-09"}),
        Case("activity", EvidenceQuery(activity="questioning"), "e.activity = :v", {"v": "questioning"},
             {"activity": "questioning"}),
        Case("flag (open)", EvidenceQuery(flags=("recording_gap",)), open_flag, {"f": "recording_gap"},
             {"flag": "recording_gap"}),
        Case("confidentiality", EvidenceQuery(confidentiality=Confidentiality.PERSONAL_PRIVACY),
             "e.confidentiality = :v", {"v": "personal_privacy"}, {"confidentiality": "personal_privacy"}),
        Case("sorted by case number", EvidenceQuery(sort=SortKey.CASE_NUMBER, order=SortOrder.ASC), "true", {},
             {"sort": "case_number", "order": "asc"},
             order="(SELECT case_number FROM cases WHERE id = e.case_id) ASC NULLS LAST"),
        Case("combined: handler + activity + capture range + flag",
             EvidenceQuery(handler=seeded.handler_name, activity="inspection", captured_from=year[0],
                           captured_to=year[1], flagged=True),
             f"{handler_ids} AND e.activity = :v AND e.capture_start >= :a AND e.capture_start < :b AND e.id IN "  # noqa: S608
             "(SELECT evidence_id FROM evidence_flags WHERE cleared_at IS NULL)",
             {"h": seeded.handler_name, "hl": f"%{seeded.handler_name}%", "v": "inspection", "a": year[0],
              "b": year[1]},
             {"handler": seeded.handler_name, "activity": "inspection", "captured_from": "2024-01-01",
              "captured_to": "2024-12-31", "flag": "any"}),
    ]


def _service_run(context: VaultContext, actor: Actor, case: Case) -> Callable[[], int]:
    def run() -> int:
        with context.sessions() as session:
            return search_evidence(session=session, actor=actor, query=case.query, cipher=context.cipher).total
    return run


def _peer_run(context: VaultContext, case: Case) -> Callable[[], int]:
    # The clauses are this file's own constants, never input.
    rows = text(f"SELECT e.* FROM evidence e WHERE {case.where} ORDER BY {case.order}, e.id LIMIT 50")  # noqa: S608
    count = text(f"SELECT count(*) FROM evidence e WHERE {case.where}")  # noqa: S608

    def run() -> int:
        with Session(context.engine) as session:
            session.execute(rows, case.params).all()
            return int(session.execute(count, case.params).scalar_one())
    return run


def _timed(run: Callable[[], int]) -> tuple[float, int]:
    began = time.perf_counter()
    total = run()
    return time.perf_counter() - began, total


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _measure(context: VaultContext, actor: Actor, cases: list[Case], rounds: int, repeats: int) -> None:
    runs = {c.name: (_service_run(context, actor, c), _peer_run(context, c)) for c in cases}
    samples: dict[str, tuple[list[float], list[float], list[float]]] = {c.name: ([], [], []) for c in cases}
    totals: dict[str, int] = {}
    for name, (service, peer) in runs.items():  # warm both: plans, caches, connections
        totals[name], peer_total = service(), peer()
        assert totals[name] == peer_total, (name, totals[name], peer_total)
    for round_number in range(rounds):
        for name, (service, peer) in runs.items():
            mine, theirs = [], []
            for n in range(repeats):  # alternate which goes first, so neither always meets a warmer cache
                pair = (service, peer) if (n + round_number) % 2 == 0 else (peer, service)
                for run in pair:
                    (mine if run is service else theirs).append(_timed(run)[0])
            samples[name][0].extend(mine)
            samples[name][1].extend(theirs)
            samples[name][2].append(statistics.median(mine))
    print(f"{'filter':<52} {'matches':>8} {'p50 ms':>7} {'p95 ms':>7} {'spread':>7} {'peer p50':>8} {'ratio':>6}")
    worst = 0.0
    for name, (mine, theirs, medians) in samples.items():
        p50, p95, peer50 = _p(mine, 50), _p(mine, 95), _p(theirs, 50)
        spread = (max(medians) - min(medians)) / statistics.median(medians)
        worst = max(worst, p95)
        print(f"{name:<52} {totals[name]:>8,} {p50 * 1000:>7.1f} {p95 * 1000:>7.1f} {spread:>6.0%} "
              f"{peer50 * 1000:>8.1f} {p50 / peer50:>5.1f}x")
    verdict = "PASS" if worst < TARGET_P95 else "FAIL"
    print(f"worst p95 {worst * 1000:.1f} ms -> {verdict} (target < {TARGET_P95 * 1000:.0f} ms, server side)")


def _measure_pages(context: VaultContext, manager: User, cases: list[Case], rounds: int, repeats: int) -> None:
    """Time GET /search (the whole page: session check, search, thumbnails' grant check, rendering) per filter."""
    with context.sessions() as session:
        secret, _ = start_web_session(session=session, user=session.merge(manager), how="password", now=utcnow())
        session.commit()
    samples: dict[str, list[float]] = {c.name: [] for c in cases}
    with TestClient(create_app(context)) as client:
        client.cookies.set(SESSION_COOKIE, secret)
        for case in cases:  # warm up, and check each page answers with results
            answer = client.get("/search", params=case.form)
            assert answer.status_code == 200 and 'data-testid="result-count"' in answer.text, (case.name, answer.text)
        for _ in range(rounds):
            for case in cases:
                for _ in range(repeats):
                    began = time.perf_counter()
                    client.get("/search", params=case.form)
                    samples[case.name].append(time.perf_counter() - began)
    print(f"{'search page (GET /search, 25 rows, TestClient)':<52} {'p50 ms':>7} {'p95 ms':>7}")
    worst = 0.0
    for name, taken in samples.items():
        worst = max(worst, _p(taken, 95))
        print(f"{name:<52} {_p(taken, 50) * 1000:>7.1f} {_p(taken, 95) * 1000:>7.1f}")
    print(f"page worst p95 {worst * 1000:.1f} ms -> {'PASS' if worst < TARGET_P95 else 'FAIL'} "
          f"(target < {TARGET_P95 * 1000:.0f} ms, server side)")


def main() -> None:
    """Load, then time every filter against its peer and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a PostgreSQL URL (postgresql+psycopg://...); a database is created beside it")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20, help="runs of each filter per round")
    args = parser.parse_args()
    url = _fresh_database(args.url)
    try:
        with tempfile.TemporaryDirectory(prefix="evault-bench-search-") as home:
            settings = Settings(home=Path(home), database_url=url, log_json=True, log_level="WARNING")
            initialise(settings)
            configure_logging(json_output=True, level="WARNING")
            context = open_vault(settings)
            began = time.perf_counter()
            seeded = _load(context, args.records)
            print(f"loaded {args.records:,} records with COPY in {time.perf_counter() - began:.1f} s; "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
            with context.sessions() as session:
                # A records manager sees what a reviewer sees and may also search by ID number.
                manager = create_user(session=session, actor=SYSTEM, name="bench-archive", role=Role.RECORDS_MANAGER)
                session.commit()
                actor = Actor.of(manager)
            print(json.dumps({"rounds": args.rounds, "repeats": args.repeats, "page_size": 50}))
            cases = _cases(seeded, context.cipher)
            _measure(context, actor, cases, args.rounds, args.repeats)
            _measure_pages(context, manager, cases, args.rounds, max(1, args.repeats // 4))
            print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
            context.close()
    finally:
        _drop_database(args.url)


if __name__ == "__main__":
    main()
