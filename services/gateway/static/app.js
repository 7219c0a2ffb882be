// Catalog web page: one page for "/" (upload, jobs list) and "/jobs/{id}" (progress and
// gallery). Plain JS, no build step. Every call to the API goes through api(), which adds
// the key; files are fetched with the key too and shown through blob: URLs, because an
// <img src> or a download link cannot send a header.
"use strict";

const KEY_STORAGE = "catalog.apiKey";
const POLL_MS = 1000;
const FINISHED = new Set(["succeeded", "partial", "failed"]);
const $ = (sel, root = document) => root.querySelector(sel);

// --- the API key ----------------------------------------------------------------------

function apiKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
  } catch { /* storage off (private mode): the key lives until the page closes */ }
  memoryKey = key;
}
let memoryKey = null;
const currentKey = () => memoryKey ?? apiKey();

function showKeyPanel(message) {
  const panel = $("#key-panel");
  panel.hidden = false;
  $("#key-toggle").setAttribute("aria-expanded", "true");
  $("#key-message").textContent = message || "";
  $("#api-key").value = currentKey();
  if (message) $("#api-key").focus();
}

function hideKeyPanel() {
  $("#key-panel").hidden = true;
  $("#key-toggle").setAttribute("aria-expanded", "false");
}

class AuthError extends Error {}
class ApiError extends Error {
  constructor(status, body, message) { super(message); this.status = status; this.body = body; }
}

function keyHeaders() {
  const key = currentKey();
  return key ? { "X-API-Key": key } : {};
}

function onUnauthorized() {
  const had = currentKey();
  showKeyPanel(had
    ? "This API key was not accepted. Enter a valid key to continue."
    : "This server needs an API key. Enter your key to continue.");
  return new AuthError("API key needed");
}

// A 401 to a request sent with a key since replaced (one in flight while the user saved a
// new key) says nothing about the new key: the panel is not opened again for it.
function unauthorized(sentKey) {
  return sentKey === currentKey() ? onUnauthorized() : new AuthError("API key changed");
}

// A readable sentence from an error answer: FastAPI's detail is a string or a list of
// {loc, msg}; a proxy may answer with plain text or HTML.
function describe(status, body) {
  if (body && typeof body === "object") {
    const d = body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) {
      return d.map((e) => {
        const field = Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body" && p !== "query").join(".") : "";
        return field ? `${field}: ${e.msg}` : e.msg;
      }).join("; ");
    }
  }
  if (status === 413) return "The upload is too large.";
  if (status === 404) return "Not found.";
  if (status >= 500) return `The server failed (${status}). Try again later.`;
  return `Request failed (${status}).`;
}

async function readBody(response) {
  const text = await response.text();
  try { return JSON.parse(text); } catch { return text; }
}

async function api(path, options = {}) {
  const sent = currentKey();
  const response = await fetch(path, { ...options, headers: { ...keyHeaders(), ...(options.headers || {}) } });
  if (response.status === 401) throw unauthorized(sent);
  if (response.status === 204) return null;
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, body, describe(response.status, body));
  return body;
}

// The manifest's file URLs are absolute; the page always asks its own origin (the gateway
// that served it), whatever host the links were written with.
function sameOrigin(url) {
  const u = new URL(url, location.href);
  return u.origin === location.origin ? u.href : u.pathname + u.search;
}

// --- blob URLs for images and downloads -------------------------------------------------

const blobs = new Map(); // file URL -> Promise<blob: URL>, for the job on screen

function blobUrl(url) {
  if (!blobs.has(url)) {
    const p = (async () => {
      const sent = currentKey();
      const response = await fetch(sameOrigin(url), { headers: keyHeaders() });
      if (response.status === 401) throw unauthorized(sent);
      if (!response.ok) throw new Error(`${response.status} for ${url}`);
      return URL.createObjectURL(await response.blob());
    })();
    p.catch(() => blobs.delete(url)); // a failed fetch may be retried later
    blobs.set(url, p);
  }
  return blobs.get(url);
}

function releaseBlobs() {
  for (const p of blobs.values()) p.then((u) => URL.revokeObjectURL(u), () => {});
  blobs.clear();
}

function showImage(img, url) {
  img.dataset.src = url;
  blobUrl(url).then((u) => { img.src = u; }, () => {
    img.alt = `${img.alt} (could not be loaded)`;
    img.classList.add("broken");
  });
}

// Saves a file through a temporary <a download> on a blob: URL.
async function download(url, name, button) {
  const label = button ? button.textContent : "";
  if (button) { button.disabled = true; button.textContent = "Downloading…"; }
  try {
    const href = await blobUrl(url);
    const a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    if (!(err instanceof AuthError)) alert(`Download failed: ${err.message}`);
  } finally {
    if (button) { button.disabled = false; button.textContent = label; }
  }
}

// --- small DOM helpers ----------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

