// The UDF's layer on the map. Tiles go through a `fused://` protocol handler so that each
// request carries the bearer token in a header (never in the URL), its errors and stdout
// (`x-fused-metadata`) reach the page, the number in flight drives the loading indicator, and
// MapLibre's abort of a tile that left the view cancels the HTTP request (and so the run).

import * as maplibregl from "maplibre-gl";
import { request, metadataOf, errorText } from "./api.js";
import { vectorStyle, rasterOpacity } from "./viz.js";

export const SOURCE = "udf";
export const LAYERS = ["udf-fill", "udf-line", "udf-point", "udf-raster"];
const ERROR_SOURCE = "udf-tile-errors";

/** Where a UDF runs: a saved UDF (owner + name), a share token, or shipped code. */
export function runTarget(current) {
  if (current.shipped) return { kind: "shipped", udf: current.shipped };
  if (current.kind === "share") return { kind: "share", token: current.token };
  if (current.kind === "example") return { kind: "shipped", udf: current.package };
  return { kind: "saved", email: current.owner, name: current.name };
}

const enc = encodeURIComponent;

/** The HTTP request of one run: {path, method, json?}. tile: [z, x, y] or null. */
export function runRequest(target, params, tile, format) {
  const query = new URLSearchParams();
  if (target.kind !== "shipped") {
    for (const [k, v] of Object.entries(params)) query.set(k, v);
  }
  query.set("format", format);
  const t = tile ? `/tiles/${tile[0]}/${tile[1]}/${tile[2]}` : "";
  if (target.kind === "saved") {
    return { path: `/api/v1/run/udf/saved/${enc(target.email)}/${enc(target.name)}${t}?${query}`, method: "GET" };
  }
  if (target.kind === "share") {
    const file = tile ? `tiles/${tile[0]}/${tile[1]}/${tile[2]}` : "file";
    return { path: `/shared/${enc(target.token)}/run/${file}?${query}`, method: "GET", auth: false };
  }
  return {
    path: `/api/v1/run/udf${t}?${query}`,
    method: "POST",
    json: { udf: target.udf, parameters: params, format },
  };
}

export async function runOnce(target, params, tile, format, signal) {
  const r = runRequest(target, params, tile, format);
  const resp = await request(r.path, { method: r.method, json: r.json, signal, auth: r.auth !== false });
  return resp;
}

// ---------------------------------------------------------------- tile protocol

const generations = new Map(); // generation -> {target, params, format, hooks}
let nextGeneration = 1;

export function installProtocol() {
  maplibregl.addProtocol("fused", async (req, abortController) => {
    const m = /^fused:\/\/tiles\/(\d+)\/(\d+)\/(\d+)\/(\d+)/.exec(req.url);
    if (!m) throw new Error(`bad tile URL ${req.url}`);
    const [gen, z, x, y] = m.slice(1).map(Number);
    const layer = generations.get(gen);
    if (!layer) throw new Error("stale layer");
    const hooks = layer.hooks;
    hooks.started(z, x, y);
    let ok = false;
    try {
      const resp = await runOnce(layer.target, layer.params, [z, x, y], layer.format, abortController.signal);
      const meta = metadataOf(resp);
      if (resp.status === 204) {
        ok = true;
        hooks.succeeded(z, x, y, meta);
        return { data: new ArrayBuffer(0) };
      }
      const body = await resp.arrayBuffer();
      if (!resp.ok) {
        let json = null;
        try {
          json = JSON.parse(new TextDecoder().decode(body));
        } catch {
          /* not JSON */
        }
        const message = errorText(resp.status, json, meta);
        hooks.failed(z, x, y, message, meta);
        throw new Error(`tile ${z}/${x}/${y}: ${message}`);
      }
      ok = true;
      hooks.succeeded(z, x, y, meta);
      return { data: body };
    } catch (e) {
      if (e.name === "AbortError") hooks.cancelled(z, x, y);
      throw e;
    } finally {
      hooks.finished(z, x, y, ok);
    }
  });
}

// ---------------------------------------------------------------- tile math

export function tileBounds(z, x, y) {
  const n = 2 ** z;
  const lng = (v) => (v / n) * 360 - 180;
  const lat = (v) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * v) / n))) * 180) / Math.PI;
  return [lng(x), lat(y + 1), lng(x + 1), lat(y)];
}

export function tileAt(lng, lat, z) {
  const n = 2 ** z;
  const x = Math.min(n - 1, Math.max(0, Math.floor(((lng + 180) / 360) * n)));
  const r = (Math.max(Math.min(lat, 85.05), -85.05) * Math.PI) / 180;
  const y = Math.min(n - 1, Math.max(0, Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)));
  return [z, x, y];
}

// ---------------------------------------------------------------- layers

export function removeLayers(map) {
  for (const id of [...LAYERS, "udf-error-outline", "udf-error-fill"]) if (map.getLayer(id)) map.removeLayer(id);
  for (const id of [SOURCE, ERROR_SOURCE]) if (map.getSource(id)) map.removeSource(id);
}

