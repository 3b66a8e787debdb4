"""`safetrain outbox …`: the push outbox's state, delivering now, retrying now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from server import clikit
from server.db import session_scope
from server.outbox import service
from server.outbox.deliver import Deliverer
from server.outbox.service import OutboxEventPublic

outbox_app = typer.Typer(
    help="监管推送队列 / The push outbox to the regulator's endpoint.", no_args_is_help=True
)

STATES = {
    "waiting": "待发送 waiting",
    "retrying": "重试中 retrying",
    "rejected": "被拒收 rejected",
    "delivered": "已送达 delivered",
}


def _when(event: OutboxEventPublic, field: str) -> str:
    value = getattr(event, field)
    return "" if value is None else value.isoformat(timespec="seconds")


@outbox_app.command("status")
def outbox_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """推送队列状态 / Counts, the head event, its last error and next attempt (exit 1 if blocked)."""
    settings = clikit.settings()
    with session_scope(clikit.engine()) as session:
        state = service.status(session, settings)
    if as_json:
        clikit.out.print_json(state.model_dump_json())
    else:
        endpoint = state.endpoint or "未配置 / not configured (SAFETRAIN_REGULATOR_PUSH_URL)"
        clikit.out.print(f"推送地址 / endpoint: {escape(endpoint)}", soft_wrap=True)
        counts = Table("状态 state", "事件 events")
        for name, label in STATES.items():
            counts.add_row(label, str(getattr(state.counts, name)))
        clikit.out.print(counts)
        head = state.head
        if head is None:
            clikit.out.print("全部已送达 / everything delivered")
        else:
            table = Table("队首 head", "")
            table.add_row("seq", str(head.seq))
            table.add_row("kind", head.kind)
            table.add_row("certificate", head.certificate)
            table.add_row("state", STATES[head.state])
            table.add_row("attempts", str(head.attempts))
            table.add_row("last attempt (UTC)", _when(head, "last_attempt_at"))
            table.add_row(
                "last error", escape(f"{head.last_error_code or ''} {head.last_error or ''}")
            )
            table.add_row("next attempt (UTC)", _when(head, "next_attempt_at") or "now")
            table.add_row("Idempotency-Key", head.idempotency_key)
            clikit.out.print(table)
        if state.last_delivered is not None:
            clikit.out.print(
                f"最近送达 / last delivered: seq {state.last_delivered.seq} at "
                f"{_when(state.last_delivered, 'delivered_at')}"
            )
    if state.blocked:
        clikit.err.print(
            "推送受阻：队首事件被拒收或多次失败 / delivery is BLOCKED: the head event was "
            "rejected or failed repeatedly",
            style="red bold",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@outbox_app.command("deliver")
def outbox_deliver() -> None:
    """立即推送 / Deliver now, in the foreground, until the queue is empty or the head fails."""
    settings = clikit.settings()
    if not settings.regulator_push_url:
        raise clikit.fail("未配置推送地址 / no push endpoint: set SAFETRAIN_REGULATOR_PUSH_URL")
    engine = clikit.require_current_schema()
    delivered = 0
    with Deliverer(engine, settings) as deliverer:
        force = True  # an operator asking now does not wait out the backoff
        while True:
            run = deliverer.run(force=force)
            force = False
            delivered += run.delivered
            if run.busy:
                raise clikit.fail(
                    "另一个进程正在推送（服务器的推送循环）/ another process is delivering "
                    "(a server's push loop): see safetrain outbox status",
                    code=1,
                )
            if run.idle or run.failed or run.stopped_at is not None:
                break
    clikit.out.print(f"已送达 / delivered: {delivered}")
    if run.failed:
        raise clikit.fail(
            f"第 {run.stopped_at} 号事件未送达 / event {run.stopped_at} not delivered: {run.error}",
            code=1,
        )
    if not run.idle:
        raise clikit.fail(
            f"第 {run.stopped_at} 号事件等待重试 / event {run.stopped_at} waits for its next "
            f"attempt at {run.next_attempt_at}",
            code=1,
        )
    clikit.out.print("全部已送达 / everything delivered")


@outbox_app.command("retry")
def outbox_retry() -> None:
    """立即重试 / Make rejected and backed-off events due now (the server's loop sends them)."""
    with session_scope(clikit.require_current_schema()) as session:
        retried = service.retry(session, clikit.actor())
    clikit.out.print(f"已设为立即重试 / due now: {retried}")
