// One run: the sample grids as a time-lapse, the training charts, the options; refreshed while it trains.
"use strict";
(() => {
  const run = document.body.dataset.run;
  const scrub = document.getElementById("scrub"), image = document.getElementById("timelapse-image");
  const caption = document.getElementById("timelapse-caption"), play = document.getElementById("play");
  let details = null, grids = [], timer = null, charts = {};

  function showGrid(index) {
    const grid = grids[index];
    if (!grid) return;
    image.src = kgan.file(run, grid.file);
    image.alt = `sample grid at step ${grid.step}`;
    caption.textContent = `step ${kgan.number(grid.step)} · ${kgan.elapsed(grid.elapsed)}  (${index + 1} of ${grids.length})`;
  }
  scrub.addEventListener("input", () => showGrid(Number(scrub.value)));
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    if (Number(scrub.value) >= grids.length - 1) scrub.value = 0;
    play.textContent = "Pause";
    timer = setInterval(() => {
      const next = Number(scrub.value) + 1;
      if (next >= grids.length) { stop(); return; }
      scrub.value = next;
      showGrid(next);
    }, 250);
  });
  function stop() { clearInterval(timer); timer = null; play.textContent = "Play"; }

  document.getElementById("save-timelapse").addEventListener("click", async (event) => {
    const button = event.target;
    button.disabled = true;
    button.textContent = "Saving…";
    try {
      const result = await kgan.post(`/api/runs/${encodeURIComponent(run)}/timelapse`, {});
      document.getElementById("timelapse-result").replaceChildren("Saved ",
        kgan.element("a", { href: kgan.file(run, result.video, true) }, result.video),
        ` (${result.frames} frames). The same from a terminal: `, kgan.element("code", { class: "command" }, result.command));
    } catch (error) {
      kgan.toast(error.message);
    } finally {
      button.disabled = false;
      button.textContent = "Save as video";
    }
  });

  function table(id, rows) {
    document.getElementById(id).replaceChildren(...rows.map(([key, value]) => {
      const row = kgan.element("tr");
      row.append(kgan.element("td", {}, key), kgan.element("td", {}, value === null || value === undefined ? "-" : String(value)));
      return row;
    }));
  }

  function chart(id, title, series, xs, columns, yLabel) {
    const element = document.getElementById(id);
    const width = Math.max(280, element.clientWidth || 480);
    const colours = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#868e96", "#f08c00"];
    const data = [xs, ...columns];
    if (charts[id] && charts[id].series.length === data.length) { charts[id].setData(data); return; }
    if (charts[id]) charts[id].destroy();
    charts[id] = new uPlot({
      title, width, height: 180,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: yLabel, size: 60 }],
      series: [{ label: "step" }, ...series.map((name, i) => ({ label: name, stroke: colours[i % colours.length], width: 1.5, spanGaps: true }))],
    }, data, element);
  }

  function render() {
    const s = details.summary, data = details.data;
    document.getElementById("run-summary").textContent =
      `${data.path || s.data || "?"} · ${kgan.number(data.images)} images at ${s.shape} · ${s.kind} · ` +
      `step ${kgan.number(s.step)} · ${kgan.elapsed(s.elapsed_seconds)}` + (s.best_fid !== null ? ` · best FID ${kgan.number(s.best_fid, 2)}` : "");
    document.getElementById("explore-link").hidden = !details.has_checkpoint;
    const atEnd = grids.length === 0 || Number(scrub.value) >= grids.length - 1;
    grids = details.grids;
    scrub.max = Math.max(0, grids.length - 1);
    if (atEnd && !timer) { scrub.value = scrub.max; showGrid(grids.length - 1); }
    const command = document.getElementById("timelapse-command");
    if (command) command.textContent = details.timelapse_command;

    const v = details.series, xs = v.step;
    chart("chart-losses", "Losses", ["D loss", "G loss"], xs, [v.d_loss, v.g_loss], "loss");
    chart("chart-d", "D(x) and D(G(z))", ["D(x)", "D(G(z))"], xs, [v.d_real, v.d_fake], "D");
    chart("chart-speed", "Images per second", ["images/s"], xs, [v.images_per_second], "images/s");
    const metrics = details.metrics;
    document.getElementById("no-metrics").hidden = metrics.length > 0;
    document.getElementById("chart-metrics").hidden = metrics.length === 0;
    if (metrics.length) {
      chart("chart-metrics", "FID and KID×1000", ["FID", "KID×1000"], metrics.map((m) => m.step),
        [metrics.map((m) => m.fid), metrics.map((m) => (m.kid === null ? null : m.kid * 1000))], "distance");
    }
    table("options", Object.entries(details.options).filter(([, value]) => value !== null && value !== false));
    table("choices", Object.entries(details.choices));
    document.getElementById("skipped-none").hidden = details.skipped.length > 0;
    table("skipped", details.skipped.map((entry) => [entry.file || entry.path || "?", entry.reason || ""]));
  }

  async function refresh() {
    try {
      details = await kgan.json(`/api/runs/${encodeURIComponent(run)}`);
      render();
    } catch (error) {
      kgan.toast(error.message);
    }
  }
  refresh();
  setInterval(refresh, 5000);
})();
