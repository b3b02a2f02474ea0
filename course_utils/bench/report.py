"""Reports: comparison table and plots of a run, exported as HTML (plotly) and PDF (matplotlib).

Plots: the primary metric against cost per 1K images, the latency distribution per model, and
per-question scores (which items each model gets wrong). Figures of a run with tiny random models
carry the note, read from the run's own provider rows (``random_weights``) by
:func:`course_utils.tiny.stamp`. Choosing a model from these numbers is the
student's job: this module draws the points, it does not rank or select them.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any

from .. import tiny
from .scoring import RunResult, load_run

__all__ = ["write_report", "format_table", "table_html", "errors_html", "plot_accuracy_vs_cost", "plot_latency",
           "plot_item_scores", "results_widget", "TABLE_COLUMNS"]

TABLE_COLUMNS = ("label", "open_source", "score", "cost_per_1k", "p50_latency_s", "p95_latency_s", "n_ok",
                 "n_errors", "n_cached", "spent_usd", "price_status")


def _as_result(result: RunResult | str | os.PathLike[str], **kwargs: Any) -> RunResult:
    return result if isinstance(result, RunResult) else load_run(result, **kwargs)


def _random(result: RunResult) -> bool:
    return tiny.is_random(result.providers)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in ("cost_per_1k", "spent_usd", "total_cost_usd"):
        return f"${value:.4f}" if value < 1 else f"${value:.2f}"
    if key.endswith("latency_s"):
        return f"{value:.3f} s"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_table(result: RunResult | list[dict[str, Any]], columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """The comparison table as fixed-width text (for notebooks and the terminal)."""
    rows = result.table() if isinstance(result, RunResult) else result
    metric = rows[0]["metric"] if rows else "score"
    header = [metric if c == "score" else c for c in columns]
    cells = [[_cell(c, r.get(c)) for c in columns] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    if any(r.get("price_status") == "unverified" for r in rows):
        lines.append("price_status 'unverified': the price was not re-read from the provider's page; check it.")
    if tiny.is_random(rows):
        lines.append(f"{tiny.SHORT_NOTE}: scores of tiny models are meaningless.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plotly figures


def plot_accuracy_vs_cost(result: RunResult) -> Any:
    """Scatter of the primary metric against cost per 1K images, one point per model (plotly)."""
    import plotly.graph_objects as go

    rows = result.table()
    metric = rows[0]["metric"] if rows else "score"
    fig = go.Figure()
    for r in rows:
        fig.add_trace(go.Scatter(
            x=[r["cost_per_1k"] or 0.0], y=[r["score"]], mode="markers+text", text=[r["label"]],
            textposition="top center", name=r["label"],
            marker={"size": 14, "symbol": "circle" if r["open_source"] else "diamond"},
            hovertemplate=f"%{{text}}<br>cost/1K images: $%{{x:.4f}}<br>{metric}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=f"{metric} vs cost per 1K images ({result.task.name}; circle = open weights)",
                      xaxis_title="USD per 1000 images (list price; local models: 0 or machine time)",
                      yaxis_title=metric, showlegend=False, height=450)
    return tiny.stamp(fig, result.providers)


def plot_latency(result: RunResult) -> Any:
    """Box plot of per-call latency for every model (plotly); p50/p95 are in the table."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for info in result.providers:
        lat = [r["latency_s"] for r in result.item_records(info["identity"])
               if r["status"] == "ok" and r["latency_s"] is not None]
        fig.add_trace(go.Box(y=lat, name=info["label"], boxpoints="all", jitter=0.4))
    fig.update_layout(title="Latency per call (cache hits keep their original latency)", yaxis_title="seconds",
                      showlegend=False, height=420)
    return tiny.stamp(fig, result.providers)


def _score_matrix(result: RunResult) -> tuple[list[str], list[str], list[list[float | None]]]:
    items = [it.item_id for it in result.task.items]
    labels = [p["label"] for p in result.providers]
    matrix = []
    for info in result.providers:
        per = {r["item_id"]: r.get("score") for r in result.item_records(info["identity"])}
        matrix.append([per.get(i) for i in items])
    return items, labels, matrix


