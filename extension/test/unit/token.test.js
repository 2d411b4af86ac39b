import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authFromResponse, createTokenKeeper, tokenAction, RENEW_MIN_MS } from '../../src/lib/token.js';

const HOUR = 3600_000;

test('tokenAction: obtain, refresh near expiry, else use', () => {
  const now = 10 * HOUR;
  assert.equal(tokenAction(null, now), 'obtain');
  assert.equal(tokenAction({ token: '', expiresAt: now + HOUR }, now), 'obtain');
  assert.equal(tokenAction({ token: 't', expiresAt: now - 1, issuedAt: 0 }, now), 'obtain');
  // A 30-day token is renewed in its last 6 days (20 %).
  const month = 30 * 24 * HOUR;
  assert.equal(tokenAction({ token: 't', expiresAt: now + 7 * 24 * HOUR, issuedAt: now + 7 * 24 * HOUR - month }, now), 'use');
  assert.equal(tokenAction({ token: 't', expiresAt: now + 5 * 24 * HOUR, issuedAt: now + 5 * 24 * HOUR - month }, now), 'refresh');
  // A short token is renewed in its last 5 minutes at least.
  assert.equal(tokenAction({ token: 't', expiresAt: now + RENEW_MIN_MS - 1, issuedAt: now - 5 * RENEW_MIN_MS }, now), 'refresh');
  assert.equal(tokenAction({ token: 't', expiresAt: now + 2 * RENEW_MIN_MS, issuedAt: now }, now), 'use');
});

test('authFromResponse checks the shape', () => {
  assert.deepEqual(authFromResponse({ token: 'abc', expires_at: '2030-01-01T00:00:00Z' }, 5), { token: 'abc', expiresAt: Date.parse('2030-01-01T00:00:00Z'), issuedAt: 5 });
  assert.equal(authFromResponse({ token: '', expires_at: '2030-01-01T00:00:00Z' }, 5), null);
  assert.equal(authFromResponse({ token: 'abc', expires_at: 'soon' }, 5), null);
  assert.equal(authFromResponse(null, 5), null);
});

/** A fake server: tokens it issued, and which of them it still accepts. */
function fakeApi(now) {
  let n = 0;
  const valid = new Set();
  const calls = [];
  const issue = () => {
    const token = `t${++n}`;
    valid.add(token);
    return { ok: true, status: 201, data: { token, expires_at: new Date(now() + 24 * HOUR).toISOString() } };
  };
  return {
    calls,
    valid,
    down: false,
    async createInstallation() {
      calls.push('install');
      if (this.down) return { ok: false, network: true, status: 0 };
      return issue();
    },
    async refreshToken(token) {
      calls.push(`refresh:${token}`);
      if (this.down) return { ok: false, network: true, status: 0 };
      if (!valid.has(token)) return { ok: false, status: 401 };
      valid.delete(token);
      return issue();
    },
    async submit(token) {
      calls.push(`submit:${token}`);
      return valid.has(token) ? { ok: true, status: 202 } : { ok: false, status: 401 };
    },
  };
}

function setup(start = 0) {
  let clock = start;
  const now = () => clock;
  const api = fakeApi(now);
  const store = { auth: null };
  const keeper = createTokenKeeper({
    api,
    now,
    load: async () => store.auth,
    save: async (a) => {
      store.auth = a;
    },
  });
  return { api, store, keeper, advance: (ms) => (clock += ms) };
}

test('first use obtains an installation token and keeps it', async () => {
  const { api, store, keeper } = setup();
  const res = await keeper.withToken((t) => api.submit(t));
  assert.equal(res.status, 202);
  assert.deepEqual(api.calls, ['install', 'submit:t1']);
  assert.equal(store.auth.token, 't1');
  await keeper.withToken((t) => api.submit(t));
  assert.deepEqual(api.calls, ['install', 'submit:t1', 'submit:t1'], 'no new token while the old one is good');
});

test('a token near expiry is renewed before use', async () => {
  const { api, store, keeper, advance } = setup();
  await keeper.withToken((t) => api.submit(t));
  advance(23 * HOUR);
  const res = await keeper.withToken((t) => api.submit(t));
  assert.equal(res.status, 202);
  assert.deepEqual(api.calls.slice(2), ['refresh:t1', 'submit:t2']);
  assert.equal(store.auth.token, 't2');
});

test('an expired token is replaced by a new installation', async () => {
  const { api, store, keeper, advance } = setup();
  await keeper.withToken((t) => api.submit(t));
  advance(25 * HOUR);
  await keeper.withToken((t) => api.submit(t));
  assert.deepEqual(api.calls.slice(2), ['install', 'submit:t2']);
  assert.equal(store.auth.token, 't2');
});

test('a 401 drops the token, obtains a new one and tries once more', async () => {
  const { api, store, keeper } = setup();
  await keeper.withToken((t) => api.submit(t));
  api.valid.clear(); // the server forgot every token (e.g. a new signing key)
  const res = await keeper.withToken((t) => api.submit(t));
  assert.equal(res.status, 202);
  assert.deepEqual(api.calls.slice(2), ['submit:t1', 'install', 'submit:t2']);
  assert.equal(store.auth.token, 't2');
});

test('a refresh refused with 401 falls back to a new installation', async () => {
  const { api, keeper, advance } = setup();
  await keeper.withToken((t) => api.submit(t));
  api.valid.clear();
  advance(23 * HOUR);
  const res = await keeper.withToken((t) => api.submit(t));
  assert.equal(res.status, 202);
  assert.deepEqual(api.calls.slice(2), ['refresh:t1', 'install', 'submit:t2']);
});

test('a refresh that fails for another reason keeps using the valid token', async () => {
  const { api, keeper, advance } = setup();
  await keeper.withToken((t) => api.submit(t));
  advance(23 * HOUR);
  api.down = true;
  const res = await keeper.withToken((t) => api.submit(t));
  assert.equal(res.status, 202);
  assert.deepEqual(api.calls.slice(2), ['refresh:t1', 'submit:t1']);
});

test('no token to be had: the failure is returned, nothing is sent', async () => {
  const { api, store, keeper } = setup();
  api.down = true;
  const res = await keeper.withToken((t) => api.submit(t));
  assert.equal(res.ok, false);
  assert.equal(res.network, true);
  assert.deepEqual(api.calls, ['install']);
  assert.equal(store.auth, null);
});

test('a second 401 right after a new token is returned, not looped on', async () => {
  const { store, keeper } = setup();
  const calls = [];
  const res = await keeper.withToken(async (t) => {
    calls.push(t);
    return { ok: false, status: 401 };
  });
  assert.equal(res.status, 401);
  assert.deepEqual(calls, ['t1', 't2']);
  assert.equal(store.auth.token, 't2');
});