// An SVG element, as el() makes an HTML one: each attribute set as given, "text" its text.
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const basename = (path) => String(path || "").split(/[\\/]/).pop();
const percent = (x) => `${Math.round(x * 100)}%`;

function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// --- routing --------------------------------------------------------------------------

let view = null; // {stop()} of the view on screen

function route() {
  if (view) view.stop();
  view = null;
  clearTimeout(jobsTimer);
  const m = location.pathname.match(/^\/jobs\/([^/]+)\/?$/);
  $("#home-view").hidden = Boolean(m);
  $("#job-view").hidden = !m;
  if (m) {
    view = jobView(decodeURIComponent(m[1]));
  } else {
    document.title = "Catalog";
    loadJobs();
    loadUploadStyles();
    if (location.hash === "#jobs") $("#jobs").scrollIntoView();
  }
}

function navigate(path) {
  history.pushState(null, "", path);
  route();
  $("#main").focus({ preventScroll: true });
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  if (url.pathname === location.pathname && url.hash) {
    history.pushState(null, "", url.pathname + url.hash);
    const target = document.getElementById(url.hash.slice(1));
    if (target) target.scrollIntoView();
    return;
  }
  navigate(url.pathname + url.hash);
});
window.addEventListener("popstate", route);

// --- style guides ---------------------------------------------------------------------

// GET /v1/styles: {default, styles: [{name, description, builtin, sha256}]}.
const loadStyles = () => api("/v1/styles");

// Fills a <select> with the guides' names (built-ins first, as the server lists them),
// after `first` options; keeps `chosen` when it is still there.
function fillStyleSelect(select, styles, chosen, first = []) {
  select.replaceChildren(...first, ...styles.map((g) => el("option", {
    value: g.name, text: g.builtin ? g.name : `${g.name} (mine)`, title: g.description || null,
  })));
  if (chosen !== null && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

// The upload form's select: the key's default is preselected until the user picks one.
async function loadUploadStyles() {
  const select = $("#style");
  try {
    const list = await loadStyles();
    const chosen = select.dataset.touched ? select.value : (list.default || "none");
    fillStyleSelect(select, list.styles, chosen, [el("option", { value: "none", text: "none (aspect and padding)" })]);
  } catch {
    // No key yet (the key panel says so) or a server without guides: "none" stays.
  }
}

// --- upload ---------------------------------------------------------------------------

let chosen = []; // File objects picked or dropped

function addFiles(list) {
  for (const f of list) chosen.push(f);
  renderChosen();
}

function renderChosen() {
  const list = $("#chosen-list");
  list.replaceChildren(...chosen.map((f, i) => el("li", {},
    el("span", { class: "name", text: f.name }),
    el("span", { class: "hint", text: formatSize(f.size) }),
    el("button", {
      type: "button", class: "link", text: "Remove", "aria-label": `Remove ${f.name}`,
      onclick: () => { chosen.splice(i, 1); renderChosen(); $("#files").focus(); },
    }),
  )));
  $("#chosen").hidden = chosen.length === 0;
  const total = chosen.reduce((s, f) => s + f.size, 0);
  $("#chosen-summary").textContent = `${chosen.length} photo${chosen.length === 1 ? "" : "s"} chosen (${formatSize(total)})`;
}

function setupUpload() {
  const input = $("#files");
  const zone = $("#drop-zone");
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = ""; // picking the same file again still fires change
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
  });
  // A photo dropped beside the zone must not replace the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  $("#chosen-clear").addEventListener("click", () => { chosen = []; renderChosen(); input.focus(); });
  $("#background").addEventListener("change", (e) => {
    $("#background-color").hidden = e.target.value !== "custom";
  });
  $("#style").addEventListener("change", (e) => { e.target.dataset.touched = "1"; });
  $("#listings").addEventListener("change", (e) => { $("#listings-clear").hidden = !e.target.files.length; });
  $("#listings-clear").addEventListener("click", () => { clearListings(); $("#listings").focus(); });
  $("#upload-form").addEventListener("submit", (e) => { e.preventDefault(); submitJob(); });
}

function clearListings() {
  $("#listings").value = "";
  $("#listings-clear").hidden = true;
}

function showUploadError(message, files) {
  const box = $("#upload-error");
  box.replaceChildren(el("p", { text: message }));
  if (files && files.length) {
    box.append(el("ul", {}, files.map((f) => el("li", {},
      el("strong", { text: f.name }), `: ${f.error}`))));
  }
  box.hidden = false;
}

// POST /v1/jobs with XMLHttpRequest, which, unlike fetch, reports upload progress.
function postJob(form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/jobs");
    for (const [k, v] of Object.entries(keyHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let body = xhr.responseText;
      try { body = JSON.parse(body); } catch { /* not JSON */ }
      if (xhr.status === 401) reject(onUnauthorized());
      else if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body, describe(xhr.status, body)));
    });
    xhr.addEventListener("error", () => reject(new Error("The server could not be reached.")));
    xhr.send(form);
  });
}

