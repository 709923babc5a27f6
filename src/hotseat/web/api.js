// HTTP helpers: JSON requests with the protocol's error envelope, and the CV upload with progress.
//
// Every error the server sends has the shape {"error": {"code", "message", "retryable"?,
// "retry_after"?}}; ApiError carries those fields so the page can show the message in words.
// Requests go with the browser's default credentials ("same-origin"), so the owner cookie the
// server sets scopes the sessions to this browser without any code here.

export class ApiError extends Error {
  constructor(message, { status = 0, code = null, retryable = false, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryable = retryable;
    this.retryAfter = retryAfter;
  }
}

const UNREACHABLE = "The server cannot be reached; check your connection and that hotseat is running.";

function errorFrom(status, data) {
  const error = data && typeof data === "object" ? data.error : null;
  const message = error?.message || `The server answered ${status}.`;
  return new ApiError(message, {
    status,
    code: error?.code || null,
    retryable: Boolean(error?.retryable),
    retryAfter: error?.retry_after ?? null,
  });
}

/** A JSON request under /api. Resolves with the parsed body (null for an empty one). */
export async function api(path, { method = "GET", body, signal } = {}) {
  const response = await send(path, { method, body, signal, accept: "application/json" });
  const data = await jsonOf(response);
  if (!response.ok) throw errorFrom(response.status, data);
  return data;
}

/** A POST under /api answered with Server-Sent Events. Resolves with the response once its head
 * is in (read its body as a stream); an error response throws as `api` does. */
export async function apiStream(path, { body, signal } = {}) {
  const response = await send(path, { method: "POST", body, signal, accept: "text/event-stream" });
  if (!response.ok) throw errorFrom(response.status, await jsonOf(response));
  return response;
}

async function send(path, { method, body, signal, accept }) {
  const init = { method, headers: { Accept: accept }, credentials: "same-origin", signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError(UNREACHABLE, { status: 0 });
  }
}

async function jsonOf(response) {
  const text = await response.text().catch(() => "");
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Upload a CV file to POST /api/cvs (multipart field `file`) with XMLHttpRequest, whose upload
 * progress events fetch() does not offer. `onProgress(fraction)` gets 0..1 while the bytes go
 * up; `null` means the size is unknown. Resolves with {id, filename, chars, pages, truncated}.
 * Returns {promise, abort}.
 */
export function uploadCv(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", "/api/cvs");
    xhr.responseType = "text";
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      onProgress?.(event.lengthComputable && event.total ? event.loaded / event.total : null);
    });
    xhr.upload.addEventListener("load", () => onProgress?.(1));
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else reject(errorFrom(xhr.status, data));
    });
    xhr.addEventListener("error", () => reject(new ApiError(UNREACHABLE, { status: 0 })));
    xhr.addEventListener("abort", () => reject(new ApiError("The upload was cancelled.", { code: "aborted" })));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Timestamps come back in UTC, often without an offset: read them as UTC. */
export function parseTime(value) {
  if (!value) return null;
  const hasZone = /(?:Z|[+-]\d\d:?\d\d)$/i.test(value);
  const date = new Date(hasZone ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}
