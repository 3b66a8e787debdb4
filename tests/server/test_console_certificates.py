"""Console certificate pages: the register, one certificate and its lifecycle, issuing from a
course's results, and the due list as a page, CSV and a calendar feed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator

import icalendar
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from server.accounts.models import Role, User
from server.app import create_app
from server.audit import service as audit
from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates import signing
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate, CertificateStatus, OperationCertificate
from server.config import Settings
from server.scheduling.models import Course
from server.trainees.models import Trainee
from tests.factories import enrol, form_token, log_in, make_trainee, make_user
from tests.server.certificates.readiness import attend_all, hours_course, ready
from tests.server.test_console_schedule import row_of, tables

ADMIN = Actor(name="admin", user_id=None, role="admin")


@pytest.fixture
def console(cert_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings=cert_settings, engine=engine)) as c:
        yield c


@pytest.fixture
def course(session: Session) -> Course:
    return hours_course(session, starts_on="2026-10-01")


@pytest.fixture
def trainee(session: Session, course: Course) -> Trainee:
    person = make_trainee(session, name="王建国")
    ready(session, course, person)
    return person


def as_role(console: TestClient, session: Session, role: Role) -> str:
    """Log in as a new user of `role`; the CSRF token of the session."""
    user: User = make_user(session, role=role)
    return log_in(console, user.username)


def issue(session: Session, settings: Settings, course: Course, trainee: Trainee) -> Certificate:
    assert trainee.id is not None and course.id is not None
    return certificates.issue(session, settings, ADMIN, trainee.id, course.id)[0]


def reread(session: Session, number: str) -> Certificate:
    session.rollback()
    session.expire_all()  # see what the server committed since
    return certificates.get(session, number)


class TestRegister:
    def test_the_list_says_the_standing_in_words_and_search_finds_one(
        self,
        console: TestClient,
        session: Session,
        cert_settings: Settings,
        course: Course,
        trainee: Trainee,
    ) -> None:
        other = make_trainee(session, name="李四")
        ready(session, course, other)
        mine = issue(session, cert_settings, course, trainee)
        theirs = issue(session, cert_settings, course, other)
        as_role(console, session, Role.examiner)
        page = console.get("/console/certificates")
        assert page.status_code == 200
        assert 'href="/console/certificates"' in page.text and "证书" in page.text  # the nav
        line = row_of(page.text, mine.number)
        assert line[1] == "王建国" and "有效" in line[5]
        assert trainee.id_number not in page.text  # lists are masked
        by_name = console.get("/console/certificates", params={"q": "李四"}).text
        assert theirs.number in by_name and mine.number not in by_name
        by_id = console.get("/console/certificates", params={"q": trainee.id_number[-4:]}).text
        assert mine.number in by_id and theirs.number not in by_id
        by_number = console.get("/console/certificates", params={"q": theirs.number.lower()})
        assert theirs.number in by_number.text and mine.number not in by_number.text
        english = console.get("/console/certificates?lang=en").text
        assert "Certificate register" in english and "valid" in english
        # An examiner may look, but the due list is for those who plan.
        assert 'href="/console/certificates/due"' not in page.text

    def test_the_detail_page_has_facts_history_files_and_no_forms_for_an_examiner(
        self,
        console: TestClient,
        session: Session,
        cert_settings: Settings,
        course: Course,
        trainee: Trainee,
    ) -> None:
        cert = issue(session, cert_settings, course, trainee)
        as_role(console, session, Role.examiner)
        page = console.get(f"/console/certificates/{cert.number}")
        assert page.status_code == 200
        assert "王建国" in page.text and cert.valid_until.isoformat() in page.text
        assert trainee.id_number not in page.text  # an examiner sees the masked number
        history = next(t for t in tables(page.text) if t and t[0][:2] == ["时间", "操作"])
        assert history[1][1] == "发证"
        for href in ("/pdf", "/document", "/qr.png"):
            assert f"/console/certificates/{cert.number}{href}" in page.text
        assert f"/verify/{cert.number}" in page.text
        assert "/revoke" not in page.text and "/reviews" not in page.text

        pdf = console.get(f"/console/certificates/{cert.number}/pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
        document = console.get(f"/console/certificates/{cert.number}/document").json()
        jwks = signing.jwks(KeyStore.from_settings(cert_settings))
        assert signing.verify_document(document["jws"], jwks).payload["number"] == cert.number
        qr = console.get(f"/console/certificates/{cert.number}/qr.png")
        assert qr.headers["content-type"] == "image/png"

    def test_an_admin_sees_the_full_id_number_and_an_unknown_number_is_404(
        self,
        console: TestClient,
        session: Session,
        cert_settings: Settings,
        course: Course,
        trainee: Trainee,
    ) -> None:
        cert = issue(session, cert_settings, course, trainee)
        as_role(console, session, Role.admin)
        assert trainee.id_number in console.get(f"/console/certificates/{cert.number}").text
        missing = console.get("/console/certificates/SAFE-2026-999999")
        assert missing.status_code == 404 and "不存在" in missing.text


class TestIssueFromResults:
    def test_a_trainer_issues_a_ready_trainee_and_sees_the_number(
        self, console: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        csrf = as_role(console, session, Role.trainer)
        url = f"/console/courses/{course.id}/results"
        page = console.get(url)
        action = f"/console/courses/{course.id}/trainees/{trainee.id}/certificate"
        assert f'action="{action}"' in page.text and "发证" in page.text
        answer = console.post(action, data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303
        cert = session.exec(select(Certificate)).one()
        assert answer.headers["location"].startswith(f"{url}?issued={cert.number}")
        shown = console.get(answer.headers["location"])
        notice = re.search(r'class="notice ok" role="status">(.*?)</div>', shown.text, re.S)
        assert notice and "已发证，证书编号：" in notice.group(1)
        assert f'href="/console/certificates/{cert.number}">{cert.number}</a>' in notice.group(1)
        assert f'action="{action}"' not in shown.text  # no second button
        again = console.post(action, data={"csrf_token": csrf}, follow_redirects=False)
        assert again.status_code == 303 and cert.number in again.headers["location"]
        session.rollback()
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 1

    def test_a_refusal_is_shown_on_the_results_page_in_either_language(
        self, console: TestClient, session: Session, course: Course
    ) -> None:
        person = make_trainee(session, name="赵六")
        enrol(session, course=course, trainee=person)  # enrolled, but no hours and no exams
        csrf = as_role(console, session, Role.admin)
        action = f"/console/courses/{course.id}/trainees/{person.id}/certificate"
        answer = console.post(action, data={"csrf_token": csrf})
        assert answer.status_code == 409
        assert "未能为 赵六 发证" in answer.text and "尚不具备发证条件" in answer.text
        english = console.post(f"{action}?lang=en", data={"csrf_token": csrf})
        assert english.status_code == 409
        assert "No certificate was issued to 赵六" in english.text
        assert "not ready for a certificate" in english.text
        session.rollback()
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 0

    def test_an_examiner_sees_no_issue_button_and_may_not_post(
        self, console: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        csrf = as_role(console, session, Role.examiner)
        page = console.get(f"/console/courses/{course.id}/results")
        action = f"/console/courses/{course.id}/trainees/{trainee.id}/certificate"
        assert action not in page.text
        refused = console.post(action, data={"csrf_token": csrf})
        assert refused.status_code == 403


class TestLifecycle:
    @pytest.fixture
    def cert(
        self, session: Session, cert_settings: Settings, course: Course, trainee: Trainee
    ) -> Certificate:
        return issue(session, cert_settings, course, trainee)

    def test_an_admin_revokes_with_the_reason_and_the_number_typed_again(
        self, console: TestClient, session: Session, cert: Certificate
    ) -> None:
        csrf = as_role(console, session, Role.admin)
        page = console.get(f"/console/certificates/{cert.number}").text
        assert "撤销不可恢复" in page
        url = f"/console/certificates/{cert.number}/revoke"
        unconfirmed = console.post(url, data={"csrf_token": csrf, "reason": "证件造假"})
        assert unconfirmed.status_code == 422
        assert f"与证书编号 {cert.number} 不一致" in unconfirmed.text
        assert reread(session, cert.number).status == CertificateStatus.valid
        done = console.post(
            url,
            data={"csrf_token": csrf, "reason": "证件造假", "confirm": cert.number.lower()},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/console/certificates/{cert.number}?done=revoked"
        after = console.get(done.headers["location"]).text
        assert f"证书 {cert.number} 已撤销。" in after
        history = next(t for t in tables(after) if t and t[0][:2] == ["时间", "操作"])
        assert history[-1][1:] == ["撤销", history[-1][2], "有效 → 已撤销", "证件造假"]
        assert reread(session, cert.number).status == CertificateStatus.revoked
        events = audit.list_events(session, entity_type="certificate", entity_id=str(cert.id))
        assert events[-1].action == "certificate.revoke" and events[-1].reason == "证件造假"
        assert "/revoke" not in after  # revoked for good: no form any more

    def test_a_trainer_may_not_revoke_and_sees_no_such_form(
        self, console: TestClient, session: Session, cert: Certificate
    ) -> None:
        csrf = as_role(console, session, Role.trainer)
        page = console.get(f"/console/certificates/{cert.number}").text
        assert "/revoke" not in page and "/suspend" not in page
        refused = console.post(
            f"/console/certificates/{cert.number}/revoke",
            data={"csrf_token": csrf, "reason": "x", "confirm": cert.number},
        )
        assert refused.status_code == 403 and "无权访问此页面" in refused.text
        assert reread(session, cert.number).status == CertificateStatus.valid

    def test_suspend_needs_a_reason_then_reinstate(
        self, console: TestClient, session: Session, cert: Certificate
    ) -> None:
        csrf = as_role(console, session, Role.admin)
        url = f"/console/certificates/{cert.number}"
        blank = console.post(f"{url}/suspend", data={"csrf_token": csrf, "reason": " "})
        assert blank.status_code == 422 and "必填" in blank.text
        console.post(f"{url}/suspend", data={"csrf_token": csrf, "reason": "调查中"})
        page = console.get(url).text
        assert "已暂停" in page and "/reinstate" in page
        console.post(f"{url}/reinstate", data={"csrf_token": csrf, "reason": "调查结束"})
        assert reread(session, cert.number).status == CertificateStatus.valid

    def test_a_reissue_gets_a_new_number_and_links_both_ways(
        self, console: TestClient, session: Session, cert: Certificate
    ) -> None:
        csrf = as_role(console, session, Role.admin)
        answer = console.post(
            f"/console/certificates/{cert.number}/reissue",
            data={"csrf_token": csrf, "reason": "期满换证"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        new = re.search(
            r"/console/certificates/([A-Z0-9-]+)\?done=reissued", answer.headers["location"]
        )
        assert new and new.group(1) != cert.number
        page = console.get(answer.headers["location"]).text
        assert (
            f"已换发新证 {new.group(1)}" in page
            and f'href="/console/certificates/{cert.number}"' in page
        )
        old = console.get(f"/console/certificates/{cert.number}").text
        assert "已换发新证" in old and f'href="/console/certificates/{new.group(1)}"' in old
        assert "被新证替代" in old and f"由新证 {new.group(1)} 替代" in old  # in its history

    def test_a_trainer_records_the_authoritys_operation_certificate(
        self, console: TestClient, session: Session, cert: Certificate
    ) -> None:
        csrf = as_role(console, session, Role.trainer)
        url = f"/console/certificates/{cert.number}/operation-certificates"
        fields = {
            "csrf_token": csrf,
            "op_number": "T320602199003070011",
            "authority": "南通市应急管理局",
            "issued_on": "2026-12-10",
            "valid_until": "2026-12-01",
        }
        backwards = console.post(url, data=fields)
        assert backwards.status_code == 422 and "有效期应晚于发证日期" in backwards.text
        assert 'value="南通市应急管理局"' in backwards.text  # what was typed is kept
        done = console.post(url, data={**fields, "valid_until": "2032-12-09"})
        assert done.status_code == 200 and "操作证已登记" in done.text
        row = row_of(done.text, "T320602199003070011")
        assert row[1] == "南通市应急管理局" and row[5] == cert.number
        session.rollback()
        assert session.exec(select(OperationCertificate)).one().trainee_id == cert.trainee_id


class TestReview:
    def test_a_review_is_refused_without_eight_hours_then_recorded(
        self, console: TestClient, session: Session, cert_settings: Settings
    ) -> None:
        course = hours_course(session, starts_on="2023-01-03")
        person = make_trainee(session, name="钱七")
        ready(session, course, person, exam_day="2023-02-20")
        assert person.id is not None and course.id is not None
        cert, _ = certificates.issue(
            session, cert_settings, ADMIN, person.id, course.id, on=dt.date(2023, 3, 1)
        )
        assert cert.review_due == dt.date(2026, 3, 1)
        refresher = hours_course(session, curriculum="CHEM-REFRESHER", starts_on="2026-01-05")
        enrol(session, course=refresher, trainee=person)  # enrolled, not yet attended
        csrf = as_role(console, session, Role.trainer)
        page = console.get(f"/console/certificates/{cert.number}").text
        assert f'<option value="{refresher.id}"' in page
        fields = {
            "csrf_token": csrf,
            "reviewed_on": "2026-02-01",
            "refresher_course_id": str(refresher.id),
        }
        url = f"/console/certificates/{cert.number}/reviews"
        short = console.post(url, data=fields)
        assert short.status_code == 409 and "复审需不少于 8 学时的复训" in short.text
        assert reread(session, cert.number).review_due == dt.date(2026, 3, 1)

        attend_all(session, refresher, person)
        done = console.post(url, data=fields)
        assert done.status_code == 200 and "复审已登记" in done.text
        review = row_of(done.text, "2026-02-01")
        assert refresher.code in review[1] and review[3] == "无需复审"
        assert reread(session, cert.number).review_due is None  # the next falls under Order 19


class TestDue:
    @pytest.fixture
    def due_soon(
        self, session: Session, cert_settings: Settings, course: Course, trainee: Trainee
    ) -> tuple[Certificate, Certificate, Certificate]:
        """A review overdue (Order 30), a renewal in 20 days, and one not due for years."""
        old_course = hours_course(session, starts_on="2023-01-03")
        reviewed = make_trainee(session, name="孙八")
        ready(session, old_course, reviewed, exam_day="2023-02-20")
        assert reviewed.id is not None and old_course.id is not None
        review, _ = certificates.issue(
            session, cert_settings, ADMIN, reviewed.id, old_course.id, on=dt.date(2023, 3, 1)
        )
        renewal = issue(session, cert_settings, course, trainee)
        # A renewal falls due only six years on; bring this one's end near instead of waiting.
        renewal.valid_until = certificates.today() + dt.timedelta(days=20)
        session.add(renewal)
        later = make_trainee(session, name="周九")
        ready(session, course, later)
        far = issue(session, cert_settings, course, later)
        session.commit()
        return review, renewal, far

    def test_the_list_has_what_falls_due_with_the_kind_and_date(
        self,
        console: TestClient,
        session: Session,
        due_soon: tuple[Certificate, Certificate, Certificate],
    ) -> None:
        review, renewal, far = due_soon
        as_role(console, session, Role.trainer)
        page = console.get("/console/certificates/due?days=60")
        assert page.status_code == 200
        assert "60 天内到期或已逾期：2 张" in page.text
        first = row_of(page.text, "2026-03-01")
        assert first[1:4] == ["复审", review.number, "孙八"] and "已逾期" in first[0]
        second = row_of(page.text, renewal.valid_until.isoformat())
        assert second[1:4] == ["换证", renewal.number, "王建国"] and "还有 20 天" in second[0]
        assert far.number not in page.text
        english = console.get("/console/certificates/due?days=60&lang=en").text
        assert "renewal" in english and "in 20 days" in english

    def test_an_examiner_may_not_open_the_due_list(
        self, console: TestClient, session: Session
    ) -> None:
        as_role(console, session, Role.examiner)
        assert console.get("/console/certificates/due").status_code == 403
        assert console.get("/console/certificates/due.csv").status_code == 403

    def test_the_csv_opens_in_excel_with_chinese(
        self,
        console: TestClient,
        session: Session,
        due_soon: tuple[Certificate, Certificate, Certificate],
    ) -> None:
        review, renewal, _ = due_soon
        as_role(console, session, Role.trainer)
        response = console.get("/console/certificates/due.csv?days=60")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [r["证书编号 Number"] for r in rows] == [review.number, renewal.number]
        assert rows[0]["姓名 Name"] == "孙八" and rows[0]["到期事项 Due for"] == "复审 review"
        assert rows[1]["到期日期 Due on"] == renewal.valid_until.isoformat()
        assert rows[1]["剩余天数 Days left"] == "20"
        assert rows[1]["课程体系 Curriculum"].startswith("硝化")

    def test_the_calendar_feed_has_one_event_per_certificate_on_its_day(
        self,
        console: TestClient,
        session: Session,
        due_soon: tuple[Certificate, Certificate, Certificate],
    ) -> None:
        review, renewal, _ = due_soon
        csrf = as_role(console, session, Role.trainer)
        page = console.get("/console/certificates/due?days=60").text
        assert form_token(page) == csrf and 'action="/console/certificates/due/feed"' in page
        created = console.post(
            "/console/certificates/due/feed", data={"csrf_token": csrf, "days": "60"}
        )
        assert created.status_code == 201
        found = re.search(r'value="(http[^"]+/feeds/[^"]+\.ics)"', created.text)
        assert found
        feed = console.get(found.group(1).replace("http://testserver", ""))
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        calendar = icalendar.Calendar.from_ical(feed.content)
        assert "60 天内到期的证书" in str(calendar["x-wr-calname"])
        events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
        assert len(events) == 2
        by_number = {e["summary"].split(" · ")[-1]: e for e in events.values()}
        assert by_number[review.number].decoded("dtstart") == dt.date(2026, 3, 1)
        assert by_number[renewal.number].decoded("dtstart") == renewal.valid_until
        assert "复审 review" in by_number[review.number]["summary"]
        assert renewal.number in str(by_number[renewal.number]["url"])
        # The address shows in the list of one's calendar addresses, to revoke if it leaks.
        listed = console.get("/console/calendar-feeds").text
        assert "60 天内到期的证书" in listed