def plot_item_scores(result: RunResult) -> Any:
    """Heatmap of per-question scores (rows = models, columns = items): where each model fails."""
    import plotly.graph_objects as go

    items, labels, matrix = _score_matrix(result)
    outputs = {(r["identity"], r["item_id"]): (r["output"] or r["error"] or "") for r in result.records}
    hover = [[f"{i}<br>{html.escape(str(outputs.get((p['identity'], i), ''))[:80])}" for i in items]
             for p in result.providers]
    fig = go.Figure(go.Heatmap(z=matrix, x=items, y=labels, colorscale="RdYlGn", zmin=0,
                               zmax=1 if result.task.kind == "vqa" else None, text=hover,
                               hovertemplate="%{text}<br>score %{z:.2f}<extra></extra>"))
    fig.update_layout(title=f"Per-item {'VQA accuracy' if result.task.kind == 'vqa' else 'CIDEr'} "
                            "(red = wrong or missing)", height=200 + 40 * len(labels))
    return tiny.stamp(fig, result.providers)


# --------------------------------------------------------------------------- matplotlib (PDF)


def _mpl_pages(result: RunResult) -> list[Any]:
    import matplotlib.pyplot as plt

    rows = result.table()
    metric = rows[0]["metric"] if rows else "score"
    figs = []
    # Page 1: title, table, notes.
    fig = plt.figure(figsize=(11.7, 8.3))
    fig.text(0.05, 0.94, f"Benchmark report: {result.task.name} ({len(result.task)} items)", fontsize=16,
             weight="bold")
    fig.text(0.05, 0.905, f"run {result.run_dir.name}, written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             fontsize=9)
    ax = fig.add_axes([0.03, 0.35, 0.94, 0.52])
    ax.axis("off")
    cols = list(TABLE_COLUMNS)
    table = ax.table(cellText=[[_cell(c, r.get(c)) for c in cols] for r in rows] or [["-"] * len(cols)],
                     colLabels=[metric if c == "score" else c for c in cols], loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(col=list(range(len(cols))))
    table.scale(1, 1.5)
    notes = [n for r in rows for n in r.get("notes", [])]
    if any(r.get("price_status") == "unverified" for r in rows):
        notes.append("Some prices are 'unverified': not re-read from the provider's pricing page; check them.")
    notes.append(f"Task licence: {result.task.licence[:220]}")
    fig.text(0.05, 0.30, "\n".join(dict.fromkeys(f"- {n}" for n in notes)), fontsize=8, va="top", wrap=True)
    figs.append(tiny.stamp(fig, result.providers))
    # Page 2: metric vs cost.
    fig, ax = plt.subplots(figsize=(11.7, 8.3))
    for r in rows:
        ax.scatter([r["cost_per_1k"] or 0.0], [r["score"] or 0.0], s=80, marker="o" if r["open_source"] else "D")
        ax.annotate(r["label"], ((r["cost_per_1k"] or 0.0), (r["score"] or 0.0)), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)
    ax.set_xlabel("USD per 1000 images")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs cost per 1K images (circle = open weights)")
    ax.grid(alpha=0.3)
    figs.append(tiny.stamp(fig, result.providers))
    # Page 3: latency.
    fig, ax = plt.subplots(figsize=(11.7, 8.3))
    data = [[r["latency_s"] for r in result.item_records(p["identity"]) if r["status"] == "ok" and r["latency_s"]]
            or [0.0] for p in result.providers]
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(data) + 1), [p["label"] for p in result.providers], rotation=15, fontsize=8)
    ax.set_ylabel("seconds per call")
    ax.set_title("Latency per call")
    figs.append(tiny.stamp(fig, result.providers))
    # Page 4: per-item scores.
    items, labels, matrix = _score_matrix(result)
    import numpy as np

    fig, ax = plt.subplots(figsize=(11.7, 2.5 + 0.5 * len(labels)))
    z = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    im = ax.imshow(z, cmap="RdYlGn", vmin=0, vmax=1 if result.task.kind == "vqa" else np.nanmax([1.0, *z.ravel()]),
                   aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xticks(range(len(items)), items, rotation=90, fontsize=6)
    ax.set_title("Per-item score (red = wrong or missing)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    figs.append(tiny.stamp(fig, result.providers))
    return figs


def table_html(result: RunResult) -> str:
    """The comparison table as an HTML ``<table>`` (with the unverified-price and tiny-mode notes)."""
    rows = result.table()
    head = [TABLE_COLUMNS[0], *(rows[0]["metric"] if c == "score" and rows else c for c in TABLE_COLUMNS[1:])]
    out = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(c, r.get(c)))}</td>" for c in TABLE_COLUMNS) + "</tr>"
        for r in rows) + "</table>"
    notes = sorted({n for r in rows for n in r.get("notes", [])})
    if any(r.get("price_status") == "unverified" for r in rows):
        notes.append("Prices marked 'unverified' were not re-read from the provider's pricing page.")
    if _random(result):
        notes.insert(0, f"{tiny.NOTE}.")
    return out + "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def errors_html(result: RunResult, limit: int = 60) -> str:
    """Per-question errors: items a model got wrong (score < 1 for VQA, lowest CIDEr for captions) or failed."""
    rows = []
    refs = {it.item_id: it for it in result.task.items}
    threshold = 1.0 if result.task.kind == "vqa" else None
    for rec in result.records:
        score = rec.get("score")
        wrong = rec["status"] != "ok" or (threshold is not None and score is not None and score < threshold)
        if threshold is None and rec["status"] == "ok":
            wrong = score is not None and score < 0.5
        if wrong:
            rows.append(rec)
    rows.sort(key=lambda r: (r.get("score") or 0.0, r["item_id"]))
    label = {p["identity"]: p["label"] for p in result.providers}
    body = "".join(
        f"<tr><td>{html.escape(r['item_id'])}</td><td>{html.escape(label.get(r['identity'], r['identity']))}</td>"
        f"<td>{html.escape(refs[r['item_id']].question or '') if r['item_id'] in refs else ''}</td>"
        f"<td>{html.escape(str(r['output'] if r['status'] == 'ok' else 'ERROR ' + str(r['error']))[:120])}</td>"
        f"<td>{html.escape(', '.join(dict.fromkeys(refs[r['item_id']].references))[:120]) if r['item_id'] in refs else ''}"
        f"</td><td>{_cell('score', r.get('score'))}</td></tr>" for r in rows[:limit])
    more = f"<p>{len(rows) - limit} more not shown.</p>" if len(rows) > limit else ""
    return ("<h2>Per-question errors</h2><table><tr><th>item</th><th>model</th><th>question</th><th>output</th>"
            f"<th>references</th><th>score</th></tr>{body}</table>{more}")


