"""The integrated Week 4 dashboard: one photo, four tabs (ViT attention, DINOv2, SAM, benchmark).

Runs in JupyterLab, Colab and Voila (``course-utils dashboard``). The tabs compute lazily the first
time they are opened, show progress while they work, and catch their own errors: a failure in
one tab (for example missing weights) is shown in that tab and leaves the others working.
No torch here: the tabs call :mod:`course_utils.views`, :mod:`course_utils.sam`,
:mod:`course_utils.concept` and :mod:`course_utils.bench`, imported on first use. Every picture says
whether it comes from random weights by asking the view or result it was drawn from
(:func:`course_utils.widgets.pictures.png_bytes`).
"""

from __future__ import annotations

import html
import os
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np

from ..tiny import NOTE, enabled
from .pictures import png_bytes
from .sam_widget import SamWidget
from .video_panel import VideoPanel

__all__ = ["Dashboard"]


class _Tab:
    """A tab that builds its content on first use, with a status line and its own error box."""

    def __init__(self, title: str, build: Callable[[], W.Widget]):
        self.title = title
        self._build = build
        self.status = W.HTML()
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="240px", visibility="hidden"))
        self.body = W.VBox()
        self.box = W.VBox([W.HBox([self.progress, self.status]), self.body])
        self.built = False
        self.error: str | None = None

    def ensure_built(self) -> None:
        if self.built:
            return
        self.built = True
        self.run("준비 중 (모델을 불러오고 계산합니다)...", lambda: setattr(self.body, "children", [self._build()]))

    def run(self, message: str, step: Callable[[], Any]) -> Any:
        """Run a (possibly long) step with visible progress; show any error in this tab only."""
        self.progress.layout.visibility = "visible"
        self.progress.bar_style = "info"
        self.progress.value = 0
        self.status.value = html.escape(message)
        try:
            result = step()
        except Exception as exc:  # noqa: BLE001 - every failure is shown to the user in this tab
            self.error = f"{exc.__class__.__name__}: {exc}"
            self.progress.bar_style = "danger"
            detail = html.escape(traceback.format_exc(limit=3))
            self.status.value = (f"<div class='cu-error' style='color:#b00020;white-space:pre-wrap'><b>"
                                 f"{html.escape(self.error)}</b><details><summary>details</summary>"
                                 f"<pre>{detail}</pre></details></div>")
            return None
        self.error = None
        self.progress.value = 1
        self.progress.layout.visibility = "hidden"
        self.status.value = ""
        return result


