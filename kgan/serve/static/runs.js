// The runs list: every run in the folder, sortable, refreshed while runs train.
"use strict";
(() => {
  const body = document.querySelector("#runs tbody");
  let runs = [], sortKey = "created_at", ascending = false;

  function value(run, key) {
    const v = run[key];
    return v === null || v === undefined ? (ascending ? Infinity : -Infinity) : v;
  }
  function render() {
    const sorted = [...runs].sort((a, b) => {
      const x = value(a, sortKey), y = value(b, sortKey);
      const order = typeof x === "string" && typeof y === "string" ? x.localeCompare(y) : (x > y) - (x < y);
      return ascending ? order : -order;
    });
    document.querySelectorAll("#runs th[data-sort]").forEach((th) => {
      th.classList.toggle("sorted-asc", th.dataset.sort === sortKey && ascending);
      th.classList.toggle("sorted-desc", th.dataset.sort === sortKey && !ascending);
    });
    body.replaceChildren(...sorted.map((run) => {
      const row = kgan.element("tr", { "data-run": run.name });
      const thumb = kgan.element("td");
      if (run.grid) {
        const link = kgan.element("a", { href: `/run/${encodeURIComponent(run.name)}` });
        link.append(kgan.element("img", { src: kgan.file(run.name, run.grid) + `?step=${run.grid_step}`, alt: `${run.name} at step ${run.grid_step}`, loading: "lazy" }));
        thumb.append(link);
      }
      const name = kgan.element("td");
      name.append(kgan.element("a", { href: `/run/${encodeURIComponent(run.name)}`, class: "run-name" }, run.name), " ");
      name.append(kgan.element("a", { href: `/run/${encodeURIComponent(run.name)}/explore`, class: "hint" }, "explore"));
      row.append(thumb, name,
        kgan.element("td", {}, run.data || "-"),
        kgan.element("td", {}, run.shape),
        kgan.element("td", {}, run.kind),
        kgan.element("td", { class: "num" }, kgan.number(run.step)),
        kgan.element("td", { class: "num" }, kgan.elapsed(run.elapsed_seconds)),
        kgan.element("td", { class: "num" }, kgan.number(run.best_fid, 2)),
        kgan.element("td", {}, (run.created_at || "-").replace("T", " ").replace("+00:00", " UTC")));
      return row;
    }));
    document.getElementById("runs-empty").hidden = runs.length > 0;
  }
  async function refresh() {
    try {
      runs = (await kgan.json("/api/runs")).runs;
      render();
    } catch (error) {
      kgan.toast(error.message);
    }
  }
  document.querySelectorAll("#runs th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    if (sortKey === th.dataset.sort) ascending = !ascending; else { sortKey = th.dataset.sort; ascending = true; }
    render();
  }));
  refresh();
  setInterval(refresh, 4000);
})();
