// Client for the reportit server API (v1). Every call resolves to a result
// object and never throws, so callers decide on retries with one switch:
//   {ok: true,  status, data, etag?}
//   {ok: false, status, problem?, retryAfterMs, network?: true}
// Tokens travel only in the Authorization header and are never logged.

import { parseRetryAfter } from './outbox.js';

export const REQUEST_TIMEOUT_MS = 20_000;

/**
 * @param {object} deps
 * @param {string} deps.baseUrl server URL without trailing slash
 * @param {typeof fetch} [deps.fetch]
 * @param {number} [deps.timeoutMs]
 */
export function createApi({ baseUrl, fetch: fetchImpl = globalThis.fetch, timeoutMs = REQUEST_TIMEOUT_MS }) {
  const base = baseUrl.replace(/\/+$/, '');

  async function call(method, path, { headers = {}, body, expect = [200] } = {}) {
    const init = {
      method,
      headers: { Accept: 'application/json', ...headers },
      // No cookies or HTTP auth: the token is the only credential, and
      // reports must not be linkable to anything else in the browser.
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
      referrerPolicy: 'no-referrer',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (typeof AbortSignal !== 'undefined' && AbortSignal.timeout) init.signal = AbortSignal.timeout(timeoutMs);
    let res;
    try {
      res = await fetchImpl(base + path, init);
    } catch {
      return { ok: false, status: 0, network: true, retryAfterMs: 0 };
    }
    const retryAfterMs = parseRetryAfter(res.headers.get('Retry-After'));
    if (expect.includes(res.status)) {
      const data = res.status === 304 || res.status === 204 ? null : await readJson(res);
      if (data === undefined) return { ok: false, status: res.status, retryAfterMs, problem: null };
      return { ok: true, status: res.status, data, etag: res.headers.get('ETag') || '' };
    }
    const problem = await readJson(res);
    return { ok: false, status: res.status, retryAfterMs, problem: normaliseProblem(problem) };
  }

  const bearer = (token) => ({ Authorization: `Bearer ${token}` });

  return {
    createInstallation: () => call('POST', '/v1/installations', { body: {}, expect: [200, 201] }),
    refreshToken: (token) => call('POST', '/v1/token/refresh', { headers: bearer(token), expect: [200, 201] }),
    submitReport: (token, idempotencyKey, body) =>
      call('POST', '/v1/reports', {
        headers: { ...bearer(token), 'Idempotency-Key': idempotencyKey },
        body,
        expect: [200, 201, 202],
      }),
    getStatus: (reference, receipt) =>
      call('GET', `/v1/reports/${encodeURIComponent(reference)}`, { headers: { 'Report-Receipt': receipt } }),
    getHotlines: (etag) =>
      call('GET', '/v1/hotlines', { headers: etag ? { 'If-None-Match': etag } : {}, expect: [200, 304] }),
  };
}

async function readJson(res) {
  try {
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  } catch {
    return undefined;
  }
}

/**
 * Reduces an RFC 9457 problem to what the extension uses: the code (the last
 * segment of `type`), the field, the server's detail and per-field errors.
 */
export function normaliseProblem(p) {
  if (!p || typeof p !== 'object') return null;
  const code = (t) => (typeof t === 'string' ? t.replace(/[#/]+$/, '').split(/[/#:]/).pop() : '');
  return {
    code: code(p.type),
    title: typeof p.title === 'string' ? p.title : '',
    detail: typeof p.detail === 'string' ? p.detail : '',
    field: typeof p.field === 'string' ? p.field : '',
    errors: Array.isArray(p.errors)
      ? p.errors.map((e) => ({ field: String(e.field || ''), detail: String(e.detail || ''), code: code(e.type) }))
      : [],
  };
}

/** True if the 202 body has what the receipt view needs. */
export function isAcceptedReport(d) {
  return !!d && typeof d.reference === 'string' && typeof d.receipt === 'string' && d.reference !== '';
}