async function submitJob() {
  const errorBox = $("#upload-error");
  errorBox.hidden = true;
  if (!chosen.length) {
    showUploadError("Choose at least one photo.");
    $("#files").focus();
    return;
  }
  const garments = [...document.querySelectorAll('input[name="garments"]:checked')].map((c) => c.value);
  if (!garments.length) {
    showUploadError("Pick at least one garment crop.");
    return;
  }
  const listingsFile = $("#listings").files[0];
  let listings = null;
  if (listingsFile) {
    try {
      listings = await listingsText(listingsFile);
    } catch (err) {
      showUploadError(err.message);
      $("#listings").focus();
      return;
    }
  }
  const form = new FormData();
  for (const f of chosen) form.append("files", f, f.name);
  if (listings !== null) form.append("listings", listings);
  form.append("garments", garments.join(","));
  form.append("aspect", $("#aspect").value);
  const bg = $("#background").value;
  form.append("background", bg === "custom" ? $("#background-color").value : bg);
  form.append("format", $("#format").value);
  if ($("#style").value) form.append("style", $("#style").value);

  const button = $("#upload-button");
  const bar = $("#upload-progress");
  button.disabled = true;
  button.textContent = "Uploading…";
  bar.hidden = false;
  bar.value = 0;
  try {
    const job = await postJob(form, (x) => { bar.value = x; });
    chosen = [];
    renderChosen();
    clearListings();
    navigate(`/jobs/${encodeURIComponent(job.id)}`);
  } catch (err) {
    if (err instanceof AuthError) {
      showUploadError("The upload needs an API key: enter it above, then upload again.");
    } else if (err instanceof ApiError && err.body && Array.isArray(err.body.files)) {
      showUploadError(err.message || "No file could be accepted.", err.body.files);
    } else {
      showUploadError(err.message);
    }
  } finally {
    button.disabled = false;
    button.textContent = "Upload and process";
    bar.hidden = true;
  }
}

// --- jobs list ------------------------------------------------------------------------

let jobsTimer = null;

// The list is refreshed every few seconds while a job in it is still running; `quiet`
// (the refreshes) leaves the status line alone so screen readers are not told each time.
async function loadJobs(quiet = false) {
  clearTimeout(jobsTimer);
  const status = $("#jobs-status");
  if (!quiet) status.textContent = "Loading…";
  try {
    const { jobs } = await api("/v1/jobs?limit=50");
    if ($("#home-view").hidden) return;
    renderJobs(jobs);
    status.textContent = jobs.length ? "" : "No jobs yet.";
    if (jobs.some((j) => !FINISHED.has(j.status))) jobsTimer = setTimeout(() => loadJobs(true), 3000);
  } catch (err) {
    $("#jobs-list").replaceChildren();
    status.textContent = err instanceof AuthError ? "Enter an API key to see your jobs." : `Could not load the jobs: ${err.message}`;
  }
}

// Rows are updated in place and only re-ordered when the order changed, so a refresh
// does not take the keyboard focus away from a row's buttons.
function renderJobs(jobs) {
  const list = $("#jobs-list");
  const existing = new Map([...list.children].map((li) => [li.dataset.jobId, li]));
  const rows = jobs.map((job) => {
    const row = existing.get(job.id);
    if (!row) return jobRow(job);
    const badge = row.querySelector(".job-status");
    badge.textContent = job.status;
    badge.className = `badge job-status ${job.status}`;
    row.querySelector(".job-progress").textContent = progressText(job.progress);
    return row;
  });
  const same = rows.length === list.children.length && rows.every((r, i) => list.children[i] === r);
  if (!same) list.replaceChildren(...rows);
}

function progressText(p) {
  if (!p) return "";
  const failed = p.failed ? `, ${p.failed} failed` : "";
  return `${p.done} of ${p.total} done${failed}`;
}

function jobRow(job) {
  const names = (job.sources || []).map(basename);
  const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? ` and ${names.length - 3} more` : "");
  const href = `/jobs/${encodeURIComponent(job.id)}`;
  return el("li", { class: "job-row", dataset: { jobId: job.id } },
    el("div", { class: "job-main" },
      el("a", { href, "data-nav": true, class: "job-link" }, el("code", { text: job.id.slice(0, 12) })),
      el("span", { class: `badge job-status ${job.status}`, text: job.status }),
      el("span", { class: "hint", text: formatDate(job.created) })),
    el("div", { class: "job-files", text: shown || "—" }),
    el("div", { class: "job-actions" },
      el("span", { class: "hint job-progress", text: progressText(job.progress) }),
      el("button", {
        type: "button", class: "danger small", text: "Delete", "aria-label": `Delete job ${job.id}`,
        onclick: () => deleteJob(job.id).then((ok) => { if (ok) loadJobs(); }),
      })));
}

