// Installation tokens: obtain on first use, renew before expiry, and recover
// by itself from a 401. Storage, API and clock are injected so the rules are
// tested in Node; the service worker passes storage.local and fetch.

/** Renew when less than this share of the token's life is left... */
export const RENEW_FRACTION = 0.2;
/** ...or less than this, whichever is longer. */
export const RENEW_MIN_MS = 5 * 60_000;

/**
 * @param {{token: string, expiresAt: number, issuedAt: number} | null} auth
 * @returns {'obtain' | 'refresh' | 'use'}
 */
export function tokenAction(auth, now) {
  if (!auth || typeof auth.token !== 'string' || !auth.token || !Number.isFinite(auth.expiresAt)) return 'obtain';
  if (auth.expiresAt <= now) return 'obtain'; // a refresh with an expired token is refused anyway
  const issuedAt = Number.isFinite(auth.issuedAt) ? auth.issuedAt : now;
  const life = Math.max(0, auth.expiresAt - issuedAt);
  const margin = Math.max(RENEW_MIN_MS, life * RENEW_FRACTION);
  return auth.expiresAt - now <= margin ? 'refresh' : 'use';
}

/** Turns a token response into what is stored; null if it is unusable. */
export function authFromResponse(data, now) {
  if (!data || typeof data.token !== 'string' || data.token === '') return null;
  const expiresAt = Date.parse(data.expires_at);
  if (Number.isNaN(expiresAt)) return null;
  return { token: data.token, expiresAt, issuedAt: now };
}

/**
 * @param {object} deps
 * @param {() => Promise<object|null>} deps.load
 * @param {(auth: object|null) => Promise<void>} deps.save
 * @param {object} deps.api createApi(...) result
 * @param {() => number} [deps.now]
 */
export function createTokenKeeper({ load, save, api, now = Date.now }) {
  async function obtain() {
    const res = await api.createInstallation();
    if (!res.ok) return res;
    const auth = authFromResponse(res.data, now());
    if (!auth) return { ok: false, status: res.status, retryAfterMs: 0, problem: null };
    await save(auth);
    return { ok: true, token: auth.token };
  }

  /** A usable token, or a failed api result (network, 429, ...). */
  async function token() {
    const auth = await load();
    const action = tokenAction(auth, now());
    if (action === 'use') return { ok: true, token: auth.token };
    if (action === 'obtain') return obtain();
    const res = await api.refreshToken(auth.token);
    if (res.ok) {
      const renewed = authFromResponse(res.data, now());
      if (renewed) {
        await save(renewed);
        return { ok: true, token: renewed.token };
      }
    }
    if (res.status === 401) return obtain();
    // The server could not renew just now; the old token still works for a while.
    return { ok: true, token: auth.token };
  }

  /**
   * Runs call(token) with a valid token. On a 401 the stored token is
   * dropped, a new installation token obtained, and the call made once more.
   */
  async function withToken(call) {
    let t = await token();
    if (!t.ok) return t;
    let res = await call(t.token);
    if (res.status !== 401) return res;
    await save(null);
    t = await obtain();
    if (!t.ok) return t;
    res = await call(t.token);
    return res;
  }

  return { token, withToken, obtain };
}
