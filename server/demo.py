"""Demo data for `make run`: staff accounts, employers of a chemical park, ~30 trainees, a plan."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlmodel import Session, func, select

from curricula.model import EducationLevel
from server import demo_kiosk, demo_schedule
from server.accounts import service as accounts
from server.accounts.models import CONSOLE_ROLES, Role, User, UserCreate
from server.audit.service import Actor
from server.config import Settings
from server.demo_schedule import Planned
from server.trainees import service as trainees
from server.trainees.identity import Sex, make_resident_id
from server.trainees.models import TraineeCreate

DEMO_PASSWORD = "safetrain-demo"  # noqa: S105 - development demo only; refused in production

DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.admin, "系统管理员 Admin"),
    ("wang.jun", Role.trainer, "王军（培训教师）"),
    ("li.na", Role.trainer, "李娜（培训教师）"),
    ("zhao.lei", Role.trainer, "赵磊（培训教师）"),
    ("chen.hua", Role.examiner, "陈华（考评员）"),
    ("sun.min", Role.regulator, "孙敏（应急管理局）"),
    ("gateway.hall1", Role.gateway, "一号实训厅设备网关"),
)

EMPLOYERS = (
    ("江海精细化工有限公司", "320602"),
    ("临港新材料科技股份有限公司", "320621"),
    ("华东石化助剂有限公司", "320623"),
    ("苏中医药中间体有限公司", "321202"),
    ("滨江氯碱化工有限公司", "320681"),
)
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林罗高"
GIVEN = (
    "伟",
    "芳",
    "强",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "建国",
    "海燕",
    "志刚",
    "晓东",
    "丽娟",
    "国庆",
)
JOBS = (
    "硝化操作工",
    "加氢操作工",
    "氧化工段操作工",
    "氯化操作工",
    "DCS 内操",
    "外操巡检",
    "班组长",
    "设备维修工",
    "安全员",
)
EDUCATION = (
    EducationLevel.senior_high,
    EducationLevel.vocational_secondary,
    EducationLevel.junior_college,
    EducationLevel.bachelor,
    EducationLevel.junior_high,
)


def _identity(rng: random.Random, region: str, serial: int) -> tuple[str, Sex]:
    sex = rng.choice((Sex.male, Sex.male, Sex.female))
    birth = dt.date(1972, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 30))
    return make_resident_id(region, birth, serial, sex), sex


Progress = Callable[[list[TraineeCreate], int], Iterable[TraineeCreate]]


def _plain(items: list[TraineeCreate], total: int) -> Iterable[TraineeCreate]:
    return items


@dataclass
class Loaded:
    users: int = 0
    trainees: int = 0
    plan: Planned = field(default_factory=Planned)
    # Bearer tokens of the token-only demo accounts (regulator, gateway): shown only now.
    tokens: dict[str, str] = field(default_factory=dict)
    kiosk: demo_kiosk.DemoKiosk = field(default_factory=demo_kiosk.DemoKiosk)

    @property
    def anything(self) -> bool:
        return bool(self.users or self.trainees or self.plan.courses)


def load(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    if_empty: bool = False,
    progress: Progress = _plain,
) -> Loaded:
    """Load what is missing of the demo data; with if_empty, only into a database without users."""
    loaded = Loaded()
    if if_empty and session.exec(select(func.count()).select_from(User)).one() > 0:
        return loaded
    tokens = loaded.tokens
    for username, role, name in DEMO_USERS:
        if accounts.user_by_username(session, username) is not None:
            continue
        password = DEMO_PASSWORD if role in CONSOLE_ROLES else None
        user = accounts.create_user(
            session,
            actor,
            UserCreate(username=username, display_name=name, role=role, password=password),
        )
        loaded.users += 1
        if role not in CONSOLE_ROLES:
            assert user.id is not None
            _, tokens[username] = accounts.create_token(
                session, settings, actor, user.id, "demo", settings.token_default_days
            )
    rng = random.Random(20261123)  # noqa: S311 - reproducible demo data, not security
    people = []
    for i in range(30):
        employer, region = EMPLOYERS[i % len(EMPLOYERS)]
        id_number, _ = _identity(rng, region, 100 + i)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        people.append(
            TraineeCreate(
                name=name,
                id_number=id_number,
                phone=f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}",
                employer=employer,
                job=rng.choice(JOBS),
                education=rng.choice(EDUCATION),
            )
        )
    for person in progress(people, len(people)):
        if trainees.find_by_document(session, person.id_type, person.id_number) is None:
            trainees.register(session, actor, person)
            loaded.trainees += 1
    loaded.plan = demo_schedule.load(session, actor, settings.tz)
    if loaded.plan.courses:
        loaded.kiosk = demo_kiosk.load(session, actor, settings.tz, settings=settings)
        loaded.plan.sessions += loaded.kiosk.sessions
        loaded.plan.enrolled += loaded.kiosk.enrolled
    return loaded
