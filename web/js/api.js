// The one door to the public API (/api/v1 on another origin).
//
// The access token lives in this module's memory only. The refresh token is an HttpOnly,
// SameSite=Strict cookie scoped to /api/v1/auth/session, set and rotated by the API: script
// (ours or an injected one) can never read it. A page reload restores the session with one
// silent POST /auth/session/refresh.

let apiBase = "";
let access = null; // {token, claims, expiresAt}
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

/** An API failure, carrying the problem+json body. `message` is always a readable sentence. */
export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem || {};
    super(readable(status, p));
    this.status = status;
    this.title = p.title || "";
    this.detail = p.detail || "";
    /** [{pointer, code, message}] for validation errors (pointer: a JSON Pointer into the body). */
    this.errors = Array.isArray(p.errors) ? p.errors : [];
  }
}

function readable(status, p) {
  if (status === 0) return "The service cannot be reached. Check your connection and try again.";
  if (p.detail) return sentence(p.detail);
  if (p.title) return sentence(p.title);
  if (status === 401) return "Your session has ended. Please log in again.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "That item no longer exists.";
  if (status >= 500) return "Something went wrong on our side. Please try again in a moment.";
  return `The request failed (HTTP ${status}).`;
}

function sentence(text) {
  const t = String(text).trim();
  if (!t) return t;
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** Read /config.json once: {apiBase}. */
export async function configure() {
  const res = await fetch("/config.json", { cache: "no-store" });
  if (!res.ok) throw new ApiError(res.status, { title: "the site configuration is missing" });
  const cfg = await res.json();
  apiBase = String(cfg.apiBase || "").replace(/\/$/, "");
}

/** The signed-in user's claims ({sub, tid, role}) or null. */
export function session() {
  return access ? access.claims : null;
}

/** Called with the claims (or null) whenever the session starts or ends. */
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function decodeClaims(token) {
  const part = token.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json);
}

function setAccess(body) {
  clearTimeout(refreshTimer);
  if (!body) {
    access = null;
  } else {
    const ttl = Number(body.expires_in) || 300;
    access = { token: body.access_token, claims: decodeClaims(body.access_token), expiresAt: Date.now() + ttl * 1000 };
    // Silent refresh a minute before expiry (or at 80% of a short lifetime).
    const lead = Math.min(60, ttl * 0.2);
    refreshTimer = setTimeout(() => refresh().catch(() => {}), Math.max(1, ttl - lead) * 1000);
  }
  for (const fn of listeners) fn(session());
}

async function raw(method, path, { body, headers = {}, credentials = "omit" } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiBase + path, init);
  } catch {
    throw new ApiError(0, {});
  }
  return res;
}

async function parse(res) {
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** Log in with email and password; the API sets the refresh cookie. */
export async function login(email, password) {
  const res = await raw("POST", "/auth/session", { body: { email, password }, credentials: "include" });
  setAccess(await parse(res));
  return session();
}

/** Rotate the refresh cookie and get a new access token. Concurrent callers share one request. */
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await raw("POST", "/auth/session/refresh", { credentials: "include" });
        setAccess(await parse(res));
        return session();
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) setAccess(null);
        throw err;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** Restore a session after a page load; resolves to the claims or null. */
export async function restore() {
  try {
    return await refresh();
  } catch {
    return null;
  }
}

export async function logout() {
  try {
    await raw("DELETE", "/auth/session", { credentials: "include" });
  } finally {
    setAccess(null);
  }
}

/**
 * Call the API as the signed-in user. Returns the parsed JSON (null for 204).
 * options: {body, query, etag} — etag is sent as If-Match for updates.
 * With {withEtag: true} it returns {data, etag}.
 */
export async function request(method, path, options = {}) {
  const { body, query, etag, withEtag = false } = options;
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "") continue;
      for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
    }
    const s = q.toString();
    if (s) url += (url.includes("?") ? "&" : "?") + s;
  }
  const send = () => {
    const headers = {};
    if (access) headers.Authorization = `Bearer ${access.token}`;
    if (etag) headers["If-Match"] = etag;
    return raw(method, url, { body, headers });
  };
  let res = await send();
  if (res.status === 401 && access) {
    await refresh(); // throws 401 when the session is truly over
    res = await send();
  }
  const data = await parse(res);
  return withEtag ? { data, etag: res.headers.get("ETag") } : data;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const put = (path, body, options = {}) => request("PUT", path, { ...options, body });
export const patch = (path, body, options = {}) => request("PATCH", path, { ...options, body });
export const del = (path, options) => request("DELETE", path, options);

/** Calls that need no session (sign-up, verification, password reset). */
export async function anonymous(method, path, body) {
  return parse(await raw(method, path, { body }));
}

/**
 * A short-lived signed URL for media (voicemail, prompt, recording) to put in an <audio>
 * element: the API answers {url, expires_at} when asked for JSON instead of a 302.
 */
export async function mediaUrl(path) {
  const data = await get(path);
  return data.url;
}
