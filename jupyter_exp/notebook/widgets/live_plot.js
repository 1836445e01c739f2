// Live metrics plot: one small SVG per metric, step on x, hover shows the nearest value.
// Dependency-free on purpose: a saved notebook carries this file once per plot.
const NS = "http://www.w3.org/2000/svg";
const W = 290, H = 150, L = 56, R = 8, T = 18, B = 18;

function fmt(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return String(+v.toPrecision(4));
}

// Keep the min and max of each bucket and the last point (same rule as the kernel side).
function downsample(points, max) {
  if (points.length <= max) return points;
  const buckets = Math.max(1, Math.floor(max / 2)), size = points.length / buckets, out = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size), end = Math.min(points.length, Math.floor((b + 1) * size));
    if (start >= end) continue;
    let lo = start, hi = start;
    for (let i = start; i < end; i++) {
      if (points[i][1] < points[lo][1]) lo = i;
      if (points[i][1] > points[hi][1]) hi = i;
    }
    if (lo === hi) out.push(points[lo]);
    else out.push(points[Math.min(lo, hi)], points[Math.max(lo, hi)]);
  }
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

function svgEl(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function makePanel(name, grid) {
  const svg = svgEl("svg", { class: "jx-live-panel", "data-metric": name, width: W, height: H,
    viewBox: `0 0 ${W} ${H}` });
  svgEl("text", { x: L, y: 12, class: "jx-live-name" }, svg).textContent = name;
  svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "jx-live-frame" }, svg);
  const line = svgEl("polyline", { class: "jx-live-line" }, svg);
  const labels = ["yMax", "yMin", "xMin", "xMax", "last"].map((key) => [key, svgEl("text", { class: "jx-live-tick" }, svg)]);
  const cursor = svgEl("g", { class: "jx-live-cursor", visibility: "hidden" }, svg);
  const guide = svgEl("line", { y1: T, y2: H - B }, cursor);
  const dot = svgEl("circle", { r: 3 }, cursor);
  const tip = svgEl("text", { y: T + 10 }, cursor);
  grid.appendChild(svg);
  const panel = { svg, points: [], scale: null };
  const ticks = Object.fromEntries(labels);

  panel.draw = (points) => {
    panel.points = points;
    if (!points.length) return;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [x, y] of points) {
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const sx = (x1 - x0) || 1, sy = (y1 - y0) || 1;
    const px = (x) => L + ((x - x0) / sx) * (W - L - R);
    const py = (y) => T + (1 - (y - y0) / sy) * (H - T - B);
    panel.scale = { px, py, x0, sx };
    line.setAttribute("points", points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" "));
    const place = (key, x, y, anchor, text) => {
      const node = ticks[key];
      node.setAttribute("x", x); node.setAttribute("y", y); node.setAttribute("text-anchor", anchor);
      node.textContent = text;
    };
    place("yMax", L - 4, T + 8, "end", fmt(y1));
    place("yMin", L - 4, H - B, "end", fmt(y0));
    place("xMin", L, H - 4, "start", fmt(x0));
    place("xMax", W - R, H - 4, "end", fmt(x1));
    place("last", W - R, 12, "end", `last ${fmt(points[points.length - 1][1])}`);
  };

  svg.addEventListener("mousemove", (event) => {
    const { points, scale } = panel;
    if (!points.length || !scale) return;
    const box = svg.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * W;
    const step = scale.x0 + ((x - L) / (W - L - R)) * scale.sx;
    let lo = 0, hi = points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid][0] < step) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(points[lo - 1][0] - step) < Math.abs(points[lo][0] - step)) lo -= 1;
    const [sx, sy] = points[lo];
    const cx = scale.px(sx), cy = scale.py(sy);
    guide.setAttribute("x1", cx); guide.setAttribute("x2", cx);
    dot.setAttribute("cx", cx); dot.setAttribute("cy", cy);
    tip.setAttribute("x", cx < W / 2 ? cx + 4 : cx - 4);
    tip.setAttribute("text-anchor", cx < W / 2 ? "start" : "end");
    tip.textContent = `step ${fmt(sx)}: ${fmt(sy)}`;
    cursor.setAttribute("visibility", "visible");
  });
  svg.addEventListener("mouseleave", () => cursor.setAttribute("visibility", "hidden"));
  return panel;
}

function render({ model, el }) {
  el.classList.add("jx-live-plot");
  const head = document.createElement("div");
  head.className = "jx-live-head";
  const title = document.createElement("span");
  const badge = document.createElement("span");
  head.append(title, badge);
  const grid = document.createElement("div");
  grid.className = "jx-live-grid";
  el.append(head, grid);

  const panels = new Map();
  let saved = model.get("series_json");
  let data = JSON.parse(saved);
  let pending = false;

  const draw = () => {
    pending = false;
    title.textContent = model.get("title");
    const running = model.get("running");
    badge.className = running ? "jx-live-badge jx-running" : "jx-live-badge";
    badge.textContent = running ? "live" : "done";
    for (const name of Object.keys(data).sort()) {
      if (!panels.has(name)) panels.set(name, makePanel(name, grid));
      panels.get(name).draw(data[name]);
    }
  };
  const schedule = () => {
    if (!pending) { pending = true; requestAnimationFrame(draw); }
  };

  const onMessage = (msg) => {
    if (!msg || !msg.series) return;
    if (msg.type === "reset") {
      data = { ...msg.series };
    } else if (msg.type === "points") {
      const max = model.get("max_points");
      data = { ...data };
      for (const [name, pts] of Object.entries(msg.series)) {
        const merged = (data[name] || []).concat(pts);
        data[name] = merged.length > 2 * max ? downsample(merged, max) : merged;
      }
    }
    // Local set, never saved to the kernel: a notebook saved mid-run still holds the latest curves.
    saved = JSON.stringify(data);
    model.set("series_json", saved);
    schedule();
  };
  const onSeries = () => {
    if (model.get("series_json") !== saved) { saved = model.get("series_json"); data = JSON.parse(saved); schedule(); }
  };

  model.on("msg:custom", onMessage);
  model.on("change:series_json", onSeries);
  model.on("change:running", schedule);
  model.on("change:title", schedule);
  draw();
  if (model.get("running")) model.send({ type: "sync" });
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:series_json", onSeries);
    model.off("change:running", schedule);
    model.off("change:title", schedule);
  };
}

export default { render };
