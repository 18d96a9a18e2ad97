// Shared by the pages: fetching JSON with one-line errors, formatting, the toast, copyable commands.
"use strict";
const kgan = {
  async json(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      throw new Error("the kgan server does not answer (is it still running?)");
    }
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    return body;
  },
  post(url, body) {
    return kgan.json(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  },
  elapsed(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return [h, m, s % 60].map((part) => String(part).padStart(2, "0")).join(":");
  },
  number(value, digits) {
    if (value === null || value === undefined) return "-";
    return digits === undefined ? value.toLocaleString("en") : value.toFixed(digits);
  },
  toast(message, ok) {
    const toast = document.getElementById("toast");
    toast.textContent = message;
    toast.classList.toggle("ok", !!ok);
    toast.hidden = false;
    clearTimeout(kgan._toastTimer);
    kgan._toastTimer = setTimeout(() => { toast.hidden = true; }, ok ? 2500 : 7000);
  },
  file(run, relative, download) {
    return `/files/${encodeURIComponent(run)}/${relative.split("/").map(encodeURIComponent).join("/")}` + (download ? "?download=1" : "");
  },
  element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  },
};
document.addEventListener("click", (event) => {
  const code = event.target.closest("code.command");
  if (code && navigator.clipboard) navigator.clipboard.writeText(code.textContent).then(() => kgan.toast("command copied", true), () => {});
});
