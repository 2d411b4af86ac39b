import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  afterFailure,
  backoffDelay,
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
  classify,
  dueEntries,
  JITTER,
  newEntry,
  nextWake,
  parseRetryAfter,
} from '../../src/lib/outbox.js';

const mid = () => 0.5; // no jitter

test('backoff doubles from 30 s up to one hour', () => {
  assert.equal(backoffDelay(1, 0, mid), BACKOFF_BASE_MS);
  assert.equal(backoffDelay(2, 0, mid), 2 * BACKOFF_BASE_MS);
  assert.equal(backoffDelay(3, 0, mid), 4 * BACKOFF_BASE_MS);
  assert.equal(backoffDelay(20, 0, mid), BACKOFF_MAX_MS);
  assert.equal(backoffDelay(1000, 0, mid), BACKOFF_MAX_MS);
});

test('jitter stays within bounds', () => {
  assert.equal(backoffDelay(1, 0, () => 0), Math.round(BACKOFF_BASE_MS * (1 - JITTER)));
  assert.equal(backoffDelay(1, 0, () => 0.999999), Math.round(BACKOFF_BASE_MS * (1 + JITTER * 0.999998)));
});

test("the server's Retry-After is a minimum, capped at a day", () => {
  assert.equal(backoffDelay(1, 120_000, mid), 120_000);
  assert.equal(backoffDelay(1, 1_000, mid), BACKOFF_BASE_MS);
  assert.equal(backoffDelay(1, 10 * 24 * 3600_000, mid), 24 * 3600_000);
});

test('classify: what is retried, what is final', () => {
  assert.equal(classify({ ok: true, status: 202 }), 'sent');
  assert.equal(classify({ ok: false, network: true, status: 0 }), 'retry');
  for (const s of [401, 408, 429, 500, 502, 503, 504]) assert.equal(classify({ ok: false, status: s }), 'retry', String(s));
  for (const s of [400, 404, 409, 413, 415, 422]) assert.equal(classify({ ok: false, status: s }), 'rejected', String(s));
});

test('afterFailure counts attempts and schedules the next one', () => {
  const e = newEntry({ url: 'https://example.com' }, 'k', 1000);
  assert.deepEqual(e, { key: 'k', body: { url: 'https://example.com' }, createdAt: 1000, attempts: 0, nextAttemptAt: 1000, lastError: '' });
  const e1 = afterFailure(e, { ok: false, network: true, status: 0, retryAfterMs: 0 }, 5000, mid);
  assert.equal(e1.attempts, 1);
  assert.equal(e1.nextAttemptAt, 5000 + BACKOFF_BASE_MS);
  assert.equal(e1.lastError, 'network');
  assert.equal(e1.key, 'k', 'the idempotency key never changes');
  assert.equal(e1.body, e.body, 'the body never changes');
  const e2 = afterFailure(e1, { ok: false, status: 503, retryAfterMs: 600_000 }, 6000, mid);
  assert.equal(e2.attempts, 2);
  assert.equal(e2.nextAttemptAt, 6000 + 600_000);
  assert.equal(e2.lastError, 'http-503');
});

test('dueEntries and nextWake', () => {
  const a = { key: 'a', createdAt: 2, nextAttemptAt: 100 };
  const b = { key: 'b', createdAt: 1, nextAttemptAt: 50 };
  const c = { key: 'c', createdAt: 3, nextAttemptAt: 500 };
  assert.deepEqual(dueEntries([a, b, c], 100).map((e) => e.key), ['b', 'a']);
  assert.deepEqual(dueEntries([a, b, c], 10), []);
  assert.equal(nextWake([a, b, c]), 50);
  assert.equal(nextWake([]), null);
});

test('parseRetryAfter reads seconds and HTTP dates', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:01:00 GMT', now), 60_000);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter(null, now), 0);
  assert.equal(parseRetryAfter('soon', now), 0);
});
