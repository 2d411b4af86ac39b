// A small stand-in for the reportit server, implementing the v1 contract the
// extension relies on. Dev-only: it lets the extension be exercised before the
// Go server exists, and injects faults (down, 503, 429, 401) on demand.
//   node test/mock-server.js [port]

import http from 'node:http';
import crypto from 'node:crypto';

const HOTLINES = [
  { id: 'at-stopline', name: 'Stopline', organisation: 'ISPA', country: 'AT', report_url: 'https://www.stopline.at', languages: ['de', 'en'], default: true },
  { id: 'de-eco', name: 'eco Beschwerdestelle', organisation: 'eco', country: 'DE', report_url: 'https://www.eco.de', languages: ['de'], default: true },
  { id: 'de-fsm', name: 'FSM Beschwerdestelle', organisation: 'FSM', country: 'DE', report_url: 'https://www.fsm.de', languages: ['de'], default: false },
  { id: 'fr-pointdecontact', name: 'Point de Contact', organisation: 'Point de Contact', country: 'FR', report_url: 'https://www.pointdecontact.net', languages: ['fr'], default: true },
  { id: 'nl-offlimits', name: 'Offlimits', organisation: 'Offlimits', country: 'NL', report_url: 'https://www.offlimits.nl', languages: ['nl'], default: true },
  { id: 'us-ncmec', name: 'CyberTipline', organisation: 'NCMEC', country: 'US', report_url: 'https://report.cybertip.org', languages: ['en'], default: true },
  { id: 'gb-iwf', name: 'Internet Watch Foundation', organisation: 'IWF', country: 'GB', report_url: 'https://report.iwf.org.uk', languages: ['en'], default: true },
];

const PROBLEM_BASE = 'https://reportit.example/problems/';

