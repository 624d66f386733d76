// Calls to the server. The token (API key or access token) lives only in this module's
// memory: it is sent as `Authorization: Bearer`, never stored in a cookie, storage or a URL.

let token = null;

export function setToken(t) {
  token = t || null;
}

export function signedIn() {
  return token !== null;
}

/** An error from the server, with its status, JSON body and `x-fused-metadata`. */
export class ApiError extends Error {
  constructor(message, status, body, meta) {
    super(message);
    this.status = status;
    this.body = body;
    this.meta = meta;
  }
}

/** The parsed `x-fused-metadata` header of a response ({} when absent or not JSON). */
export function metadataOf(resp) {
  const raw = resp.headers.get("x-fused-metadata");
  if (!raw) return {};
  try {
    const v = JSON.parse(raw);
    return v && typeof v === "object" ? v : {};
  } catch {
    return {};
  }
}

/** The most useful message of a failed response. */
export function errorText(status, body, meta) {
  if (meta && meta.errormsg) {
    const cls = meta.exception_class ? `${meta.exception_class}: ` : "";
    const line = meta.lineno != null ? ` (line ${meta.lineno})` : "";
    return `${cls}${meta.errormsg}${line}`;
  }
  if (body && typeof body === "object") {
    if (body.parameter) {
      return `parameter '${body.parameter}': expected ${body.expected}, got ${JSON.stringify(body.value)}`;
    }
    return body.error_description || body.error || `HTTP ${status}`;
  }
  return `HTTP ${status}`;
}

/** fetch() with the bearer token; returns the Response (any status). */
export function request(path, { method = "GET", json, headers = {}, signal, auth = true } = {}) {
  const h = { ...headers };
  if (auth && token) h.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  return fetch(path, { method, headers: h, body, signal, credentials: "omit", cache: "no-store" });
}

/** A JSON call: resolves to the body, rejects with an ApiError naming what failed. */
export async function call(path, options = {}) {
  const resp = await request(path, options);
  const meta = metadataOf(resp);
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!resp.ok) throw new ApiError(errorText(resp.status, body, meta), resp.status, body, meta);
  return body;
}

/** Form-encoded POST (the OAuth endpoints). */
export async function postForm(path, fields) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await resp.json().catch(() => null);
  return { status: resp.status, body };
}
