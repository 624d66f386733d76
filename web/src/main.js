// The Workbench page: sign in, list UDFs, show the chosen one on the map, edit its
// parameters and code, run and save it. See README "The Workbench".

import * as maplibregl from "maplibre-gl";
maplibregl.setWorkerUrl("/workbench/assets/maplibre-gl-worker.mjs");
import { call, setToken, signedIn, postForm, metadataOf, errorText, ApiError } from "./api.js";
import { offlineStyle } from "./basemap.js";
import { renderWidgets, isTileParameter } from "./params.js";
import {
  installProtocol,
  runTarget,
  runOnce,
  showTiles,
  showGeoJson,
  showImage,
  showTileErrors,
  removeLayers,
  tileAt,
  SOURCE,
} from "./layers.js";

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const TABLE_ROWS = 1000;
const $ = (id) => document.getElementById(id);

// What the page shows; `window.workbench` exposes it read-only for tests and the bench.
const state = {
  email: null,
  saved: [],
  examples: [],
  current: null, // {kind: saved|example|share, name, owner?, token?, info, package?, signature?, params, shipped?}
  layerKind: null, // "vector" | "raster" for tiles
  generation: 0,
  tiles: { inflight: 0, loaded: 0, failed: new Map() },
  problems: [],
  marks: {}, // generation -> {requested, firstTile, idle}
  timing: {}, // mapReady
  layerShown: 0, // the generation whose layer is on the map
  requests: [],
};
window.workbench = {
  get state() {
    return state;
  },
  get editor() {
    return editor;
  },
  get map() {
    return map;
  },
};

let map;
let mapReady; // resolves once the map's style is loaded (layers can be added)
let editor; // the CodeMirror view, once loadEditor() has imported it
let editorLoading = null;
let deviceCancel = null;

// ---------------------------------------------------------------- start-up

async function start() {
  let config = {};
  try {
    config = await call("/workbench/config.json", { auth: false });
  } catch {
    /* offline style */
  }
  installProtocol();
  const url = new URL(window.location.href);
  const view = parseView(url.searchParams.get("view"));
  state.timing.mapStart = performance.now();
  map = new maplibregl.Map({
    container: "map",
    style: config.basemap_style || offlineStyle(),
    center: view ? [view.lng, view.lat] : [0, 20],
    zoom: view ? view.zoom : 1.5,
    attributionControl: false,
    hash: false,
    fadeDuration: 0, // a tile is shown the moment it is drawn
  });
  // layers can be added once the style is parsed; the basemap's own data need not be drawn
  state.timing.mapCreated = performance.now();
  mapReady = new Promise((resolve) => map.once("style.load", resolve));
  mapReady.then(() => (state.timing.styleReady = performance.now()));
  map.once("load", () => (state.timing.mapReady = performance.now()));
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-left");
  map.on("moveend", updateUrl);
  map.on("click", onMapClick);
  map.on("error", (e) => {
    // tile failures are reported by the protocol handler; others go to the console
    if (e.sourceId !== SOURCE) console.warn(e.error);
  });
  map.on("data", (e) => {
    if (e.sourceId === SOURCE && e.tile && e.dataType === "source") {
      const m = (state.marks[state.generation] ||= {});
      if (m.firstTile === undefined) m.firstTile = performance.now();
    }
  });
  map.on("idle", () => {
    const m = state.marks[state.generation];
    if (m && m.idle === undefined && state.tiles.inflight === 0 && state.layerShown === state.generation) {
      m.idle = performance.now();
    }
  });
  wireControls();
  // a share link's UDF is looked up (and its first tile run) while the map starts
  const share = url.searchParams.get("share");
  if (share) await openShare(share, url);
}

function wireControls() {
  $("sign-in").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    $("api-key").value = "";
    await signIn(key);
  });
  $("sign-out").addEventListener("click", signOut);
  $("device-login").addEventListener("click", deviceLogin);
  $("device-cancel").addEventListener("click", () => deviceCancel && deviceCancel());
  $("search").addEventListener("input", renderList);
  $("params").addEventListener("submit", (e) => e.preventDefault());
  $("run").addEventListener("click", runEdited);
  $("save").addEventListener("click", () => saveEdited(false));
}