export function createMockServer({ tokenTtlMs = 3600_000 } = {}) {
  const state = {
    tokens: new Map(), // token -> expiresAt
    reports: new Map(), // reference -> report
    idem: new Map(), // token-independent key -> {fingerprint, answer}
    requests: [], // log: {method, path, status, idempotencyKey}
    faults: [], // queue of {path, status, retryAfter?} applied in order
    statusOverride: new Map(), // reference -> status
  };
  const body = HOTLINES ? JSON.stringify({ hotlines: HOTLINES }) : '';
  const etag = `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;

  const send = (res, status, obj, headers = {}) => {
    res.writeHead(status, { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers });
    res.end(obj === undefined ? '' : JSON.stringify(obj));
  };
  const problem = (res, status, code, detail, extra = {}, headers = {}) =>
    send(res, status, { type: PROBLEM_BASE + code, title: code, status, detail, ...extra }, headers);
  const issue = () => {
    const token = crypto.randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + tokenTtlMs;
    state.tokens.set(token, expiresAt);
    return { token, expires_at: new Date(expiresAt).toISOString(), token_type: 'Bearer' };
  };
  const bearer = (req) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    if (!m) return null;
    const exp = state.tokens.get(m[1]);
    return exp && exp > Date.now() ? m[1] : null;
  };
  const readBody = (req) =>
    new Promise((resolve) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });

  async function handle(req, res) {
    const url = new URL(req.url, 'http://x');
    const entry = { method: req.method, path: url.pathname, status: 0, idempotencyKey: req.headers['idempotency-key'] || '', body: null };
    state.requests.push(entry);
    const fault = state.faults.length > 0 && (!state.faults[0].path || state.faults[0].path === url.pathname) ? state.faults.shift() : null;
    const done = (status) => (entry.status = status);
    if (fault) {
      done(fault.status);
      return problem(res, fault.status, fault.code || 'injected', 'Injected fault.', {}, fault.retryAfter ? { 'Retry-After': String(fault.retryAfter) } : {});
    }
    if (req.method === 'POST' && url.pathname === '/v1/installations') {
      done(201);
      return send(res, 201, issue());
    }
    if (req.method === 'POST' && url.pathname === '/v1/token/refresh') {
      if (!bearer(req)) return done(401), problem(res, 401, 'unauthorized', 'Not authorised.');
      state.tokens.delete(bearer(req));
      done(200);
      return send(res, 200, issue());
    }
    if (req.method === 'GET' && url.pathname === '/v1/hotlines') {
      if (req.headers['if-none-match'] === etag) return done(304), send(res, 304, undefined, { ETag: etag });
      done(200);
      return send(res, 200, { hotlines: HOTLINES }, { ETag: etag });
    }
    if (req.method === 'POST' && url.pathname === '/v1/reports') {
      if (!bearer(req)) return done(401), problem(res, 401, 'unauthorized', 'Not authorised.');
      const raw = await readBody(req);
      let r;
      try {
        r = JSON.parse(raw);
      } catch {
        return done(400), problem(res, 400, 'malformed-json', 'Malformed JSON.');
      }
      entry.body = r;
      const key = req.headers['idempotency-key'];
      const fp = crypto.createHash('sha256').update(raw).digest('hex');
      if (key && state.idem.has(key)) {
        const prev = state.idem.get(key);
        if (prev.fingerprint !== fp) return done(422), problem(res, 422, 'idempotency-key-reused', 'Key reused.', { field: 'Idempotency-Key' });
        done(202);
        return send(res, 202, prev.answer);
      }
      if (typeof r.url !== 'string' || /^(data|blob):/i.test(r.url)) return done(422), problem(res, 422, 'url-is-content', 'The URL is the content.', { field: 'url' });
      if (!/^https?:\/\//i.test(r.url)) return done(422), problem(res, 422, 'url-scheme', 'Scheme.', { field: 'url' });
      if (/^https?:\/\/(localhost|127\.|10\.|192\.168\.)/i.test(r.url)) return done(422), problem(res, 422, 'url-host', 'Host.', { field: 'url' });
      const hotline = r.hotline ? HOTLINES.find((h) => h.id === r.hotline) : HOTLINES.find((h) => h.country === r.country && h.default);
      if (r.hotline && !hotline) return done(422), problem(res, 422, 'unknown-hotline', 'Unknown hotline.', { field: 'hotline' });
      const h = hotline || HOTLINES[0];
      const reference = `RI-${crypto.randomBytes(3).toString('hex').toUpperCase()}`;
      const answer = {
        id: crypto.randomUUID(),
        reference,
        receipt: crypto.randomBytes(16).toString('base64url'),
        status: 'accepted',
        hotline: { id: h.id, name: h.name, country: h.country, report_url: h.report_url },
        duplicate: [...state.reports.values()].some((x) => x.body.url === r.url),
        received_at: new Date().toISOString(),
      };
      state.reports.set(reference, { body: r, answer });
      if (key) state.idem.set(key, { fingerprint: fp, answer });
      done(202);
      return send(res, 202, answer);
    }
    const m = /^\/v1\/reports\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      const rep = state.reports.get(decodeURIComponent(m[1]));
      if (!rep || req.headers['report-receipt'] !== rep.answer.receipt) return done(404), problem(res, 404, 'not-found', 'Not found.');
      const status = state.statusOverride.get(rep.answer.reference) || 'accepted';
      done(200);
      return send(res, 200, {
        reference: rep.answer.reference,
        status,
        hotline: rep.answer.hotline,
        received_at: rep.answer.received_at,
        ...(status === 'delivered' ? { delivered_at: new Date().toISOString() } : {}),
      });
    }
    done(404);
    return problem(res, 404, 'not-found', 'Not found.');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => problem(res, 500, 'internal', 'Internal error.'));
  });
  return { server, state };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] || 8080);
  const { server } = createMockServer();
  server.listen(port, '127.0.0.1', () => console.log(`mock reportit server on http://127.0.0.1:${port}`));
}
