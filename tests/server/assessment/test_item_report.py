"""The item-analysis report over graded papers, as JSON and as CSV."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.models import Role
from tests.factories import auth, make_course, make_token, make_user
from tests.server.assessment.test_sittings import key_of, open_sitting, paper_of, sitter


def test_every_bank_question_is_reported_from_the_papers_that_had_it(
    client: TestClient, session: Session
) -> None:
    examiner = make_token(session, user=make_user(session, role=Role.examiner))
    course = make_course(session, capacity=4)
    people = [sitter(session, course, name) for name in ("甲", "乙", "丙", "丁")]
    open_sitting(client, examiner, course)
    right_count = {}
    for n, me in enumerate(people):
        paper_id = paper_of(session, me.trainee_id).id
        client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token))
        key = key_of(session, me.trainee_id)
        # The first n+1 questions of each paper right, the rest left blank: scores spread out.
        for question_id in list(key)[: (n + 1) * 5]:
            client.put(
                f"/api/v1/papers/{paper_id}/answers/{question_id}",
                json={"chosen": key[question_id]},
                headers=auth(me.token),
            )
            right_count[question_id] = right_count.get(question_id, 0) + 1
        client.post(f"/api/v1/papers/{paper_id}/submit", headers=auth(me.token))

    session.rollback()  # end the test's read before it writes (SQLite snapshots)
    trainer = make_token(session, user=make_user(session, role=Role.trainer))
    report = client.get("/api/v1/curricula/nitration/item-analysis", headers=auth(trainer)).json()
    assert report["papers"] == 4
    by_id = {i["question_id"]: i for i in report["items"]}
    drawn: dict[str, int] = {}
    for me in people:
        for question_id in key_of(session, me.trainee_id):
            drawn[question_id] = drawn.get(question_id, 0) + 1
    for question_id, times in drawn.items():
        stats = by_id[question_id]["stats"]
        assert stats["responses"] == times
        assert abs(stats["difficulty"] - right_count.get(question_id, 0) / times) < 1e-9
    never = [i for i in report["items"] if i["question_id"] not in drawn]
    assert all(i["stats"]["responses"] == 0 for i in never)
    assert all(
        "few_responses" in i["stats"]["flags"] for i in report["items"] if i["stats"]["responses"]
    )

    download = client.get("/api/v1/curricula/NITRATION/item-analysis.csv", headers=auth(trainer))
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][0] == "题号 question" and len(rows) == 1 + len(report["items"])


def test_an_unknown_curriculum_is_a_404(client: TestClient, session: Session) -> None:
    trainer = make_token(session, user=make_user(session, role=Role.trainer))
    response = client.get("/api/v1/curricula/NOPE/item-analysis", headers=auth(trainer))
    assert response.status_code == 404