/** Import the editor module (once) and create the editor. */
function loadEditor() {
  editorLoading ||= import("./editor.js").then((m) => {
    editor = m.createEditor($("editor"));
  });
  return editorLoading;
}

// ---------------------------------------------------------------- sign in

async function signIn(token) {
  setToken(token);
  try {
    const me = await call("/api/v1/me");
    state.email = me.email;
  } catch (e) {
    setToken(null);
    state.email = null;
    addProblem({ title: "Sign-in failed", message: e.message });
    showAccount();
    return false;
  }
  showAccount();
  await loadList();
  const url = new URL(window.location.href);
  const wanted = url.searchParams.get("udf");
  if (wanted && !url.searchParams.get("share")) {
    const entry = findEntry(wanted);
    if (entry) await select(entry, { fromUrl: url });
    else addProblem({ title: "Not found", message: `no UDF ${wanted} in your list` });
  }
  return true;
}

function signOut() {
  setToken(null);
  state.email = null;
  state.saved = [];
  state.examples = [];
  if (state.current && state.current.kind !== "share") {
    state.current = null;
    removeLayers(map);
    $("params").replaceChildren();
    $("code-section").hidden = true;
    $("results").hidden = true;
    $("current-title").textContent = "";
  }
  showAccount();
  renderList();
  updateUrl();
}

function showAccount() {
  const inside = signedIn() && state.email;
  $("signed-in-as").hidden = !inside;
  $("signed-in-as").textContent = inside ? state.email : "";
  $("sign-out").hidden = !inside;
  $("sign-in").hidden = Boolean(inside);
}

async function deviceLogin() {
  const { status, body } = await postForm("/oauth/device/code", { client_id: "fused" });
  if (status !== 200 || !body) {
    addProblem({ title: "Device sign-in failed", message: (body && (body.error_description || body.error)) || `HTTP ${status}` });
    return;
  }
  const link = $("device-link");
  link.href = body.verification_uri_complete || body.verification_uri;
  link.textContent = body.verification_uri;
  $("device-code").textContent = body.user_code;
  $("device-box").hidden = false;
  let interval = Math.max(1, body.interval || 5);
  let cancelled = false;
  deviceCancel = () => {
    cancelled = true;
    $("device-box").hidden = true;
  };
  const deadline = Date.now() + (body.expires_in || 600) * 1000;
  while (!cancelled && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, interval * 1000));
    if (cancelled) return;
    const poll = await postForm("/oauth/token", {
      grant_type: DEVICE_CODE_GRANT,
      device_code: body.device_code,
      client_id: "fused",
    });
    if (poll.status === 200 && poll.body && poll.body.access_token) {
      $("device-box").hidden = true;
      await signIn(poll.body.access_token);
      return;
    }
    const err = poll.body && poll.body.error;
    if (err === "authorization_pending") continue;
    if (err === "slow_down") {
      interval += 5;
      continue;
    }
    $("device-box").hidden = true;
    addProblem({ title: "Device sign-in failed", message: (poll.body && (poll.body.error_description || err)) || `HTTP ${poll.status}` });
    return;
  }
  $("device-box").hidden = true;
}

// ---------------------------------------------------------------- the list

async function loadList() {
  try {
    const [saved, examples] = await Promise.all([call("/api/v1/workbench/udfs"), call("/api/v1/workbench/examples")]);
    state.saved = saved.udfs.map((u) => ({ ...u, kind: "saved", key: `${u.owner_email}/${u.name}` }));
    state.examples = examples.examples.map((u) => ({ ...u, kind: "example", key: `example:${u.name}` }));
  } catch (e) {
    addProblem({ title: "Could not list UDFs", message: e.message });
  }
  renderList();
}

function findEntry(key) {
  return [...state.saved, ...state.examples].find((e) => e.key === key);
}