def results_widget(run: RunResult | str | os.PathLike[str], **load_kwargs: Any) -> Any:
    """An ipywidgets view of a run (table + metric-vs-cost + latency), for the dashboard and Voila."""
    import ipywidgets as W

    result = _as_result(run, **load_kwargs)
    children: list[Any] = [W.HTML(table_html(result))]
    for make in (plot_accuracy_vs_cost, plot_latency, plot_item_scores):
        fig = make(result)
        try:
            import plotly.graph_objects as go

            children.append(go.FigureWidget(fig))
        except Exception:  # noqa: BLE001 - FigureWidget needs anywidget; fall back to a static render
            out = W.Output()
            with out:
                fig.show()
            children.append(out)
    return W.VBox(children)


# --------------------------------------------------------------------------- export


def write_report(result: RunResult | str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
                 html_report: bool = True, pdf: bool = True, **load_kwargs: Any) -> dict[str, Path]:
    """Write ``report.html`` (interactive plotly, self-contained) and ``report.pdf`` for a run.

    Args:
        result: A :class:`RunResult` or a run directory.
        out_dir: Where to write; default ``<run_dir>/report``.
        html_report: Write the HTML file.
        pdf: Write the PDF (matplotlib; what the assignment asks students to hand in).
        load_kwargs: Passed to :func:`load_run` when ``result`` is a path (``meteor=False``...).

    Returns:
        ``{"html": path, "pdf": path, "json": path}`` for the files written.
    """
    result = _as_result(result, **load_kwargs)
    out = Path(out_dir) if out_dir is not None else result.run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    rows = result.table()
    (out / "table.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False, default=str), "utf-8")
    paths["json"] = out / "table.json"
    if html_report:
        figs = [plot_accuracy_vs_cost(result), plot_latency(result), plot_item_scores(result)]
        parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figs)]
        doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>Benchmark {html.escape(result.task.name)}"
               "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style></head><body>"
               f"<h1>Benchmark: {html.escape(result.task.name)} ({len(result.task)} items)</h1>{table_html(result)}"
               + "".join(parts) + errors_html(result)
               + f"<p><small>Task licence: {html.escape(result.task.licence)}</small></p></body></html>")
        (out / "report.html").write_text(doc, "utf-8")
        paths["html"] = out / "report.html"
    if pdf:
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_pdf import PdfPages

        figs = _mpl_pages(result)
        with PdfPages(out / "report.pdf") as pages:
            for fig in figs:
                pages.savefig(fig)
                plt.close(fig)
        paths["pdf"] = out / "report.pdf"
    return paths
