"""``artcheck report RUN_DIR``: one self-contained HTML page about a trained run.

Everything is embedded (figures as PNG data URIs, examples as JPEG), so the file can be
mailed or attached to a ticket. Sections appear when their data exists: the run's config,
metrics and breakdowns, confusion matrix, ROC and calibration curves, training curves,
robustness curves (``evaluate --robustness``), the cross-validation matrix (a
``crossval.json`` anywhere under the run), and examples (confident right, confident wrong,
uncertain) with their heat maps.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from artcheck.lab import runs

EXAMPLES_PER_KIND = 4
THUMB = 256


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _fig_uri(fig) -> str:
    from artcheck.lab.plots import plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return _data_uri(buf.getvalue(), "image/png")


def _file_uri(path: Path) -> str:
    return _data_uri(path.read_bytes(), "image/png")


def _img(uri: str, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="{uri}">'


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))


def _table(rows: list[list[Any]], head: list[str]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def read_predictions(path: Path) -> tuple[list[dict], np.ndarray, np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    y = np.array([0 if r["label"] in ("human", "edited") else 1 for r in rows])
    return rows, y, np.array([float(r["p_ai"]) for r in rows])


def roc_calibration_figure(y: np.ndarray, p: np.ndarray):
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import roc_auc_score, roc_curve

    from artcheck.lab.plots import plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    if len(set(y.tolist())) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        a1.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, p):.3f}")
        frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="quantile")
        a2.plot(mean_p, frac, "o-", label="model")
        ece = float(np.sum(np.abs(frac - mean_p)) / len(frac))
        a2.set_title(f"calibration (mean gap {ece:.3f})")
    a1.plot([0, 1], [0, 1], ":", color="grey")
    a1.set(xlabel="human images called AI (FPR)", ylabel="AI images caught (TPR)", title="ROC")
    a2.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    a2.set(xlabel="predicted P(ai)", ylabel="observed share of AI", xlim=(0, 1), ylim=(0, 1))
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pick_examples(rows: list[dict], y: np.ndarray, p: np.ndarray, k: int = EXAMPLES_PER_KIND
                  ) -> dict[str, list[int]]:
    """Indices of the most confident right, most confident wrong and least certain predictions."""
    conf = np.abs(p - 0.5)
    right = (p >= 0.5) == (y == 1)
    order = np.argsort(-conf)
    return {"confident and right": [int(i) for i in order if right[i]][:k],
            "confident and wrong": [int(i) for i in order if not right[i]][:k],
            "uncertain": [int(i) for i in np.argsort(conf)][:k]}


def _example_cards(model: Any, rows: list[dict], y: np.ndarray, p: np.ndarray, name: str) -> str:
    from artcheck.images import ImageError, load_image
    from artcheck.lab.explain import explain, overlay

    parts = []
    for kind, idx in pick_examples(rows, y, p).items():
        cards = []
        for i in idx:
            try:
                img = load_image(rows[i]["path"]).image
            except ImageError as e:
                cards.append(f'<div class="card">cannot read {html.escape(rows[i]["path"])}: {html.escape(e.reason)}</div>')
                continue
            e = explain(model, img, name=name)
            thumb = overlay(img, e.heat, f"P(ai) {p[i]:.2f}")
            thumb.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            thumb.save(buf, format="JPEG", quality=85)
            caption = (f"true {html.escape(rows[i]['label'])} · P(ai) {p[i]:.2f} · "
                       f"{html.escape(rows[i].get('source') or '')}<br><small>{html.escape(Path(rows[i]['path']).name)}"
                       f" · {html.escape(e.method)}</small>")
            cards.append(f'<figure class="card">{_img(_data_uri(buf.getvalue(), "image/jpeg"), rows[i]["path"], "ex")}'
                         f"<figcaption>{caption}</figcaption></figure>")
        parts.append(f'<h3>{html.escape(kind)} ({len(idx)})</h3><div class="grid">{"".join(cards) or "none"}</div>')
    return "".join(parts)


CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f4f4f4} .fig{max-width:100%} .grid{display:flex;flex-wrap:wrap;gap:.8rem}
.card{margin:0;width:256px;font-size:.85rem} .ex{width:256px;height:auto;border-radius:4px}
.muted{color:#777} code{background:#f4f4f4;padding:0 .2rem}
"""