function paramSummary(entry) {
  const schema = entry.schema || {};
  const names = Object.entries(schema)
    .filter(([n, s]) => !isTileParameter(n, s, entry.mode))
    .map(([n, s]) => `${n}: ${s}`);
  return names.length ? names.join(", ") : "no parameters";
}

/** The first sentence of a markdown description, without headings. */
function summary(markdown) {
  if (typeof markdown !== "string") return "";
  const text = markdown
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"))
    .join(" ")
    .replace(/[`*_]/g, "");
  return text.length > 90 ? `${text.slice(0, 87)}…` : text;
}

function renderList() {
  const box = $("udf-list");
  box.replaceChildren();
  if (!signedIn()) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "Sign in to see your UDFs and the examples.";
    box.append(p);
    return;
  }
  const q = $("search").value.trim().toLowerCase();
  const match = (e) =>
    !q || [e.name, e.mode, e.description || "", paramSummary(e)].some((t) => String(t).toLowerCase().includes(q));
  const sections = [
    ["Your UDFs", state.saved.filter(match)],
    ["Examples", state.examples.filter(match)],
  ];
  for (const [title, entries] of sections) {
    const h = document.createElement("h3");
    h.textContent = `${title} (${entries.length})`;
    box.append(h);
    for (const e of entries) {
      const div = document.createElement("div");
      div.className = "udf";
      div.dataset.key = e.key;
      div.dataset.name = e.name;
      div.tabIndex = 0;
      if (state.current && state.current.key === e.key) div.classList.add("selected");
      const name = document.createElement("div");
      name.className = "name";
      name.textContent = e.name;
      const mode = document.createElement("span");
      mode.className = `mode ${e.mode}`;
      mode.textContent = e.mode === "tile" ? "Tile" : "File";
      name.append(mode);
      const params = document.createElement("div");
      params.className = "meta params";
      params.textContent = e.kind === "example" ? summary(e.description) || "example" : paramSummary(e);
      div.append(name, params);
      if (e.created_at) {
        const when = document.createElement("div");
        when.className = "meta saved-at";
        when.textContent = `saved ${new Date(e.created_at * 1000).toLocaleString()}`;
        div.append(when);
      }
      div.addEventListener("click", () => select(e));
      div.addEventListener("keydown", (ev) => ev.key === "Enter" && select(e));
      box.append(div);
    }
  }
}

// ---------------------------------------------------------------- choosing a UDF

function paramsFromUrl(url) {
  const out = {};
  for (const [k, v] of url.searchParams) if (k.startsWith("p.")) out[k.slice(2)] = v;
  return out;
}

async function select(entry, { fromUrl = null } = {}) {
  const current = {
    kind: entry.kind,
    key: entry.key,
    name: entry.name,
    owner: entry.owner_email,
    info: entry,
    package: entry.package || null,
    params: fromUrl ? paramsFromUrl(fromUrl) : {},
    signature: null,
    shipped: null,
  };
  state.current = current;
  state.layerKind = null;
  clearProblems();
  renderList();
  $("current-title").textContent = `${entry.name} · ${entry.mode === "tile" ? "Tile" : "File"} UDF`;
  if (entry.kind === "saved") {
    try {
      const saved = await call(`/api/v1/udfs/saved/${encodeURIComponent(entry.owner_email)}/${encodeURIComponent(entry.name)}`);
      current.package = saved.package;
    } catch (e) {
      addProblem({ title: `Could not open ${entry.name}`, message: e.message });
    }
  }
  if (state.current !== current) return;
  $("code-section").hidden = false;
  // the editor module loads beside the layer's first tiles, not before them
  loadEditor().then(() => {
    if (state.current !== current) return;
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: (current.package && current.package.code) || "" } });
  });
  $("save-name").value = entry.name;
  setSaveStatus("", "");
  renderParams();
  if (!(fromUrl && fromUrl.searchParams.get("view"))) applyDefaultView(entry.default_view_state);
  if (current.package) loadSignature(current, current.package);
  await showLayer();
  updateUrl();
}

async function openShare(token, url) {
  let info;
  try {
    info = await call(`/api/v1/workbench/shared/${encodeURIComponent(token)}`, { auth: false });
  } catch (e) {
    addProblem({ title: "Share link", message: e.message });
    return;
  }
  state.current = {
    kind: "share",
    key: `share:${token}`,
    token,
    name: info.name,
    info,
    params: paramsFromUrl(url),
    signature: null,
    shipped: null,
  };
  $("current-title").textContent = `${info.name} · shared ${info.mode === "tile" ? "Tile" : "File"} UDF (read-only)`;
  $("code-section").hidden = true;
  renderParams();
  if (!url.searchParams.get("view")) applyDefaultView(info.default_view_state);
  await showLayer();
  updateUrl();
}

function applyDefaultView(v) {
  if (!v || typeof v !== "object" || v.enable === false) return;
  const lng = Number(v.longitude);
  const lat = Number(v.latitude);
  if (!Number.isFinite(lng) || !Number.isFinite(lat)) return;
  const zoom = Number.isFinite(Number(v.zoom)) ? Number(v.zoom) : map.getZoom();
  map.jumpTo({ center: [lng, lat], zoom, pitch: Number(v.pitch) || 0, bearing: Number(v.bearing) || 0 });
}

/** Parameters as (name, spec, default): the signature when known, else the saved schema. */
function parameterList(current) {
  if (current.signature) return current.signature;
  const schema = current.info.schema || {};
  return Object.entries(schema).map(([name, spec]) => ({ name, spec }));
}

function renderParams() {
  const current = state.current;
  renderWidgets($("params"), parameterList(current), current.params, current.info.mode, (values) => {
    current.params = values;
    updateUrl();
    showLayer();
  });
}

/** Ask a worker for the signature of `pkg` (types and defaults); re-render the widgets. */
async function loadSignature(current, pkg) {
  try {
    const sig = await call("/api/v1/workbench/signature", { method: "POST", json: { udf: pkg } });
    if (state.current !== current) return sig;
    current.signature = sig.parameters;
    renderParams();
    return sig;
  } catch (e) {
    if (state.current === current) reportRunError("Code", e);
    return null;
  }
}

// ---------------------------------------------------------------- the layer

function tileHooks(generation, name) {
  const live = () => state.generation === generation;
  const key = (z, x, y) => `${z}/${x}/${y}`;
  return {
    started(z, x, y) {
      state.requests.push({ generation, tile: key(z, x, y), at: performance.now() });
      if (!live()) return;
      state.tiles.inflight++;
      updateStatus();
    },
    finished() {
      if (!live()) return;
      state.tiles.inflight = Math.max(0, state.tiles.inflight - 1);
      const m = state.marks[generation];
      if (m) m.lastResponse = performance.now(); // the last tile's bytes are in
      updateStatus();
    },
    succeeded(z, x, y, meta) {
      if (!live()) return;
      state.tiles.loaded++;
      if (state.tiles.failed.delete(key(z, x, y))) showTileErrors(map, [...state.tiles.failed.values()]);
      if (meta.stdout) addProblem({ kind: "log", title: `${name} tile ${key(z, x, y)} stdout`, stdout: meta.stdout, dedupe: meta.stdout });
    },
    failed(z, x, y, message, meta) {
      if (!live()) return;
      state.tiles.failed.set(key(z, x, y), [z, x, y]);
      showTileErrors(map, [...state.tiles.failed.values()]);
      addProblem({
        title: `${name}: tile ${key(z, x, y)} failed`,
        message,
        lineno: meta.lineno,
        stdout: meta.stdout,
        stderr: meta.stderr,
        dedupe: message,
      });
    },
    cancelled() {
      if (live()) state.tiles.cancelled = (state.tiles.cancelled || 0) + 1;
    },
  };
}

function updateStatus() {
  const box = $("layer-status");
  const c = state.current;
  if (!c) {
    box.replaceChildren();
    return;
  }
  const t = state.tiles;
  box.replaceChildren();
  if (t.inflight > 0) {
    const s = document.createElement("span");
    s.className = "spinner";
    box.append(s);
  }
  const parts = [];
  if (t.inflight > 0) parts.push(`loading ${t.inflight}`);
  if (c.info.mode === "tile") parts.push(`${t.loaded} tiles`);
  if (t.failed.size) parts.push(`${t.failed.size} failed`);
  box.append(`${c.name}: ${parts.join(", ") || "ready"}`);
  box.dataset.loading = t.inflight > 0 ? "true" : "false";
}

async function showLayer() {
  const current = state.current;
  if (!current) return;
  const target = runTarget(current);
  if (target.kind !== "share" && target.kind !== "saved" && !signedIn()) {
    addProblem({ title: "Sign in to run code", message: "running edited or example code needs a signed-in account" });
    return;
  }
  const generation = ++state.generation;
  state.marks[generation] = { requested: performance.now() };
  state.tiles = { inflight: 0, loaded: 0, failed: new Map() };
  const params = { ...current.params };
  if (current.info.mode === "tile") {
    await showTileLayer(current, target, params, generation);
  } else {
    await showFileLayer(current, target, params, generation);
  }
  updateStatus();
}

async function showTileLayer(current, target, params, generation) {
  $("results").hidden = true;
  const probed = !state.layerKind;
  if (probed) {
    // MVT for vector results, PNG for rasters: the first tile (cached by the server, so the
    // map's own request for it is a cache hit) says which.
    state.tiles.inflight++;
    updateStatus();
    const z = Math.max(0, Math.min(22, Math.floor(map.getZoom())));
    const c = map.getCenter();
    const tile = tileAt(c.lng, c.lat, z);
    let kind = /raster/i.test(current.info.udf_type || "") ? "raster" : "vector";
    try {
      const resp = await runOnce(target, params, tile, "mvt,png");
      const type = resp.headers.get("content-type") || "";
      if (resp.ok) kind = type.startsWith("image/") ? "raster" : "vector";
      await resp.arrayBuffer();
    } catch {
      /* the map's own requests report it */
    }
    state.tiles.inflight = Math.max(0, state.tiles.inflight - 1);
    if (state.generation !== generation) return;
    state.layerKind = kind;
  }
  await mapReady;
  if (state.generation !== generation) return;
  showTiles(map, {
    target,
    params,
    kind: state.layerKind,
    vizConfig: current.info.viz_config,
    hooks: tileHooks(generation, current.name),
    // same UDF, new parameters: swap the tile URL; another UDF or code: new layers
    reuse: !probed,
  });
  state.layerShown = generation;
}

async function showFileLayer(current, target, params, generation) {
  state.tiles.inflight = 1;
  updateStatus();
  let resp;
  try {
    resp = await runOnce(target, params, null, "geojson,png,json");
  } catch (e) {
    state.tiles.inflight = 0;
    addProblem({ title: `${current.name} failed`, message: e.message });
    return;
  }
  const meta = metadataOf(resp);
  const type = (resp.headers.get("content-type") || "").split(";")[0];
  const body = await resp.arrayBuffer();
  state.tiles.inflight = 0;
  await mapReady;
  if (state.generation !== generation) return;
  state.layerShown = generation;
  if (meta.stdout) addProblem({ kind: "log", title: `${current.name} stdout`, stdout: meta.stdout });
  if (!resp.ok) {
    let json = null;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch {
      /* not JSON */
    }
    removeLayers(map);
    $("results").hidden = true;
    addProblem({ title: `${current.name} failed`, message: errorText(resp.status, json, meta), lineno: meta.lineno, stdout: meta.stdout, stderr: meta.stderr });
    return;
  }
  const keepView = generation > 1 && current.shownOnce;
  current.shownOnce = true;
  if (type === "application/geo+json") {
    const geojson = JSON.parse(new TextDecoder().decode(body));
    const hasGeometry = (geojson.features || []).some((f) => f.geometry);
    if (hasGeometry) showGeoJson(map, geojson, current.info.viz_config, keepView);
    else removeLayers(map);
    renderTable(geojson.features || []);
    state.tiles.loaded = 1;
    return;
  }
  if (type.startsWith("image/")) {
    $("results").hidden = true;
    if (meta.bounds) {
      const url = URL.createObjectURL(new Blob([body], { type }));
      showImage(map, url, meta.bounds, current.info.viz_config, keepView);
    } else {
      addProblem({ kind: "log", title: current.name, message: "the raster has no bounds, so it cannot be placed on the map (return (array, bounds))" });
    }
    state.tiles.loaded = 1;
    return;
  }
  removeLayers(map);
  const text = new TextDecoder().decode(body);
  let value = text;
  try {
    value = JSON.parse(text);
  } catch {
    /* plain text */
  }
  if (Array.isArray(value) && value.every((r) => r && typeof r === "object" && !Array.isArray(r))) {
    renderTable(value.map((properties) => ({ properties, geometry: null })));
  } else {
    renderTable([{ properties: { value: typeof value === "string" ? value : JSON.stringify(value) }, geometry: null }]);
  }
  state.tiles.loaded = 1;
}

function cellText(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function renderTable(features) {
  const table = $("result-table");
  table.replaceChildren();
  const rows = features.slice(0, TABLE_ROWS);
  const columns = [];
  const seen = new Set();
  for (const f of rows) for (const k of Object.keys(f.properties || {})) if (!seen.has(k)) seen.add(k), columns.push(k);
  const withGeometry = rows.some((f) => f.geometry);
  const head = table.createTHead().insertRow();
  for (const c of [...columns, ...(withGeometry ? ["geometry"] : [])]) {
    const th = document.createElement("th");
    th.textContent = c;
    head.append(th);
  }
  const tbody = table.createTBody();
  for (const f of rows) {
    const tr = tbody.insertRow();
    for (const c of columns) tr.insertCell().textContent = cellText((f.properties || {})[c]);
    if (withGeometry) tr.insertCell().textContent = f.geometry ? f.geometry.type : "";
  }
  const n = features.length;
  $("row-count").textContent =
    n > TABLE_ROWS ? `${n.toLocaleString()} rows (first ${TABLE_ROWS.toLocaleString()} shown)` : `${n.toLocaleString()} rows`;
  $("results").hidden = false;
  map.resize();
}

// ---------------------------------------------------------------- feature attributes

function onMapClick(e) {
  const layers = ["udf-fill", "udf-line", "udf-point"].filter((id) => map.getLayer(id));
  if (!layers.length) return;
  const features = map.queryRenderedFeatures(e.point, { layers });
  if (!features.length) return;
  const f = features[0];
  const table = document.createElement("table");
  table.className = "attr-table";
  const props = f.properties || {};
  const keys = Object.keys(props);
  if (!keys.length) {
    table.insertRow().insertCell().textContent = "(no attributes)";
  }
  for (const k of keys) {
    const tr = table.insertRow();
    const th = document.createElement("th");
    th.textContent = k;
    tr.append(th);
    tr.insertCell().textContent = cellText(props[k]);
  }
  new maplibregl.Popup({ maxWidth: "320px" }).setLngLat(e.lngLat).setDOMContent(table).addTo(map);
}

// ---------------------------------------------------------------- edit, run, save

function editedPackage(name) {
  const current = state.current;
  const base = current.package || {};
  return { ...base, name: name || base.name || current.name, code: editor.state.doc.toString() };
}

async function runEdited() {
  const current = state.current;
  if (!current || current.kind === "share") return;
  await loadEditor();
  const pkg = editedPackage();
  current.shipped = pkg;
  current.signature = null;
  state.layerKind = null;
  clearProblems();
  const sig = await loadSignature(current, pkg);
  if (!sig) return;
  await showLayer();
}

function setSaveStatus(text, kind) {
  const box = $("save-status");
  box.replaceChildren();
  box.className = kind;
  if (text) box.append(text);
}

async function saveEdited(overwrite) {
  const current = state.current;
  if (!current || current.kind === "share") return;
  const name = $("save-name").value.trim();
  if (!name) {
    setSaveStatus("Give the UDF a name to save it under.", "error");
    return;
  }
  await loadEditor();
  const pkg = editedPackage(name);
  setSaveStatus("Saving…", "");
  let sig;
  try {
    sig = await call("/api/v1/workbench/signature", { method: "POST", json: { udf: pkg } });
  } catch (e) {
    reportRunError("Code", e);
    setSaveStatus(`Not saved: the code does not load (${e.message})`, "error");
    return;
  }
  const schema = Object.fromEntries(sig.parameters.map((p) => [p.name, p.spec]));
  try {
    const saved = await call("/api/v1/udfs", { method: "POST", json: { package: pkg, schema, overwrite } });
    setSaveStatus(`Saved ${saved.name} (version ${String(saved.version).slice(0, 12)}).`, "ok");
    await loadList();
    const entry = findEntry(`${saved.owner_email}/${saved.name}`);
    if (entry) {
      await select(entry);
      setSaveStatus(`Saved ${saved.name} (version ${String(saved.version).slice(0, 12)}).`, "ok");
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      setSaveStatus(`A UDF named "${name}" already exists. `, "error");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.id = "overwrite";
      btn.textContent = "Overwrite it";
      btn.addEventListener("click", () => saveEdited(true));
      $("save-status").append(btn);
    } else {
      setSaveStatus(`Not saved: ${e.message}`, "error");
    }
  }
}

// ---------------------------------------------------------------- problems panel

function reportRunError(title, e) {
  const meta = (e && e.meta) || {};
  addProblem({ title, message: e.message, lineno: meta.lineno, stdout: meta.stdout, stderr: meta.stderr });
}

function clearProblems() {
  state.problems = [];
  renderProblems();
}

function addProblem(p) {
  if (p.dedupe && state.problems.some((q) => q.dedupe === p.dedupe && q.title === p.title)) return;
  state.problems.unshift(p);
  state.problems = state.problems.slice(0, 30);
  renderProblems();
}

function renderProblems() {
  const box = $("problems");
  box.replaceChildren();
  if (!state.problems.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "Nothing yet.";
    box.append(p);
    return;
  }
  for (const p of state.problems) {
    const div = document.createElement("div");
    div.className = `problem ${p.kind === "log" ? "log" : "error"}`;
    const where = document.createElement("div");
    where.className = "where";
    where.textContent = p.title + (p.lineno != null ? ` · line ${p.lineno}` : "");
    div.append(where);
    if (p.message) {
      const m = document.createElement("div");
      m.className = "message";
      m.textContent = p.message;
      div.append(m);
    }
    for (const [label, text] of [["stdout", p.stdout], ["stderr", p.stderr]]) {
      if (!text) continue;
      const pre = document.createElement("pre");
      pre.textContent = `${label}:\n${text}`;
      div.append(pre);
    }
    box.append(div);
  }
}

// ---------------------------------------------------------------- the page URL

function parseView(text) {
  if (!text) return null;
  const [zoom, lat, lng] = text.split("/").map(Number);
  if (![zoom, lat, lng].every(Number.isFinite)) return null;
  return { zoom, lat, lng };
}

/** The page URL holds the UDF, its parameters and the view, so a link reproduces it. */
function updateUrl() {
  if (!map) return;
  const q = new URLSearchParams();
  const c = state.current;
  if (c && c.kind === "share") q.set("share", c.token);
  else if (c) q.set("udf", c.key);
  if (c) for (const [k, v] of Object.entries(c.params)) q.set(`p.${k}`, v);
  const center = map.getCenter();
  q.set("view", `${map.getZoom().toFixed(2)}/${center.lat.toFixed(5)}/${center.lng.toFixed(5)}`);
  history.replaceState(null, "", `/workbench?${q.toString().replaceAll("%2F", "/").replaceAll("%40", "@").replaceAll("%3A", ":")}`);
}

start().catch((e) => addProblem({ title: "The Workbench failed to start", message: String(e && e.stack ? e.stack : e) }));