class Dashboard:
    """Choose a sample photo or upload one, then explore it with the week's models.

    Args:
        images: Photos to choose from, name -> image (default: the kit's sample photos).
        vit: Registry name of the ViT for the attention tab.
        dino: Registry name of the DINOv2 model.
        sam: Registry name of the SAM model, or "auto" (EdgeTAM on a CPU, SAM ViT-B on a GPU).
        run: A saved benchmark run directory for the benchmark tab (default: ``COURSE_UTILS_RUN``).
        tiny: Force tiny mode on/off (None follows ``COURSE_UTILS_TINY``); decided once, here, and
            passed to every loader.
        gallery_size: How many other photos the DINOv2 neighbour search compares against.
        dino3: Registry name of the DINOv3 model behind the DINO tab's DINOv2 / DINOv3 switch.
        sam3: Registry name of the SAM 3 model behind the SAM tab's concept-prompt box.

    Example:
        >>> Dashboard().show()  # in a notebook cell
    """

    def __init__(self, images: Mapping[str, Any] | None = None, vit: str = "vit_base",
                 dino: str = "dinov2_vits14", sam: str = "auto", run: str | Path | None = None,
                 tiny: bool | None = None, gallery_size: int = 8, dino3: str = "dinov3_vits16",
                 sam3: str = "sam3"):
        from ..images import load_image, sample_images

        self.tiny = enabled(tiny)  # the loaders' switch; pictures read "random" from their data
        self.images = {k: load_image(v) for k, v in (images or sample_images(
            ["chelsea", "coffee", "astronaut", "rocket", "motorcycle_left", "motorcycle_right", "china",
             "flower", "horse"])).items()}
        if sam == "auto":  # EdgeTAM on a CPU (fastest first mask), SAM ViT-B on a GPU (course_utils.sam_hf)
            from ..sam_hf import choose_cpu_sam

            sam = choose_cpu_sam()
        self.model_names = {"vit": vit, "dino": dino, "sam": sam, "dino3": dino3, "sam3": sam3}
        self.dino_kind = "dino"  # the DINO tab's switch: "dino" (DINOv2) or "dino3" (DINOv3)
        self.run_path = run if run is not None else (os.environ.get("COURSE_UTILS_RUN") or None)
        self.gallery_size = gallery_size
        self._models: dict[str, Any] = {}
        self._views: dict[tuple[str, str], Any] = {}

        self.chooser = W.Dropdown(options=list(self.images), description="사진", layout=W.Layout(width="260px"))
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="업로드")
        self.preview = W.Image(format="png", layout=W.Layout(max_width="220px"))
        banner = (f"<div style='color:white;background:#c00;padding:4px 8px;font-weight:bold'>"
                  f"{html.escape(NOTE)}. 그림은 동작 원리만 보여 줍니다.</div>") if self.tiny else ""
        self.header = W.VBox([W.HTML(f"<h3>Week 4 dashboard</h3>{banner}"),
                              W.HBox([self.chooser, self.upload]), self.preview])
        self.tabs = [_Tab("ViT attention", self._build_vit), _Tab("DINOv2", self._build_dino),
                     _Tab("SAM", self._build_sam), _Tab("Benchmark", self._build_bench)]
        self.tab = W.Tab(children=[t.box for t in self.tabs])
        for i, t in enumerate(self.tabs):
            self.tab.set_title(i, t.title)
        self.widget = W.VBox([self.header, self.tab])
        self.chooser.observe(lambda change: self._image_changed(), names="value")
        self.upload.observe(self._uploaded, names="value")
        self.tab.observe(lambda change: self._open(change["new"]), names="selected_index")
        self._image_changed()

    # ------------------------------------------------------------------ plumbing

    @property
    def image_name(self) -> str:
        return str(self.chooser.value)

    @property
    def image(self) -> np.ndarray:
        return self.images[self.image_name]

    def show(self) -> W.Widget:
        """Display the dashboard (returns the root widget)."""
        from IPython.display import display

        display(self.widget)
        return self.widget

    def _ipython_display_(self) -> None:
        self.show()

    def model(self, kind: str) -> Any:
        """The loaded model of one tab (loaded once, on first use)."""
        if kind not in self._models:
            from ..models import REGISTRY, load_model

            if REGISTRY[self.model_names[kind]].family == "sam2":  # SAM 2 / EdgeTAM image model for SamSession
                from ..sam2_models import load_sam2_image

                self._models[kind] = load_sam2_image(self.model_names[kind], tiny=self.tiny)
            else:
                self._models[kind] = load_model(self.model_names[kind], tiny=self.tiny)
        return self._models[kind]

    def _uploaded(self, change: dict) -> None:
        from ..images import load_image

        value = change["new"]
        if not value:
            return
        item = value[0] if isinstance(value, (tuple, list)) else next(iter(value.values()))
        name = f"upload: {item.get('name', 'image')}"
        try:
            self.images[name] = load_image(bytes(item["content"]))
        except Exception as exc:  # noqa: BLE001 - a bad upload must not break the dashboard
            self.tabs[self.tab.selected_index or 0].status.value = f"<b style='color:#b00020'>{html.escape(str(exc))}</b>"
            return
        self.chooser.options = list(self.images)
        self.chooser.value = name

    def _image_changed(self) -> None:
        self.preview.value = png_bytes(self.image, max_side=220)
        for t in self.tabs:  # every tab recomputes for the new photo when opened
            t.built = False
            t.body.children = []
        self._open(self.tab.selected_index or 0)

    def _open(self, index: int | None) -> None:
        if index is not None:
            self.tabs[index].ensure_built()

    def _view(self, kind: str, make: Callable[[], Any]) -> Any:
        key = (kind, self.image_name)
        if key not in self._views:
            self._views[key] = make()
        return self._views[key]

    # ------------------------------------------------------------------ tabs

    def _build_vit(self) -> W.Widget:
        from ..views import VitAttentionView

        tab = self.tabs[0]
        loaded = self.model("vit")
        view = self._view("vit", lambda: VitAttentionView.compute(loaded, self.image))
        layer = W.IntSlider(value=view.num_layers - 1, min=0, max=view.num_layers - 1,
                            description="layer (0-based)", style={"description_width": "initial"})
        head = W.Dropdown(options=[("mean", -1)] + [(str(h), h) for h in range(view.num_heads)], value=-1,
                          description="head")
        fusion = W.Dropdown(options=["mean", "max", "min"], value="mean", description="rollout fusion",
                            style={"description_width": "initial"})
        discard = W.FloatSlider(value=0.0, min=0.0, max=0.95, step=0.05, description="discard ratio",
                                style={"description_width": "initial"})
        attn_img = W.Image(format="png")
        roll_img = W.Image(format="png")

        def redraw_attention(*_: Any) -> None:
            h = None if head.value == -1 else int(head.value)
            attn_img.value = png_bytes(view.head_overlay(int(layer.value), h), view, min_side=320)

        def redraw_rollout(*_: Any) -> None:
            roll_img.value = png_bytes(view.rollout_overlay(fusion.value, float(discard.value)), view, min_side=320)

        for w in (layer, head):
            w.observe(lambda c: tab.run("그리는 중...", redraw_attention), names="value")
        for w in (fusion, discard):
            w.observe(lambda c: tab.run("rollout 계산 중...", redraw_rollout), names="value")
        redraw_attention()
        redraw_rollout()
        return W.VBox([
            W.HTML(f"<b>{html.escape(loaded.weights_note)}</b>: CLS 토큰이 각 patch에 주는 attention "
                   "(왼쪽)과 모든 layer를 곱한 attention rollout (오른쪽)."),
            W.HBox([layer, head]), W.HBox([fusion, discard]),
            W.HBox([W.VBox([W.HTML("attention (CLS → patches)"), attn_img]),
                    W.VBox([W.HTML("attention rollout"), roll_img])]),
        ])

    def _dino_view(self) -> Any:
        from ..views import DinoView

        loaded = self.model(self.dino_kind)
        gallery = {k: v for k, v in self.images.items() if k != self.image_name}
        gallery = dict(list(gallery.items())[: self.gallery_size])
        return self._view(self.dino_kind, lambda: DinoView.compute(loaded, self.image, gallery, progress=False))

    def _build_dino(self) -> W.Widget:
        tab = self.tabs[1]
        switch = self._dino_switch(tab)
        view = self._dino_view()
        k = W.IntSlider(value=4, min=2, max=10, description="k (clusters)", style={"description_width": "initial"})
        pca_img = W.Image(format="png", value=png_bytes(view.pca_picture(), view, min_side=320))
        km_img = W.Image(format="png")
        neighbours = W.HTML()

        def redraw(*_: Any) -> None:
            km_img.value = png_bytes(view.kmeans_overlay(int(k.value)), view, min_side=320)

        k.observe(lambda c: tab.run("k-means 계산 중...", redraw), names="value")
        redraw()
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{s:.3f}</td></tr>" for n, s in view.neighbours(5))
        neighbours.value = ("<b>가장 비슷한 사진 (CLS feature cosine similarity)</b>"
                            f"<table class='cu-neighbours'><tr><th>photo</th><th>cosine</th></tr>{rows}</table>")
        thumbs = W.HBox([W.VBox([W.Image(value=png_bytes(self.images[n], view, max_side=120), format="png"),
                                 W.HTML(f"{html.escape(n)}<br>{s:.3f}")]) for n, s in view.neighbours(5)])
        return W.VBox([
            W.HTML(f"<b>{html.escape(self.model(self.dino_kind).weights_note)}</b>: patch feature의 PCA "
                   "(첫 세 성분을 RGB로)와 k-means patch segmentation."),
            k, W.HBox([W.VBox([W.HTML("PCA → RGB"), pca_img]), W.VBox([W.HTML("k-means"), km_img])]),
            neighbours, thumbs,
            switch,  # DINOv2 / DINOv3 (last, so that the other children keep their places)
        ])

    def _build_sam(self) -> W.Widget:
        from ..sam import SamSession

        tab = self.tabs[2]
        loaded = self.model("sam")
        if "sam_session" not in self._models:
            self._models["sam_session"] = SamSession(loaded)
        session = self._models["sam_session"]
        sam_widget = SamWidget(session, self.image)
        k = W.IntSlider(value=4, min=2, max=10, description="DINO k", style={"description_width": "initial"})
        positive = W.IntSlider(value=0, min=0, max=3, description="positive cluster",
                               style={"description_width": "initial"})
        seed_button = W.Button(description="DINO 클러스터에서 점 가져오기", icon="magic",
                               layout=W.Layout(width="auto"))
        k.observe(lambda c: setattr(positive, "max", int(c["new"]) - 1), names="value")

        def seed(*_: Any) -> None:
            view = self._dino_view()
            coords, labels = view.cluster_seed_points(int(k.value), int(positive.value))
            sam_widget.clear()
            for (x, y), label in zip(coords, labels):
                sam_widget.add_point(float(x), float(y), int(label))

        seed_button.on_click(lambda b: tab.run("DINO feature로 점을 고르는 중...", seed))
        video = W.Accordion(children=[VideoPanel(tiny=self.tiny)])
        video.set_title(0, "SAM 2 video (offline clip, J&F)")
        video.selected_index = None
        return W.VBox([
            W.HTML(f"<b>{html.escape(loaded.weights_note)}</b>: 클릭 = positive point, 모드 전환 또는 "
                   "오른쪽 클릭 = negative point, 드래그 = box."),
            W.HBox([k, positive, seed_button]),
            sam_widget,
            self._concept_box(tab),
            video,
        ])

    # ------------------------------------------------------------------ DINOv3 switch and SAM 3 concept box

    def _dino_switch(self, tab: _Tab) -> W.Widget:
        """DINOv2 / DINOv3 toggle: the DINO tab (and the SAM tab's cluster seeds) follow the chosen model."""
        switch = W.ToggleButtons(options=[("DINOv2", "dino"), ("DINOv3", "dino3")], value=self.dino_kind,
                                 description="model", style={"description_width": "initial"})

        def changed(change: dict) -> None:
            self.dino_kind = change["new"]
            tab.built = False
            tab.body.children = []
            tab.ensure_built()

        switch.observe(changed, names="value")
        return switch

    def _concept_box(self, tab: _Tab) -> W.Widget:
        """SAM 3 concept prompt: type a short noun phrase, see every instance (masks + boxes) on the photo."""
        phrase = W.Text(placeholder="예: cup, cat, red car", description="SAM 3 개념",
                        style={"description_width": "initial"})
        threshold = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="score >",
                                  style={"description_width": "initial"})
        button = W.Button(description="모든 instance 찾기", icon="search", layout=W.Layout(width="auto"))
        picture = W.Image(format="png", layout=W.Layout(max_width="480px"))
        info = W.HTML()

        def find(*_: Any) -> None:
            from ..concept import segment_concept
            from ..viz import draw_boxes, overlay_masks

            result = segment_concept(self.model("sam3"), self.image, phrase.value, threshold=float(threshold.value))
            shown = draw_boxes(overlay_masks(self.image, result.masks), result.boxes) if len(result) else self.image
            picture.value = png_bytes(shown, result, min_side=320)
            scores = ", ".join(f"{s:.2f}" for s in result.scores[:10])
            info.value = f"<b>{html.escape(result.note)}</b><br>scores: {html.escape(scores or '-')}"
            self._models["last_concept"] = result

        button.on_click(lambda b: tab.run("SAM 3로 개념을 찾는 중...", find))
        phrase.on_submit(lambda w: tab.run("SAM 3로 개념을 찾는 중...", find))
        return W.VBox([W.HTML("<b>SAM 3 concept prompt</b>: 짧은 명사구를 입력하면 그 개념의 모든 instance를 분할합니다 "
                              "(SAM 1의 점/박스와 달리 클릭이 필요 없음)."),
                       W.HBox([phrase, threshold, button]), info, picture])

    def _build_bench(self) -> W.Widget:
        from ..bench import report

        if self.run_path is None:
            return W.HTML("저장된 벤치마크 결과가 없습니다. <code>course-utils bench run ...</code> 으로 실행한 뒤 "
                          "<code>Dashboard(run=\"runs/...\")</code> 로 여세요.")
        return report.results_widget(self.run_path)
