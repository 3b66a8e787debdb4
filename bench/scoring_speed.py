"""Benchmark of the scoring library: grading theory papers and item analysis.

    .venv/bin/python bench/scoring_speed.py [--papers 10000] [--attempts 100000] [--repeat 5]

Targets (assessment issue): grade 10,000 papers of 100 questions in under 1 s; item analysis of
100,000 attempts × 100 questions in under 1 s. The bank is synthetic (a curriculum of 5
topics, 200 questions, papers of 100 at 1 point each); answers come from a Rasch model so that
scores and item statistics look like real ones. Each figure is the median of --repeat runs.
The inputs are built first and then frozen out of the garbage collector (`gc.freeze`), so a
figure measures the work and not the collector walking the million objects of the bench's own
input; one row shows grading without that, for comparison. Figures go to docs/benchmarks.md
with the machine they ran on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

# Run as a script, this file's folder comes first on sys.path, and this file's name would hide
# the scoring package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from curricula import catalogue, rule_set_on  # noqa: E402
from curricula.model import Curriculum, QuestionType  # noqa: E402
from scoring.answers import AnswerSheet  # noqa: E402
from scoring.grading import Grader  # noqa: E402
from scoring.items import Responses, analyse_items  # noqa: E402
from scoring.papers import Paper, generate_paper  # noqa: E402

TOPICS = 5
DRAW = {"single": 12, "multiple": 4, "true_false": 4}  # per topic: 100 questions a paper


def synthetic_curriculum(*, partial_credit: bool = False) -> Curriculum:
    """A refresher curriculum whose bank holds twice what its 100-question paper draws."""
    rng = random.Random(1)
    topics = [f"topic-{i}" for i in range(TOPICS)]
    questions: list[dict[str, Any]] = []
    for topic in topics:
        for qtype, per_paper in DRAW.items():
            for _ in range(2 * per_paper):
                n = len(questions) + 1
                q: dict[str, Any] = {
                    "id": f"SYN-{n:03d}",
                    "topic": topic,
                    "type": qtype,
                    "stem": {"zh": f"题目 {n}", "en": f"Question {n}"},
                    "explanation": {"zh": "解析", "en": "Why"},
                }
                if qtype == "true_false":
                    q["answer"] = [rng.choice("TF")]
                else:
                    keys = "ABCDE" if qtype == "multiple" else "ABCD"
                    q["options"] = [{"key": k, "zh": f"选项{k}", "en": f"Option {k}"} for k in keys]
                    right = (
                        rng.sample(keys, rng.randint(2, 4))
                        if qtype == "multiple"
                        else [rng.choice(keys)]
                    )
                    q["answer"] = sorted(right)
                questions.append(q)
    title = {"zh": "合成题库", "en": "Synthetic bank"}
    return Curriculum.model_validate(
        {
            "code": "BENCH",
            "version": "1",
            "kind": "refresher",
            "title": title,
            "summary": title,
            "hours": {"theory": 8, "practical": 0},
            "topics": [{"code": t, "title": {"zh": t, "en": t}} for t in topics],
            "modules": [
                {"code": "B-T", "kind": "theory", "title": title, "hours": 8, "topics": topics}
            ],
            "assessment": {
                "theory": {
                    "time_limit_minutes": 120,
                    "points": {"single": 1, "multiple": 1, "true_false": 1},
                    "partial_credit": partial_credit,
                    "draws": [{"topic": t, **DRAW} for t in topics],
                }
            },
            "certificate": {"title": title},
            "questions": questions,
        }
    )


def answered(papers: list[Paper], c: Curriculum, seed: int) -> list[AnswerSheet]:
    """Answer sheets from a Rasch model: right with probability σ(ability − difficulty)."""
    rng = random.Random(seed)
    bank = {q.id: q for q in c.questions}
    hardness = {q.id: rng.gauss(-1.0, 1.0) for q in c.questions}
    sheets = []
    for paper in papers:
        ability = rng.gauss(0, 1)
        answers: dict[str, list[str]] = {}
        for pq in paper.questions:
            q = bank[pq.question_id]
            roll = rng.random()
            if roll < 0.02:
                continue  # left blank
            if roll < 1 / (1 + np.exp(hardness[q.id] - ability)):
                answers[pq.question_id] = list(q.answer)
            elif q.type is QuestionType.multiple:
                answers[pq.question_id] = rng.sample(pq.options, rng.randint(1, 3))
            else:
                answers[pq.question_id] = [rng.choice(pq.options)]
        sheets.append(AnswerSheet.from_answers(paper, answers))
    return sheets


def results_matrix(attempts: int, questions: int, *, seed: int, gaps: float = 0.0) -> Responses:
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=(attempts, 1))
    hardness = rng.normal(-1.0, 1.0, size=(1, questions))
    right = rng.random((attempts, questions)) < 1 / (1 + np.exp(hardness - ability))
    scores = right.astype(np.float64)
    wrong_bits = (1 << rng.integers(1, 4, size=(attempts, questions))).astype(np.uint8)
    choices = np.where(right, np.uint8(1), wrong_bits)
    if gaps:
        scores[rng.random((attempts, questions)) < gaps] = np.nan
    return Responses(tuple(f"Q{j:03d}" for j in range(questions)), scores, choices)


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--papers", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, seconds: float, count: int, unit: str, target: float | None) -> None:
        verdict = "" if target is None else ("ok" if seconds < target else f"over {target:g} s")
        rows.append((what, f"{seconds:.3f} s", f"{count / seconds:,.0f} {unit}/s", verdict))

    rule = rule_set_on(catalogue().rule_sets, dt.date(2026, 6, 1)).theory
    c = synthetic_curriculum()
    grader = Grader(c)
    start = time.perf_counter()
    papers = [generate_paper(c, f"trainee-{i}") for i in range(args.papers)]
    row(
        f"draw {args.papers:,} papers of 100 questions",
        time.perf_counter() - start,
        args.papers,
        "papers",
        None,
    )
    stored = [p.to_dict() for p in papers]
    sheets = answered(papers, c, seed=2)
    texts = [s.to_text() for s in sheets]
    answers = [s.chosen(p) for s, p in zip(sheets, papers, strict=True)]

    # The collector is left as it is for this first figure.
    start = time.perf_counter()
    grader.grade_many(papers, sheets, rule=rule)
    row(
        f"grade {args.papers:,} papers (batch; collector not frozen, first run)",
        time.perf_counter() - start,
        args.papers,
        "papers",
        1.0,
    )

    gc.collect()
    gc.freeze()
    seconds = median_seconds(lambda: grader.grade_many(papers, sheets, rule=rule), args.repeat)
    row(
        f"grade {args.papers:,} papers of 100 questions (batch)",
        seconds,
        args.papers,
        "papers",
        1.0,
    )
    partial = synthetic_curriculum(partial_credit=True)
    partial_papers = [generate_paper(partial, f"trainee-{i}") for i in range(args.papers)]
    partial_sheets = answered(partial_papers, partial, seed=3)
    partial_grader = Grader(partial)
    gc.collect()
    gc.freeze()
    seconds = median_seconds(
        lambda: partial_grader.grade_many(partial_papers, partial_sheets, rule=rule), args.repeat
    )
    row(
        f"grade {args.papers:,} papers, partial credit (batch)", seconds, args.papers, "papers", 1.0
    )
    seconds = median_seconds(
        lambda: [grader.grade(p, a, rule=rule) for p, a in zip(papers, answers, strict=True)], 1
    )
    row(
        f"grade {args.papers:,} papers one at a time from answer mappings",
        seconds,
        args.papers,
        "papers",
        None,
    )
    seconds = median_seconds(lambda: [Paper.from_dict(d) for d in stored], 1)
    row(
        f"read {args.papers:,} stored papers (Paper.from_dict)",
        seconds,
        args.papers,
        "papers",
        None,
    )
    seconds = median_seconds(
        lambda: [AnswerSheet.from_text(p, t) for p, t in zip(papers, texts, strict=True)], 1
    )
    row(f"read {args.papers:,} stored answer sheets", seconds, args.papers, "sheets", None)

    matrix = results_matrix(args.attempts, 100, seed=4)
    gc.collect()
    gc.freeze()
    seconds = median_seconds(lambda: analyse_items(matrix), args.repeat)
    row(
        f"item analysis, {args.attempts:,} attempts × 100 questions",
        seconds,
        args.attempts,
        "attempts",
        1.0,
    )
    bank = results_matrix(args.attempts, 200, seed=5, gaps=0.5)
    seconds = median_seconds(lambda: analyse_items(bank), args.repeat)
    row(
        f"item analysis, {args.attempts:,} attempts over a bank of 200 (half not on each paper)",
        seconds,
        args.attempts,
        "attempts",
        None,
    )

    table = Table(title="safetrain scoring benchmark")
    table.add_column("what")
    table.add_column("time", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("target")
    for r in rows:
        table.add_row(*r)
    console = Console()
    console.print(table)
    console.print(
        f"{cpu_model()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"numpy {np.__version__} · {platform.platform()} · median of {args.repeat}"
    )


if __name__ == "__main__":
    main()
