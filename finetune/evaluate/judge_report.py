"""Turning judgements into the verdict: win / tie / loss rates, mean scores, a chart.

Per prompt, A's score is the mean of its scores over the orders that parsed (both, in
the normal case), and likewise B's; A wins the prompt when its mean is higher. Rates are
over the judged prompts; prompts with no parsed order are counted as unparsed. The share
of prompts whose verdict is the same in both orders shows how much the judge's position
bias mattered.
"""

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from starchat.finetune.evaluate.judge import ORDERS, JudgePrompt
from starchat.finetune.evaluate.rundir import RunDir

OUTCOMES = ("win", "tie", "loss")
RESULTS = "results.jsonl"
REPORT = "report.json"
CHART = "chart.png"


def _verdict(a: float, b: float) -> str:
    return "win" if a > b else "loss" if a < b else "tie"


def per_prompt(
    prompts: list[JudgePrompt], answers: dict[str, dict[str, str]], judgements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per prompt: the scores per order (as A, B), their means and the outcome."""
    by_key = {(j["id"], j["order"]): j for j in judgements}
    rows = []
    for prompt in prompts:
        orders: dict[str, list[float] | None] = {}
        replies: dict[str, str | None] = {}
        for order in ORDERS:
            judgement = by_key.get((prompt.id, order))
            scores = judgement["scores"] if judgement else None
            # In order "ba" the judge saw B as Assistant 1.
            orders[order] = None if scores is None else scores if order == "ab" else scores[::-1]
            replies[order] = judgement["reply"] if judgement else None
        parsed = [s for s in orders.values() if s is not None]
        row: dict[str, Any] = {
            "id": prompt.id,
            "category": prompt.category,
            "language": prompt.language,
            "scores_a_first": orders["ab"],
            "scores_b_first": orders["ba"],
            "score_a": statistics.fmean(s[0] for s in parsed) if parsed else None,
            "score_b": statistics.fmean(s[1] for s in parsed) if parsed else None,
            "outcome": "unparsed",
            "orders_agree": None,
        }
        if parsed:
            row["outcome"] = _verdict(row["score_a"], row["score_b"])
        if len(parsed) == 2:
            row["orders_agree"] = _verdict(*parsed[0]) == _verdict(*parsed[1])
        row |= {
            "prompt": prompt.prompt,
            "answer_a": answers["a"].get(prompt.id),
            "answer_b": answers["b"].get(prompt.id),
            "judge_a_first": replies["ab"],
            "judge_b_first": replies["ba"],
        }
        rows.append(row)
    return rows


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    judged = [r for r in rows if r["outcome"] != "unparsed"]
    counts = Counter(r["outcome"] for r in judged)
    result: dict[str, Any] = {"prompts": len(rows), "judged": len(judged)}
    result |= {f"{o}_rate": counts[o] / len(judged) if judged else None for o in OUTCOMES}
    return result


def _spread(values: list[float]) -> dict[str, float | None]:
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.pstdev(values) if values else None,
    }


def summarize(rows: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    """The report: overall and per category / language rates, mean scores ± std."""
    judged = [r for r in rows if r["outcome"] != "unparsed"]
    both = [r for r in rows if r["orders_agree"] is not None]
    return {
        "a": labels["a"],
        "b": labels["b"],
        "judge": labels["judge"],
        **_rates(rows),
        "unparsed": len(rows) - len(judged),
        "score_a": _spread([r["score_a"] for r in judged]),
        "score_b": _spread([r["score_b"] for r in judged]),
        "orders_agree": sum(r["orders_agree"] for r in both) / len(both) if both else None,
        "by_category": {
            c: _rates([r for r in rows if r["category"] == c])
            for c in sorted({r["category"] for r in rows})
        },
        "by_language": {
            lang: _rates([r for r in rows if r["language"] == lang])
            for lang in sorted({r["language"] for r in rows})
        },
    }


def _short(label: str) -> str:
    return Path(label.split(" @ ")[0]).name or label


def _shares(group: dict[str, Any]) -> dict[str, float]:
    """Win / tie / loss / unparsed as shares of all the group's prompts (they add up to 1)."""
    judged = group["judged"] / group["prompts"] if group["prompts"] else 0.0
    shares = {o: (group[f"{o}_rate"] or 0.0) * judged for o in OUTCOMES}
    return shares | {"unparsed": 1.0 - judged if group["prompts"] else 0.0}


def chart(summary: dict[str, Any]) -> bytes:
    """Outcome bars (overall, per category, per language) and mean scores with std, as PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {"all": summary, **summary["by_category"], **summary["by_language"]}
    names = list(groups)[::-1]
    colors = {"win": "#2e7d32", "tie": "#9e9e9e", "loss": "#c62828", "unparsed": "#e0e0e0"}
    figure, (rates, scores) = plt.subplots(
        1, 2, figsize=(11, 0.45 * len(names) + 2.6), gridspec_kw={"width_ratios": [3, 1.2]}
    )
    shares = [_shares(groups[n]) for n in names]
    left = [0.0] * len(names)
    for outcome, color in colors.items():
        values = [share[outcome] for share in shares]
        rates.barh(names, values, left=left, color=color, label=outcome)
        for y, (start, value) in enumerate(zip(left, values, strict=True)):
            if value >= 0.08 and outcome != "unparsed":
                label = f"{value:.0%}"
                rates.text(start + value / 2, y, label, ha="center", va="center", color="white")
        left = [s + v for s, v in zip(left, values, strict=True)]
    rates.set_xlim(0, 1)
    rates.set_xlabel(
        f"share of prompts ({summary['judged']} judged, {summary['unparsed']} unparsed)"
    )
    rates.set_title(f"{_short(summary['a'])} (A) vs {_short(summary['b'])} (B): A's outcome")
    sides = [("A", summary["score_a"]), ("B", summary["score_b"])]
    scores.bar(
        [s for s, _ in sides],
        [v["mean"] or 0.0 for _, v in sides],
        yerr=[v["std"] or 0.0 for _, v in sides],
        color=["#1565c0", "#ef6c00"],
        capsize=6,
    )
    scores.set_ylim(0, 8.5)
    scores.set_title("mean score ± std (1–8)")
    figure.suptitle(f"judge: {_short(summary['judge'])}", fontsize=9)
    figure.legend(*rates.get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    plt.close(figure)
    return png.getvalue()


def table(summary: dict[str, Any]) -> str:
    """The report as text for the terminal."""

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    rows = [f"A: {summary['a']}", f"B: {summary['b']}", f"judge: {summary['judge']}", ""]
    rows.append(f"{'':12} {'judged':>7} {'win':>7} {'tie':>7} {'loss':>7}")
    groups = {"all": summary, **summary["by_category"], **summary["by_language"]}
    for name, group in groups.items():
        rates = " ".join(f"{rate(group[f'{o}_rate']):>7}" for o in OUTCOMES)
        rows.append(f"{name:12} {group['judged']:>7} {rates}")
    for side in ("a", "b"):
        spread = summary[f"score_{side}"]
        if spread["mean"] is not None:
            rows.append(f"score {side.upper()}: {spread['mean']:.2f} ± {spread['std']:.2f}")
    agree = rate(summary["orders_agree"])
    rows.append(f"unparsed: {summary['unparsed']}; same verdict in both orders: {agree}")
    return "\n".join(rows)


def write_report(
    run: RunDir,
    prompts: list[JudgePrompt],
    answers: dict[str, dict[str, str]],
    judgements: list[dict[str, Any]],
) -> dict[str, Any]:
    """results.jsonl (per prompt), report.json and chart.png in the run folder."""
    rows = per_prompt(prompts, answers, judgements)
    (run.path / RESULTS).unlink(missing_ok=True)
    for row in rows:
        run.append(RESULTS, row)
    labels = {k: run.identity[k] for k in ("a", "b", "judge")}
    summary = summarize(rows, labels)
    run.write_json(REPORT, summary)
    run.write_bytes(CHART, chart(summary))
    return summary