async function deleteJob(id) {
  if (!confirm(`Delete job ${id} and all its files? This cannot be undone.`)) return false;
  try {
    await api(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
    return true;
  } catch (err) {
    if (!(err instanceof AuthError)) alert(`Could not delete the job: ${err.message}`);
    return false;
  }
}

// --- one job: progress and gallery ----------------------------------------------------

function jobView(id) {
  let stopped = false;
  let timer = null;
  let shownDone = -1;       // finished images when the manifest was last fetched
  let manifestBusy = false;
  let failures = 0;
  const cards = new Map();  // manifest image key -> card element
  const categories = new Set();

  const jobUrl = `/v1/jobs/${encodeURIComponent(id)}`;
  const pageUrl = `/jobs/${encodeURIComponent(id)}`;
  $("#job-id").textContent = id;
  $("#job-title").textContent = "Job";
  $("#job-status").textContent = "";
  $("#job-status").className = "badge";
  $("#job-created").textContent = "";
  $("#job-link").href = pageUrl;
  $("#job-error").hidden = true;
  $("#job-progress").value = 0;
  $("#job-summary").textContent = "Loading…";
  $("#photo-list").replaceChildren();
  $("#gallery").replaceChildren();
  $("#gallery-empty").hidden = false;
  $("#gallery-empty").textContent = "Finished photos appear here.";
  $("#filter-kind").value = "";
  $("#filter-review").checked = false;
  $("#filter-mismatch").checked = false;
  $("#filter-category").replaceChildren(el("option", { value: "", text: "all" }));
  const zip = $("#zip-button");
  zip.disabled = true;
  zip.onclick = () => download(`${jobUrl}/archive`, `catalog-${id}.zip`, zip);
  $("#job-delete").onclick = async () => {
    if (await deleteJob(id)) navigate("/");
  };
  $("#filter-kind").onchange = applyFilters;
  $("#filter-category").onchange = applyFilters;
  $("#filter-review").onchange = applyFilters;
  $("#filter-mismatch").onchange = applyFilters;
  document.title = `Job ${id.slice(0, 8)} · Catalog`;
  const preview = stylePreview();

  function showError(message) {
    const box = $("#job-error");
    box.textContent = message;
    box.hidden = !message;
  }

  async function poll() {
    if (stopped) return;
    let job;
    try {
      job = await api(jobUrl);
      failures = 0;
      showError("");
    } catch (err) {
      if (stopped) return;
      if (err instanceof AuthError) {
        $("#job-summary").textContent = "";
        showError("This job needs an API key: enter it above.");
        return; // saving a key re-opens the view
      }
      if (err instanceof ApiError && err.status === 404) {
        $("#job-summary").textContent = "";
        showError("No such job: it was deleted, or it belongs to another API key.");
        return;
      }
      failures += 1;
      showError(`Lost contact with the server (${err.message}); retrying…`);
      timer = setTimeout(poll, Math.min(POLL_MS * 2 ** failures, 15000));
      return;
    }
    if (stopped) return;
    renderJob(job);
    const done = job.images.filter((im) => im.status === "ok" || im.status === "failed").length;
    const finished = FINISHED.has(job.status);
    let complete = true;
    if (done !== shownDone || (finished && shownDone !== -2)) complete = await loadManifest(done, finished);
    // A finished job is polled again only when its last manifest could not be read.
    if ((!finished || !complete) && !stopped) timer = setTimeout(poll, POLL_MS);
  }

  function renderJob(job) {
    const total = job.images.length;
    const done = job.images.filter((im) => im.status === "ok" || im.status === "failed").length;
    const failed = job.images.filter((im) => im.status === "failed").length;
    const status = $("#job-status");
    status.textContent = job.status;
    status.className = `badge ${job.status}`;
    $("#job-created").textContent = formatDate(job.created);
    const bar = $("#job-progress");
    bar.max = Math.max(total, 1);
    bar.value = done;
    const summary = FINISHED.has(job.status)
      ? `Finished: ${done - failed} of ${total} photos processed${failed ? `, ${failed} failed` : ""}.`
      : `${done} of ${total} photos done${failed ? `, ${failed} failed` : ""}…`;
    // Only a changed text is written, so screen readers announce progress, not every poll.
    if ($("#job-summary").textContent !== summary) $("#job-summary").textContent = summary;
    zip.disabled = !FINISHED.has(job.status);
    renderPhotoList(job.images);
  }

  function renderPhotoList(images) {
    const list = $("#photo-list");
    for (const im of images) {
      let row = list.querySelector(`li[data-image-id="${CSS.escape(String(im.id))}"]`);
      if (!row) {
        row = el("li", { class: "photo-row", dataset: { imageId: im.id } },
          el("span", { class: "name", text: basename(im.source) }),
          el("span", { class: "badge" }),
          el("span", { class: "stage hint" }),
          el("p", { class: "image-error", hidden: true }));
        list.append(row);
      }
      row.dataset.status = im.status;
      const badge = row.querySelector(".badge");
      badge.textContent = im.status === "ok" ? "done" : im.status;
      badge.className = `badge ${im.status}`;
      row.querySelector(".stage").textContent = im.status === "running" || im.status === "queued"
        ? (im.stage ? `${im.status === "running" ? "" : "next: "}${im.stage}` : "") : "";
      const error = row.querySelector(".image-error");
      error.hidden = !im.error;
      error.textContent = im.error ? `Failed: ${im.error}` : "";
    }
  }

  async function loadManifest(done, finished) {
    if (manifestBusy) return false;
    manifestBusy = true;
    try {
      const manifest = await api(`${jobUrl}/manifest`);
      if (stopped) return true;
      renderGallery(manifest);
      preview.setManifest(manifest, finished);
      shownDone = finished ? -2 : done;
      return true;
    } catch (err) {
      if (!(err instanceof AuthError) && !stopped) showError(`Could not load the catalog: ${err.message}`);
      return false;
    } finally {
      manifestBusy = false;
    }
  }

  // Cards are kept across polls (their images are fetched once) and re-ordered to the
  // manifest's upload order as photos finish.
  function renderGallery(manifest) {
    const gallery = $("#gallery");
    const seen = new Map();
    const order = [];
    for (const record of manifest.images) {
      const n = (seen.get(record.source) || 0) + 1;
      seen.set(record.source, n);
      const key = `${record.source}#${n}`;
      let card = cards.get(key);
      if (!card) {
        card = photoCard(record, manifest.options || {});
        cards.set(key, card);
      }
      order.push(card);
      for (const item of record.items || []) if (item.category) categories.add(item.category);
    }
    order.forEach((card) => gallery.append(card));
    $("#gallery-empty").hidden = order.length > 0;
    const select = $("#filter-category");
    const chosenCategory = select.value;
    select.replaceChildren(el("option", { value: "", text: "all" }),
      ...[...categories].sort().map((c) => el("option", { value: c, text: c })));
    select.value = chosenCategory;
    applyFilters();
  }

  function applyFilters() {
    const kind = $("#filter-kind").value;
    const category = $("#filter-category").value;
    const review = $("#filter-review").checked;
    const mismatch = $("#filter-mismatch").checked; // photos whose listing disagrees with them
    let shown = 0;
    for (const card of cards.values()) {
      let visible = (!kind || card.dataset.kind === kind) && (!mismatch || card.dataset.listing === "disagree");
      if (visible && (category || review)) {
        let any = false;
        for (const item of card.querySelectorAll(".item")) {
          const match = (!category || item.dataset.category === category) && (!review || item.dataset.review === "yes");
          item.hidden = !match;
          any ||= match;
        }
        visible = any;
      } else {
        for (const item of card.querySelectorAll(".item")) item.hidden = false;
      }
      card.hidden = !visible;
      if (visible) shown += 1;
    }
    const empty = $("#gallery-empty");
    if (cards.size && !shown) {
      empty.hidden = false;
      empty.textContent = "No photo matches these filters.";
    } else if (cards.size) {
      empty.hidden = true;
    }
  }

  poll();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      preview.stop();
      releaseBlobs();
    },
  };
}

