import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApi, isAcceptedReport, normaliseProblem } from '../../src/lib/api.js';

function fakeFetch(respond) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    return respond(url, init);
  };
  fn.calls = calls;
  return fn;
}

const json = (status, body, headers = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

test('submitReport sends the token, the key and JSON, and nothing else identifying', async () => {
  const fetch = fakeFetch(() => json(202, { reference: 'R1', receipt: 'x' }));
  const api = createApi({ baseUrl: 'http://127.0.0.1:8080/', fetch });
  const res = await api.submitReport('tok', 'key-1', { url: 'https://example.com' });
  assert.equal(res.ok, true);
  assert.equal(res.status, 202);
  const { url, init } = fetch.calls[0];
  assert.equal(url, 'http://127.0.0.1:8080/v1/reports');
  assert.equal(init.method, 'POST');
  assert.equal(init.headers.Authorization, 'Bearer tok');
  assert.equal(init.headers['Idempotency-Key'], 'key-1');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.equal(init.credentials, 'omit');
  assert.equal(init.referrerPolicy, 'no-referrer');
  assert.equal(init.body, '{"url":"https://example.com"}');
});

test('problems are parsed into codes', async () => {
  const fetch = fakeFetch(() =>
    json(
      422,
      {
        type: 'https://reportit.example/problems/url-is-content',
        title: 'URL is content',
        status: 422,
        detail: 'd',
        field: 'url',
        errors: [{ field: 'url', detail: 'd', type: 'https://reportit.example/problems/url-is-content' }],
      },
      { 'Content-Type': 'application/problem+json' },
    ),
  );
  const res = await createApi({ baseUrl: 'http://x', fetch }).submitReport('t', 'k', {});
  assert.equal(res.ok, false);
  assert.equal(res.status, 422);
  assert.equal(res.problem.code, 'url-is-content');
  assert.equal(res.problem.field, 'url');
  assert.deepEqual(res.problem.errors, [{ field: 'url', detail: 'd', code: 'url-is-content' }]);
});

test('Retry-After is read on 429 and 503', async () => {
  for (const status of [429, 503]) {
    const fetch = fakeFetch(() => json(status, { type: 'about:blank', status }, { 'Retry-After': '7' }));
    const res = await createApi({ baseUrl: 'http://x', fetch }).createInstallation();
    assert.equal(res.status, status);
    assert.equal(res.retryAfterMs, 7000);
  }
});

test('a network failure is a result, not an exception', async () => {
  const fetch = fakeFetch(() => {
    throw new TypeError('Failed to fetch');
  });
  assert.deepEqual(await createApi({ baseUrl: 'http://x', fetch }).getHotlines(''), { ok: false, status: 0, network: true, retryAfterMs: 0 });
});

test('hotlines use If-None-Match and accept 304', async () => {
  const fetch = fakeFetch((url, init) => (init.headers['If-None-Match'] === '"e1"' ? new Response(null, { status: 304 }) : json(200, { hotlines: [] }, { ETag: '"e1"' })));
  const api = createApi({ baseUrl: 'http://x', fetch });
  const first = await api.getHotlines('');
  assert.equal(first.etag, '"e1"');
  const second = await api.getHotlines('"e1"');
  assert.deepEqual([second.ok, second.status, second.data], [true, 304, null]);
});

test('status lookups carry the receipt and escape the reference', async () => {
  const fetch = fakeFetch(() => json(200, { reference: 'A/B', status: 'delivered' }));
  await createApi({ baseUrl: 'http://x', fetch }).getStatus('A/B', 'rcpt');
  assert.equal(fetch.calls[0].url, 'http://x/v1/reports/A%2FB');
  assert.equal(fetch.calls[0].init.headers['Report-Receipt'], 'rcpt');
});

test('a success with an unreadable body is not taken as success', async () => {
  const fetch = fakeFetch(() => new Response('<html>', { status: 202 }));
  const res = await createApi({ baseUrl: 'http://x', fetch }).submitReport('t', 'k', {});
  assert.equal(res.ok, false);
  assert.equal(res.status, 202);
});

test('normaliseProblem and isAcceptedReport tolerate odd input', () => {
  assert.equal(normaliseProblem(null), null);
  assert.equal(normaliseProblem({ type: 'urn:problem:url-host' }).code, 'url-host');
  assert.equal(normaliseProblem({}).code, '');
  assert.equal(isAcceptedReport({ reference: 'R', receipt: 'x' }), true);
  assert.equal(isAcceptedReport({ reference: '', receipt: 'x' }), false);
  assert.equal(isAcceptedReport(null), false);
});