function addVectorLayers(map, style, sourceLayer) {
  const src = sourceLayer ? { "source-layer": sourceLayer } : {};
  const polygon = ["==", ["geometry-type"], "Polygon"];
  const line = ["==", ["geometry-type"], "LineString"];
  const point = ["==", ["geometry-type"], "Point"];
  map.addLayer({
    id: "udf-fill",
    type: "fill",
    source: SOURCE,
    ...src,
    filter: polygon,
    paint: { "fill-color": style.fillColor, "fill-opacity": style.fillOpacity },
  });
  map.addLayer({
    id: "udf-line",
    type: "line",
    source: SOURCE,
    ...src,
    filter: ["any", polygon, line],
    paint: { "line-color": style.lineColor, "line-width": style.lineWidth, "line-opacity": style.lineOpacity },
  });
  map.addLayer({
    id: "udf-point",
    type: "circle",
    source: SOURCE,
    ...src,
    filter: point,
    paint: {
      "circle-color": style.pointColor,
      "circle-radius": style.pointRadius,
      "circle-opacity": style.pointOpacity,
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1,
    },
  });
}

function addErrorLayer(map) {
  map.addSource(ERROR_SOURCE, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  map.addLayer({
    id: "udf-error-fill",
    type: "fill",
    source: ERROR_SOURCE,
    paint: { "fill-color": "#dc2626", "fill-opacity": 0.12 },
  });
  map.addLayer({
    id: "udf-error-outline",
    type: "line",
    source: ERROR_SOURCE,
    paint: { "line-color": "#dc2626", "line-width": 2, "line-dasharray": [2, 1] },
  });
}

/** Outline the tiles whose run failed (their messages are in the Problems panel). */
export function showTileErrors(map, tiles) {
  const src = map.getSource(ERROR_SOURCE);
  if (!src) return;
  const features = tiles.map(([z, x, y]) => {
    const [w, s, e, n] = tileBounds(z, x, y);
    return {
      type: "Feature",
      properties: { tile: `${z}/${x}/${y}` },
      geometry: { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
    };
  });
  src.setData({ type: "FeatureCollection", features });
}

/**
 * Show a Tile UDF: `kind` is "vector" (MVT) or "raster" (PNG). Returns the generation id.
 * With `reuse` (same UDF, new parameters) only the tile URL is swapped, so MapLibre
 * re-requests every visible tile and aborts the old requests.
 */
export function showTiles(map, { target, params, kind, vizConfig, hooks, reuse }) {
  const gen = nextGeneration++;
  generations.set(gen, { target, params, format: kind === "raster" ? "png" : "mvt", hooks });
  for (const old of generations.keys()) if (old < gen - 1) generations.delete(old);
  const url = `fused://tiles/${gen}/{z}/{x}/{y}`;
  const existing = map.getSource(SOURCE);
  if (reuse && existing && existing.type === (kind === "raster" ? "raster" : "vector") && existing.setTiles) {
    existing.setTiles([url]);
    return gen;
  }
  removeLayers(map);
  if (kind === "raster") {
    map.addSource(SOURCE, { type: "raster", tiles: [url], tileSize: 256, maxzoom: 22 });
    map.addLayer({ id: "udf-raster", type: "raster", source: SOURCE, paint: { "raster-opacity": rasterOpacity(vizConfig) } });
  } else {
    map.addSource(SOURCE, { type: "vector", tiles: [url], maxzoom: 22 });
    addVectorLayers(map, vectorStyle(vizConfig), "udf");
  }
  addErrorLayer(map);
  return gen;
}

/** Show a File UDF's GeoJSON (zoomed to its bounds unless `keepView`). */
export function showGeoJson(map, geojson, vizConfig, keepView) {
  removeLayers(map);
  map.addSource(SOURCE, { type: "geojson", data: geojson });
  addVectorLayers(map, vectorStyle(vizConfig), null);
  addErrorLayer(map);
  if (!keepView) {
    const b = geojsonBounds(geojson);
    if (b) map.fitBounds(b, { padding: 40, maxZoom: 14, duration: 0 });
  }
}

/** Show a raster with bounds as an image layer. */
export function showImage(map, url, bounds, vizConfig, keepView) {
  removeLayers(map);
  const [w, s, e, n] = bounds;
  map.addSource(SOURCE, {
    type: "image",
    url,
    coordinates: [[w, n], [e, n], [e, s], [w, s]],
  });
  map.addLayer({ id: "udf-raster", type: "raster", source: SOURCE, paint: { "raster-opacity": rasterOpacity(vizConfig) } });
  addErrorLayer(map);
  if (!keepView) map.fitBounds([[w, s], [e, n]], { padding: 40, duration: 0 });
}

export function geojsonBounds(geojson) {
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === "number") {
      w = Math.min(w, c[0]);
      e = Math.max(e, c[0]);
      s = Math.min(s, c[1]);
      n = Math.max(n, c[1]);
    } else c.forEach(visit);
  };
  for (const f of geojson.features || []) {
    if (f.geometry && f.geometry.coordinates) visit(f.geometry.coordinates);
    if (f.geometry && f.geometry.geometries) f.geometry.geometries.forEach((g) => visit(g.coordinates));
  }
  if (!Number.isFinite(w)) return null;
  if (w === e && s === n) return [[w - 0.05, s - 0.05], [e + 0.05, n + 0.05]];
  return [[w, s], [e, n]];
}