function photoCard(record, options) {
  const name = basename(record.source);
  const card = el("article", {
    class: "card",
    dataset: { source: name, kind: record.kind || "", status: record.status, listing: record.listing?.verdict || "" },
    "aria-label": name,
  });
  const kind = record.kind === "person"
    ? `person${record.people > 1 ? ` · ${record.people} people` : ""}` : (record.kind || "");
  card.append(el("header", { class: "card-head" },
    el("h3", { text: name }),
    kind ? el("span", { class: "badge", text: kind }) : null,
    record.style ? el("span", {
      class: "badge style-badge", text: `style: ${record.style.name}`, title: `sha256 ${record.style.sha256}`,
    }) : null));

  if (record.status === "failed") {
    card.append(el("p", { class: "image-error", text: `Failed: ${record.error || "unknown error"}` }));
    return card;
  }
  const body = el("div", { class: "card-body" });
  if (record.preview) {
    const img = el("img", {
      class: "preview", alt: record.kind === "person" ? `${name} with the detected skeleton` : name,
    });
    showImage(img, record.preview);
    body.append(el("figure", { class: "original" }, img));
  }
  const items = el("div", { class: "items" });
  (record.items || []).forEach((item, i) => items.append(itemCard(item, i, name, options)));
  if (!(record.items || []).length) items.append(el("p", { class: "hint", text: "No items found." }));
  body.append(items);
  const skipped = record.skipped || [];
  if (skipped.length) {
    items.append(el("ul", { class: "skipped", "aria-label": "Not made" },
      skipped.map((s) => el("li", { dataset: { output: s.output } },
        el("strong", { text: outputLabel(s.output, s.person, record.people) }), ` not made: ${s.reason}`))));
  }
  card.append(body);
  if (record.listing) card.append(listingPanel(record.listing, record.items || [], name));
  return card;
}

