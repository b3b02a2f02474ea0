// Canvas front end of course_utils.widgets.SamWidget (anywidget ESM).
//
// The kernel owns the state (points, labels, box, masks); this file only draws it and reports
// gestures. Display coordinates are converted to ORIGINAL image pixels here:
//   x_image = (clientX - rect.left) * image_width / rect.width
// (rect.width is the canvas' displayed CSS width; image_width the original image's pixel width),
// so the kernel always receives (x, y) pixels of the original image, whatever the zoom or layout.
//
// Gestures: click = point (positive, or negative in "negative" mode, with Shift/Alt, or right click);
// drag (> 4 CSS px) = XYXY box.

const DRAG_PX = 4;

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "cu-sam";
  const canvas = document.createElement("canvas");
  canvas.className = "cu-sam-canvas";
  canvas.tabIndex = 0;
  // Right click = negative point: keep JupyterLab's own context menu away from the canvas.
  canvas.setAttribute("data-jp-suppress-context-menu", "true");
  const hint = document.createElement("div");
  hint.className = "cu-sam-hint";
  hint.textContent = "click: + point · shift/alt/right click: − point · drag: box";
  root.append(canvas, hint);
  el.append(root);

  const ctx = canvas.getContext("2d");
  const photo = new Image();
  const overlay = new Image();
  let overlayReady = false;
  let drag = null; // {x0, y0, x1, y1, cx, cy, negative} in image pixels / CSS px
  let pending = false;

  const W = () => model.get("image_width") || photo.naturalWidth || 1;
  const H = () => model.get("image_height") || photo.naturalHeight || 1;

  function applySize() {
    const dw = model.get("display_width");
    canvas.style.width = dw > 0 ? `${dw}px` : "100%";
    canvas.style.maxWidth = dw > 0 ? "none" : `${photo.naturalWidth || W()}px`;
  }

  function toImage(evt) {
    const rect = canvas.getBoundingClientRect();
    const w = W(), h = H();
    let x = ((evt.clientX - rect.left) * w) / rect.width;
    let y = ((evt.clientY - rect.top) * h) / rect.height;
    x = Math.min(Math.max(x, 0), w - 1e-3);
    y = Math.min(Math.max(y, 0), h - 1e-3);
    return { x: Math.round(x * 100) / 100, y: Math.round(y * 100) / 100 };
  }

  function draw() {
    if (!photo.naturalWidth) return;
    if (canvas.width !== photo.naturalWidth) canvas.width = photo.naturalWidth;
    if (canvas.height !== photo.naturalHeight) canvas.height = photo.naturalHeight;
    const s = canvas.width / W(); // image pixels -> canvas pixels
    const rect = canvas.getBoundingClientRect();
    const px = rect.width > 0 ? canvas.width / rect.width : 1; // CSS px -> canvas pixels
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(photo, 0, 0);
    if (overlayReady && model.get("overlay_src")) ctx.drawImage(overlay, 0, 0, canvas.width, canvas.height);
    const box = model.get("box") || [];
    if (box.length === 4) {
      ctx.lineWidth = 2.5 * px;
      ctx.strokeStyle = "#00e000";
      ctx.strokeRect(box[0] * s, box[1] * s, (box[2] - box[0]) * s, (box[3] - box[1]) * s);
    }
    if (drag && drag.active) {
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = "#ffff00";
      const x0 = Math.min(drag.x0, drag.x1), y0 = Math.min(drag.y0, drag.y1);
      ctx.strokeRect(x0 * s, y0 * s, Math.abs(drag.x1 - drag.x0) * s, Math.abs(drag.y1 - drag.y0) * s);
      ctx.setLineDash([]);
    }
    const pts = model.get("points") || [];
    const labels = model.get("labels") || [];
    pts.forEach((p, i) => {
      ctx.beginPath();
      ctx.arc(p[0] * s, p[1] * s, 6 * px, 0, 2 * Math.PI);
      ctx.fillStyle = labels[i] === 1 ? "#00c800" : "#e60000";
      ctx.fill();
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    });
    root.classList.toggle("cu-sam-busy", pending || model.get("busy"));
  }

  function loadPhoto() {
    photo.onload = () => { applySize(); draw(); };
    photo.src = model.get("image_src");
  }
  function loadOverlay() {
    const src = model.get("overlay_src");
    overlayReady = false;
    if (!src) { draw(); return; }
    overlay.onload = () => { overlayReady = true; pending = false; draw(); };
    overlay.src = src;
  }

  function send(msg) {
    pending = true;
    draw();
    model.send(msg);
  }

  canvas.addEventListener("contextmenu", (e) => { e.preventDefault(); e.stopPropagation(); });
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 && e.button !== 2) return;
    const p = toImage(e);
    const negative = e.button === 2 || e.shiftKey || e.altKey || model.get("mode") === "negative";
    drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y, cx: e.clientX, cy: e.clientY, negative, active: false };
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* synthetic events */ }
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const p = toImage(e);
    drag.x1 = p.x;
    drag.y1 = p.y;
    if (Math.hypot(e.clientX - drag.cx, e.clientY - drag.cy) > DRAG_PX) drag.active = true;
    if (drag.active) draw();
  });
  canvas.addEventListener("pointerup", (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.active) {
      const p = toImage(e);
      const box = [Math.min(d.x0, p.x), Math.min(d.y0, p.y), Math.max(d.x0, p.x), Math.max(d.y0, p.y)];
      if (box[2] > box[0] && box[3] > box[1]) send({ event: "box", box });
      else draw();
    } else {
      send({ event: "point", x: d.x0, y: d.y0, label: d.negative ? 0 : 1 });
    }
  });
  canvas.addEventListener("pointercancel", () => { drag = null; draw(); });

  model.on("change:image_src", loadPhoto);
  model.on("change:overlay_src", loadOverlay);
  model.on("change:points", () => { pending = false; draw(); });
  model.on("change:labels", draw);
  model.on("change:box", () => { pending = false; draw(); });
  model.on("change:busy", draw);
  model.on("change:display_width", () => { applySize(); draw(); });
  model.on("msg:custom", (msg) => { if (msg && msg.event === "done") { pending = false; draw(); } });

  loadPhoto();
  loadOverlay();
  return () => { photo.onload = null; overlay.onload = null; };
}

export default { render };
