"""What a run leaves for people: `metrics.json` and `loss_curve.png` in the output directory."""

import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
CURVE_FILE = "loss_curve.png"


def perplexity(loss: float | None) -> float | None:
    """exp(mean token loss); None when there was no evaluation or it overflowed."""
    if loss is None:
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return None


def write_metrics(out: Path, metrics: dict[str, Any]) -> Path:
    path = out / METRICS_FILE
    path.write_text(json.dumps(metrics, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def plot_loss_curve(out: Path, log_history: list[dict[str, Any]], title: str) -> Path:
    """Training loss (and eval loss where evaluated) against the optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        axes.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
    if evals:
        axes.plot(*zip(*evals, strict=True), "o-", label="eval loss", color="tab:orange")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (assistant tokens)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = out / CURVE_FILE
    figure.savefig(path)
    plt.close(figure)
    return path