// "look", or "look 2" for the second person of a photo with several.
function outputLabel(output, person, people) {
  return people > 1 && typeof person === "number" ? `${output} ${person + 1}` : output;
}

function itemCard(item, index, photoName, options) {
  const label = item.garment || (item.type === "product" ? `product ${index + 1}` : item.type);
  const files = item.files || {};
  // A garment or look is shown as its framed crop; a product as its cutout, on a
  // checkerboard so transparency shows, or as its packshot where a style guide set a size.
  // A crop on a transparent background gets the checkerboard too.
  const cutoutShown = item.type === "product" && !item.size && files.cutout;
  const shown = cutoutShown ? files.cutout : files.image;
  const transparent = cutoutShown || options.background === "transparent";
  const img = el("img", { class: "crop", alt: `${label} from ${photoName}` });
  if (shown) showImage(img, shown);
  // A guide's output size sets the frame's shape (a square stays square).
  const frameStyle = item.size ? `aspect-ratio:${item.size[0]} / ${item.size[1]}` : null;

  const color = item.color;
  // Scores are probabilities among the candidate categories; two significant digits
  // keep a small one readable.
  const s = item.category_score;
  const score = typeof s === "number" ? ` ${s >= 0.1 ? s.toFixed(2) : s.toPrecision(2)}` : "";
  const info = el("div", { class: "item-info" },
    el("p", { class: "item-title" }, el("strong", { text: label }),
      item.size ? el("span", { class: "hint size", text: ` ${item.size[0]}×${item.size[1]}` }) : null),
    // A look is the whole person: it has no category.
    item.type === "look" ? null : el("p", { class: "category" },
      el("span", { text: item.category || "uncategorised" }), el("span", { class: "hint score", text: score })));
  // The words read on a pack, largest print first (the full list on hover).
  if ((item.text || []).length) {
    info.append(el("p", { class: "pack-text hint", text: item.text.slice(0, 3).join(" · "), title: item.text.join("\n") }));
  }
  if (item.needs_review) {
    info.append(el("ul", { class: "review", "aria-label": `Needs review: ${label}` },
      item.review_reasons.map((r) => el("li", { text: `Needs review: ${r}` }))));
  }
  if ((item.warnings || []).length) {
    info.append(el("ul", { class: "warnings", "aria-label": `Warnings for ${label}` },
      item.warnings.map((w) => el("li", { text: w, title: w }))));
  }
  if (color) {
    info.append(
      el("p", { class: "swatch-row" },
        el("span", { class: "swatch", style: `background:${color.hex}`, role: "img", "aria-label": `colour ${color.hex}` }),
        el("code", { class: "hex", text: color.hex }),
        el("span", { class: "color-name", text: color.name || "", title: color.css_name || null })),
      paletteBar(color.palette || []));
  }
  const stem = `${photoName.replace(/\.[^.]+$/, "")}-${label.replace(/\s+/g, "-")}`;
  const links = el("div", { class: "downloads", role: "group", "aria-label": `Download ${label}` });
  for (const [what, url] of [["image", files.image], ["cutout", files.cutout], ["swatch", files.swatch]]) {
    if (!url) continue;
    const ext = (basename(new URL(url, location.href).pathname).match(/\.[^.]+$/) || [""])[0];
    const button = el("button", {
      type: "button", class: "secondary small", text: what, "aria-label": `Download ${label} ${what}`,
      dataset: { file: what },
    });
    button.addEventListener("click", () => download(url, `${stem}${what === "image" ? "" : `-${what}`}${ext}`, button));
    links.append(button);
  }
  info.append(links);
  return el("figure", {
    class: "item",
    dataset: {
      garment: item.garment || "", type: item.type || "", category: item.category || "",
      review: item.needs_review ? "yes" : "no",
    },
  }, el("div", { class: transparent ? "frame checker" : "frame", style: frameStyle }, img), el("figcaption", {}, info));
}

function paletteBar(palette) {
  const label = palette.map((p) => `${p.hex} ${percent(p.share)}`).join(", ");
  return el("div", { class: "palette", role: "img", "aria-label": `palette: ${label}` },
    palette.map((p) => el("span", {
      style: `flex-grow:${Math.max(p.share, 0)};background:${p.hex}`, title: `${p.hex} ${percent(p.share)}`,
    })));
}

// --- style preview: a guide's boxes on the job's first person photo -------------------

const PREVIEW_DEBOUNCE_MS = 250;

const isPersonPhoto = (r) => r.status === "ok" && r.kind === "person" && r.preview
  && r.width && r.height && Array.isArray(r.keypoints) && r.keypoints.length > 0;