def build_report(run_dir: str | Path, eval_dir: str | Path | None = None, examples: bool = True) -> str:
    """The HTML text. ``eval_dir`` defaults to RUN_DIR/eval-test (write it with ``artcheck evaluate``)."""
    from artcheck.lab.plots import plt

    run = Path(run_dir)
    if not (run / runs.CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{run}: no {runs.CONFIG_FILE}; expected a run directory written by 'artcheck train'")
    written = json.loads((run / runs.CONFIG_FILE).read_text())
    cfg = written.get("config", {})
    ev = Path(eval_dir) if eval_dir else run / "eval-test"
    if not (ev / "metrics.json").is_file():
        raise FileNotFoundError(f"{ev}: no metrics.json; run 'artcheck evaluate {run}' first "
                                "(the report shows an evaluation, it does not make one)")
    metrics = json.loads((ev / "metrics.json").read_text())
    title = f"artcheck report: {cfg.get('model', run.name)}"
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="muted">run <code>{html.escape(str(run))}</code> · evaluated on '
            f'<code>{html.escape(str(metrics.get("data", "")))}</code> split {html.escape(str(metrics.get("split", "")))}'
            f' · created {html.escape(str(written.get("created", "")))} · git {html.escape(str(written.get("git_sha")))}</p>']

    body.append("<h2>Metrics</h2>")
    keys = ("n", "accuracy", "balanced_accuracy", "roc_auc", "average_precision", "human_false_positive_rate")
    body.append(_table([[k.replace("_", " "), metrics.get(k)] for k in keys], ["metric", "value"]))
    body.append(_table([[c, m["precision"], m["recall"], m["f1"], m["support"]]
                        for c, m in metrics.get("per_class", {}).items()],
                       ["class", "precision", "recall", "f1", "support"]))
    for by, groups in metrics.get("breakdowns", {}).items():
        body.append(f"<h3>By {html.escape(by)}</h3>")
        body.append(_table([[v, m["n"], m["accuracy"], m["balanced_accuracy"], m["roc_auc"],
                             m["human_false_positive_rate"]] for v, m in groups.items()],
                           [by, "n", "accuracy", "balanced acc", "AUC", "human FPR"]))

    body.append("<h2>Confusion matrix</h2><div class=grid>")
    for f in ("confusion_matrix.png", "confusion_matrix_classes.png"):
        if (ev / f).is_file():
            body.append(_img(_file_uri(ev / f), f))
    body.append("</div>")

    rows, y, p = read_predictions(ev / "predictions.csv") if (ev / "predictions.csv").is_file() else ([], None, None)
    if rows:
        body.append("<h2>ROC and calibration</h2>" + _img(_fig_uri(roc_calibration_figure(y, p)), "ROC and calibration"))

    history = [json.loads(line) for line in (run / runs.HISTORY_FILE).read_text().splitlines() if line.strip()] \
        if (run / runs.HISTORY_FILE).is_file() else []
    if history:
        from artcheck.lab.plots import plot_history

        buf = io.BytesIO()
        plot_history(history, buf)
        body.append("<h2>Training curves</h2>" + _img(_data_uri(buf.getvalue(), "image/png"), "training curves"))

    if (ev / "robustness.json").is_file():
        from artcheck.lab import robustness

        result = json.loads((ev / "robustness.json").read_text())
        fig_path = io.BytesIO()
        robustness.plot(result, fig_path, str(cfg.get("model", "")))
        body.append("<h2>Robustness</h2>" + _img(_data_uri(fig_path.getvalue(), "image/png"), "robustness curves"))
        body.append(_table([[n, pt["strength"], pt["balanced_accuracy"], pt["roc_auc"], pt["human_false_positive_rate"]]
                            for n, pts in result["perturbations"].items() for pt in pts],
                           ["perturbation", "strength", "balanced acc", "AUC", "human FPR"]))

    for cv_path in sorted(run.rglob("crossval.json")):
        from artcheck.lab import crossval

        result = json.loads(cv_path.read_text())
        buf = io.BytesIO()
        crossval.plot(result, buf, str(result.get("model") or ""))
        body.append(f"<h2>Cross-validation by {html.escape(result['by'])}</h2>"
                    + _img(_data_uri(buf.getvalue(), "image/png"), "cross-validation matrix"))
        body.append(_table([[k, *v.values()] for k, v in result["means"].items()],
                           ["metric", *next(iter(result["means"].values())).keys()]))

    if rows and examples:
        model = runs.load_model(run)
        body.append("<h2>Examples</h2><p class=muted>Heat: where the model's AI score comes from "
                    "(Grad-CAM). Bright means the region pushed towards AI.</p>")
        body.append(_example_cards(model, rows, y, p, cfg.get("model", "")))

    body.append("<h2>Config</h2>" + _table([[k, v] for k, v in cfg.items()], ["option", "value"]))
    body.append(_table([[k, v] for k, v in written.get("versions", {}).items()], ["package", "version"]))
    plt.close("all")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report_html(run_dir: str | Path, out: str | Path, eval_dir: str | Path | None = None) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(run_dir, eval_dir))
    return out

