// The explorer: grids from a seed, a picture large, walks between chosen pictures, uploads projected.
"use strict";
(() => {
  const run = document.body.dataset.run, api = `/api/runs/${encodeURIComponent(run)}`;
  const $ = (id) => document.getElementById(id);
  let generator = null, current = null, drawing = 0, walk = [], chosen = null, animation = null, projected = null;

  function gridParams() {
    const params = { seed: Number($("seed").value), n: Number($("count").value) };
    const truncation = Number($("truncation").value);
    if (truncation < 1) params.truncation = truncation;
    if ($("label").value !== "") params.label = $("label").value;
    const codes = [];
    document.querySelectorAll("[data-code]").forEach((control) => {
      const enabled = control.dataset.kind === "category" ? control.value !== "" : $(`fix-${control.dataset.code}`).checked;
      if (enabled) codes.push(`${control.dataset.code}:${control.value}`);
    });
    if (codes.length) params.codes = codes.join(",");
    return params;
  }

  async function draw() {
    const params = gridParams(), ticket = ++drawing;
    $("grid").setAttribute("aria-busy", "true");
    try {
      const result = await kgan.json(`${api}/grid?${new URLSearchParams(params)}`);
      if (ticket !== drawing) return;
      current = { params, result };
      const columns = Math.ceil(Math.sqrt(result.images.length));
      $("grid").style.setProperty("--columns", columns);
      $("grid").replaceChildren(...result.images.map((src, index) => {
        const img = kgan.element("img", { src, alt: `seed ${params.seed}, picture ${index}`, "data-index": index, class: "pixelated" });
        img.addEventListener("click", () => choose(index));
        return img;
      }));
      $("grid-command").textContent = result.command || "(codes set by hand: use Save grid, which saves their latents)";
      $("generator-line").textContent = describe(result.step);
    } catch (error) {
      kgan.toast(error.message);
    } finally {
      if (ticket === drawing) $("grid").setAttribute("aria-busy", "false");
    }
  }

  function describe(step) {
    const g = generator;
    return `Step ${kgan.number(step)}, ${g.moving_average ? "moving average of G" : "G"}, ${g.resolution} px` +
      (g.classes.length ? `, ${g.classes.length} classes` : "") + (g.codes.length ? `, ${g.codes.length} InfoGAN codes` : "");
  }

  function choose(index) {
    const src = current.result.images[index];
    document.querySelectorAll("#grid img").forEach((img) => img.classList.toggle("chosen", Number(img.dataset.index) === index));
    chosen = { src, key: { ...current.params, index }, label: `seed ${current.params.seed}, picture ${index}` };
    $("large").hidden = false;
    $("large-image").src = src;
    $("large-caption").textContent = `${chosen.label} (the ${ordinal(index + 1)} of kgan sample --seed ${current.params.seed})`;
    $("download-image").href = src;
    $("download-image").download = `${run}-seed${current.params.seed}-${index}.png`;
  }
  function ordinal(n) { return n + (["th", "st", "nd", "rd"][(n % 100 - 20) % 10] || ["th", "st", "nd", "rd"][n % 100] || "th"); }

  function addToWalk(item) {
    walk.push(item);
    renderWalk();
  }
  function renderWalk() {
    $("walk-keys").replaceChildren(...walk.map((item, i) => {
      const figure = kgan.element("figure");
      const remove = kgan.element("button", { type: "button", title: "remove", class: "secondary" }, "×");
      remove.addEventListener("click", () => { walk.splice(i, 1); renderWalk(); });
      figure.append(kgan.element("img", { src: item.src, alt: item.label, class: "pixelated" }), remove);
      return figure;
    }));
    $("walk-empty").hidden = walk.length > 0;
    $("preview-walk").disabled = $("save-video").disabled = walk.length < 2;
  }
  function walkBody() {
    const body = { keys: walk.map((item) => item.key) };
    const truncation = Number($("truncation").value);
    if (truncation < 1) body.truncation = truncation;
    return body;
  }

  async function previewWalk() {
    $("preview-walk").disabled = true;
    try {
      const result = await kgan.post(`${api}/walk`, walkBody());
      clearInterval(animation);
      let frame = 0;
      $("walk-frame").hidden = false;
      $("walk-frame").dataset.frames = result.frames.length;
      const show = () => { $("walk-frame").src = result.frames[frame]; $("walk-frame").dataset.frame = frame; frame = (frame + 1) % result.frames.length; };
      show();
      animation = setInterval(show, 120);
    } catch (error) {
      kgan.toast(error.message);
    } finally {
      $("preview-walk").disabled = walk.length < 2;
    }
  }

  async function saveVideo() {
    $("save-video").disabled = true;
    $("save-video").textContent = "Saving…";
    try {
      const result = await kgan.post(`${api}/video`, walkBody());
      const line = $("walk-result");
      line.hidden = false;
      line.replaceChildren("Saved ", kgan.element("a", { href: kgan.file(run, result.video, true) }, result.video),
        ` (${result.frames} frames). The same from a terminal: `, kgan.element("code", { class: "command" }, result.command));
    } catch (error) {
      kgan.toast(error.message);
    } finally {
      $("save-video").textContent = "Save as video";
      $("save-video").disabled = walk.length < 2;
    }
  }

  async function saveGrid() {
    try {
      const result = await kgan.post(`${api}/save`, gridParams());
      const line = $("saved-grid");
      line.hidden = false;
      line.replaceChildren("Saved ", kgan.element("a", { href: kgan.file(run, result.grid, true) }, result.grid),
        " and each picture beside it. The same from a terminal: ", kgan.element("code", { class: "command" }, result.command));
    } catch (error) {
      kgan.toast(error.message);
    }
  }

  async function project(event) {
    event.preventDefault();
    const file = $("upload").files[0];
    if (!file) { kgan.toast("choose a picture first"); return; }
    const form = new FormData();
    form.append("image", file);
    $("project").disabled = true;
    $("project").textContent = "Projecting…";
    try {
      const result = await kgan.json(`${api}/project`, { method: "POST", body: form });
      projected = { src: result.reconstruction, key: { latent: result.latent }, label: file.name };
      $("projection").hidden = false;
      $("projection-target").src = result.target;
      $("projection-image").src = result.reconstruction;
      $("projection-caption").replaceChildren(`PSNR ${result.psnr} dB. Download the `,
        kgan.element("a", { href: kgan.file(run, result.latent, true) }, "generator input (.npy)"), " or the ",
        kgan.element("a", { href: kgan.file(run, result.comparison, true) }, "comparison"),
        ". The same from a terminal: ", kgan.element("code", { class: "command" }, result.command));
    } catch (error) {
      kgan.toast(error.message);
    } finally {
      $("project").disabled = false;
      $("project").textContent = "Project";
    }
  }

  function controls() {
    const picker = $("label");
    generator.classes.forEach((name, i) => picker.append(kgan.element("option", { value: name }, `${i}: ${name}`)));
    $("class-picker").hidden = generator.classes.length === 0;
    for (const code of generator.codes) {
      const label = kgan.element("label", {}, `${code.name} `);
      if (code.kind === "category") {
        const select = kgan.element("select", { "data-code": code.code, "data-kind": code.kind });
        select.append(kgan.element("option", { value: "" }, "random"));
        for (let i = 0; i < code.count; i++) select.append(kgan.element("option", { value: i }, String(i)));
        select.addEventListener("change", draw);
        label.append(select);
      } else {
        const fix = kgan.element("input", { type: "checkbox", id: `fix-${code.code}`, title: "set this code for every picture" });
        const slider = kgan.element("input", { type: "range", min: code.min, max: code.max, step: "0.1", value: "0", "data-code": code.code, "data-kind": code.kind });
        const out = kgan.element("output", {}, "0.0");
        slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(1); fix.checked = true; });
        slider.addEventListener("change", draw);
        fix.addEventListener("change", draw);
        label.append(fix, slider, out);
      }
      $("code-controls").append(label);
    }
  }

  async function start() {
    try {
      generator = await kgan.json(`${api}/generator`);
    } catch (error) {
      $("generator-line").textContent = error.message;
      return;
    }
    controls();
    await draw();
  }

  $("grid-form").addEventListener("submit", (event) => { event.preventDefault(); draw(); });
  $("seed").addEventListener("change", draw);
  $("count").addEventListener("change", draw);
  $("label").addEventListener("change", draw);
  $("new-seed").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 4294967295); draw(); });
  $("truncation").addEventListener("input", () => { $("truncation-value").textContent = Number($("truncation").value).toFixed(2); });
  $("truncation").addEventListener("change", draw);
  $("save-grid").addEventListener("click", saveGrid);
  $("add-to-walk").addEventListener("click", () => { if (chosen) addToWalk(chosen); });
  $("projection-to-walk").addEventListener("click", () => { if (projected) addToWalk(projected); });
  $("preview-walk").addEventListener("click", previewWalk);
  $("save-video").addEventListener("click", saveVideo);
  $("clear-walk").addEventListener("click", () => { walk = []; renderWalk(); clearInterval(animation); $("walk-frame").hidden = true; });
  $("upload-form").addEventListener("submit", project);
  $("seed").value = Math.floor(Math.random() * 100000);
  renderWalk();
  start();
})();