// The panel of the job on screen: the guide's text is sent to POST /v1/styles/preview on
// each change (debounced) with the photo's keypoints, and the boxes it answers are drawn
// over the photo, in photo pixels (the SVG's viewBox), so they scale with the image.
function stylePreview() {
  const panel = $("#style-preview");
  const select = $("#sp-style");
  const text = $("#sp-text");
  const stage = $("#sp-stage");
  let record = null;   // the first person photo's manifest record
  let started = false; // guides and photo loaded (on the first opening with a photo)
  let stopped = false;
  let timer = null;
  let asked = 0;       // previews asked; only the latest answer is drawn
  let guideAsked = 0;  // the same for guides loaded into the text
  let overlay = null;  // {svg, boxes}

  panel.open = false;
  $("#sp-none").hidden = false;
  $("#sp-none").textContent = "Loading…";
  $("#sp-body").hidden = true;
  select.replaceChildren();
  text.value = "";
  stage.replaceChildren();
  $("#sp-notes").replaceChildren();
  $("#sp-status").textContent = "";
  $("#sp-saved").textContent = "";
  showError("");

  panel.ontoggle = () => { if (panel.open) start(); };
  select.onchange = () => loadGuide(select.value);
  text.oninput = () => {
    clearTimeout(timer);
    timer = setTimeout(preview, PREVIEW_DEBOUNCE_MS);
  };
  $("#sp-save").onclick = save;

  function showError(message) {
    const line = $("#sp-error");
    if (line.textContent !== message) line.textContent = message;
    line.hidden = !message;
    stage.classList.toggle("stale", Boolean(message));
  }

  function setManifest(manifest, finished) {
    if (!record) record = (manifest.images || []).find(isPersonPhoto) || null;
    $("#sp-body").hidden = !record;
    $("#sp-none").hidden = Boolean(record);
    if (!record) {
      $("#sp-none").textContent = finished
        ? "This job has no person photo to try a guide on."
        : "No person photo yet: the preview appears when one is processed.";
    }
    if (panel.open) start();
  }

  async function start() {
    if (started || stopped || !record) return;
    started = true;
    drawPhoto();
    try {
      const list = await refreshGuides(record.style ? record.style.name : null);
      if (stopped) return;
      if (!list.styles.length) { showError("No guides on this server."); return; }
      await loadGuide(select.value);
    } catch (err) {
      started = false; // asked again on the next opening
      if (!stopped) showError(err instanceof AuthError ? "The guides need an API key: enter it above." : `Could not load the guides: ${err.message}`);
    }
  }

  // Fills the select; `chosen`, else the key's default, else the first guide is selected.
  async function refreshGuides(chosen) {
    const list = await loadStyles();
    if (stopped) return list;
    const names = list.styles.map((g) => g.name);
    const pick = [chosen, list.default].find((n) => n && names.includes(n)) || names[0] || null;
    fillStyleSelect(select, list.styles, pick);
    return list;
  }

  async function loadGuide(name) {
    const n = ++guideAsked;
    $("#sp-saved").textContent = "";
    $("#sp-saved").classList.remove("failed");
    try {
      const guide = await api(`/v1/styles/${encodeURIComponent(name)}`);
      if (stopped || n !== guideAsked) return;
      text.value = JSON.stringify(guide, null, 2);
      preview();
    } catch (err) {
      if (!stopped && n === guideAsked) showError(`Could not load the guide ${name}: ${err.message}`);
    }
  }

  async function preview() {
    clearTimeout(timer);
    if (stopped || !record) return;
    const n = ++asked;
    const body = { guide: text.value, width: record.width, height: record.height, keypoints: record.keypoints };
    try {
      const result = await api("/v1/styles/preview", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (stopped || n !== asked) return;
      showError("");
      drawBoxes(result);
    } catch (err) {
      if (stopped || n !== asked) return;
      // The last good boxes stay, dimmed, until the text is a valid guide again.
      showError(err instanceof AuthError ? "The preview needs an API key: enter it above." : err.message);
    }
  }

  // The photo in an SVG whose units are the photo's pixels (record.width x height; the
  // preview file may be smaller): the boxes need no scaling, and a box past the photo's
  // edge widens the viewBox so it is drawn whole, over the grey beyond the photo.
  function drawPhoto() {
    const { width: w, height: h } = record;
    const image = svg("image", { x: 0, y: 0, width: w, height: h, preserveAspectRatio: "none" });
    const boxes = svg("g", { class: "sp-boxes" });
    const root = svg("svg", {
      class: "sp-overlay", viewBox: `0 0 ${w} ${h}`, role: "img", "aria-labelledby": "sp-title",
      "data-width": w, "data-height": h,
    },
    svg("title", { id: "sp-title", text: `The guide's crops on ${basename(record.source)}` }),
    svg("rect", { class: "sp-photo", x: 0, y: 0, width: w, height: h }),
    image,
    svg("rect", { class: "sp-edge", x: 0, y: 0, width: w, height: h }),
    boxes);
    stage.replaceChildren(root);
    overlay = { root, boxes };
    blobUrl(record.preview).then((u) => { if (!stopped) image.setAttribute("href", u); },
      () => { $("#sp-status").textContent = "The photo could not be loaded; the boxes are drawn on its outline."; });
  }

  function drawBoxes(result) {
    const { width: w, height: h } = record;
    const people = record.keypoints.length;
    const outputs = result.outputs || [];
    const skipped = result.skipped || [];
    // The shown area: the photo and every box, with a small margin where a box passes it.
    let [vx0, vy0, vx1, vy1] = [0, 0, w, h];
    for (const o of outputs) {
      const [x0, y0, x1, y1] = o.box;
      vx0 = Math.min(vx0, x0); vy0 = Math.min(vy0, y0); vx1 = Math.max(vx1, x1); vy1 = Math.max(vy1, y1);
    }
    const margin = (vx0 < 0 || vy0 < 0 || vx1 > w || vy1 > h) ? Math.max(w, h) * 0.02 : 0;
    overlay.root.setAttribute("viewBox",
      [vx0 - margin, vy0 - margin, vx1 - vx0 + 2 * margin, vy1 - vy0 + 2 * margin].map((v) => Math.round(v)).join(" "));
    const font = Math.max(vx1 - vx0, vy1 - vy0) / 30;
    const labels = []; // [x0, y0, x1, y1] of the labels placed, so none hides another
    overlay.boxes.replaceChildren(...outputs.map((o) => {
      const [x0, y0, x1, y1] = o.box;
      const label = outputLabel(o.output, o.person, people);
      const size = o.size ? ` → ${o.size[0]}×${o.size[1]}` : "";
      const spot = labelSpot(labels, x0 + font * 0.3, y0 + font * 0.15, font * 0.62 * label.length, font * 1.2);
      return svg("g", { class: `sp-box sp-${o.output}` },
        svg("rect", {
          x: x0, y: y0, width: x1 - x0, height: y1 - y0,
          "data-output": o.output, "data-person": o.person ?? "", "data-box": o.box.join(","),
        }, svg("title", { text: `${label}: ${o.box.join(", ")}${size}` })),
        svg("text", { x: spot[0].toFixed(1), y: (spot[1] + font * 0.95).toFixed(1), "font-size": font.toFixed(1),
          "stroke-width": (font * 0.2).toFixed(1), text: label }));
    }));
    const notes = [
      ...skipped.map((sk) => el("li", { class: "skip", dataset: { output: sk.output } },
        el("strong", { text: outputLabel(sk.output, sk.person, people) }), ` not made: ${sk.reason}`)),
      ...outputs.flatMap((o) => (o.warnings || []).map((wn) => el("li", { class: "warn", dataset: { output: o.output } },
        el("strong", { text: outputLabel(o.output, o.person, people) }), `: ${wn}`))),
    ];
    $("#sp-notes").replaceChildren(...notes);
    const status = `${result.style ? result.style.name : "guide"}: ${outputs.length} crop${outputs.length === 1 ? "" : "s"}`
      + (skipped.length ? `, ${skipped.length} not made` : "");
    if ($("#sp-status").textContent !== status) $("#sp-status").textContent = status;
  }

  // A label's place at (x, y), moved down below any label it would cover.
  function labelSpot(placed, x, y, w, h) {
    for (let tries = 0; tries < placed.length; tries += 1) {
      const hit = placed.find(([a, b, c, d]) => x < c && x + w > a && y < d && y + h > b);
      if (!hit) break;
      y = hit[3];
    }
    placed.push([x, y, x + w, y + h]);
    return [x, y];
  }

  // POST /v1/styles with the text as written (JSON or YAML): the guide is the key's own.
  async function save() {
    const saved = $("#sp-saved");
    const body = text.value;
    let json = true;
    try { JSON.parse(body); } catch { json = false; }
    const button = $("#sp-save");
    button.disabled = true;
    saved.classList.remove("failed");
    saved.textContent = "Saving…";
    try {
      const guide = await api("/v1/styles", {
        method: "POST", headers: { "Content-Type": json ? "application/json" : "application/yaml" }, body,
      });
      if (stopped) return;
      await refreshGuides(guide.name);
      loadUploadStyles();
      saved.textContent = `Saved as your guide "${guide.name}".`;
    } catch (err) {
      if (stopped) return;
      saved.classList.add("failed");
      saved.textContent = err instanceof AuthError ? "Saving needs an API key: enter it above." : `Not saved: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }

  return {
    setManifest,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// --- start ----------------------------------------------------------------------------

function setupKey() {
  $("#key-toggle").addEventListener("click", () => {
    if ($("#key-panel").hidden) showKeyPanel(""); else hideKeyPanel();
  });
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey($("#api-key").value.trim());
    $("#key-message").textContent = "";
    hideKeyPanel();
    route(); // what failed for want of a key is asked again
  });
  $("#key-clear").addEventListener("click", () => {
    setApiKey("");
    $("#api-key").value = "";
    route();
  });
}

setupKey();
setupUpload();
$("#jobs-refresh").addEventListener("click", () => loadJobs());
route();
