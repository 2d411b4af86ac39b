// The server as the background sees it: an API client for the configured
// address, the installation token kept for that address, and the cached
// hotline directory. Built afresh on each use: the worker keeps no state.

import { ext, withLock } from '../common/ext.js';
import { createApi } from '../lib/api.js';
import { createTokenKeeper } from '../lib/token.js';
import { originPattern } from '../lib/urlrules.js';

export const HOTLINES_MAX_AGE_MS = 24 * 60 * 60_000;

export function connect(serverUrl) {
  const api = createApi({ baseUrl: serverUrl });
  const keeper = createTokenKeeper({
    api,
    // A token belongs to one server: another address starts afresh.
    load: async () => {
      const { auth } = await ext.storage.local.get('auth');
      return auth && auth.server === serverUrl ? auth : null;
    },
    save: async (auth) => {
      if (auth) await ext.storage.local.set({ auth: { ...auth, server: serverUrl } });
      else await ext.storage.local.remove('auth');
    },
  });
  return {
    api,
    // One token request at a time across worker, popup and options.
    withToken: (call) => withLock('reportit-token', () => keeper.withToken(call)),
  };
}

/** Whether the browser lets the extension reach the server. */
export async function serverAllowed(serverUrl) {
  try {
    return await ext.permissions.contains({ origins: [originPattern(serverUrl)] });
  } catch {
    return false;
  }
}

/**
 * The hotline directory, from cache when fresh, else from the server with
 * If-None-Match. When the server cannot be reached the cache is used as is.
 * @returns {Promise<{hotlines: object[], stale: boolean}>}
 */
export async function hotlines(serverUrl, { maxAgeMs = HOTLINES_MAX_AGE_MS, now = Date.now() } = {}) {
  const { hotlines: cache } = await ext.storage.local.get('hotlines');
  const usable = cache && cache.server === serverUrl && Array.isArray(cache.list) ? cache : null;
  if (usable && now - usable.fetchedAt < maxAgeMs) return { hotlines: usable.list, stale: false };
  const res = await createApi({ baseUrl: serverUrl, timeoutMs: 10_000 }).getHotlines(usable ? usable.etag : '');
  if (res.ok && res.status === 304 && usable) {
    await ext.storage.local.set({ hotlines: { ...usable, fetchedAt: now } });
    return { hotlines: usable.list, stale: false };
  }
  if (res.ok && res.data && Array.isArray(res.data.hotlines)) {
    const list = res.data.hotlines.map(cleanHotline).filter((h) => h.id && h.country);
    await ext.storage.local.set({ hotlines: { server: serverUrl, etag: res.etag, fetchedAt: now, list } });
    return { hotlines: list, stale: false };
  }
  return { hotlines: usable ? usable.list : [], stale: true };
}

function cleanHotline(h) {
  return {
    id: String(h.id || ''),
    name: String(h.name || ''),
    organisation: String(h.organisation || ''),
    country: String(h.country || '').toUpperCase(),
    reportUrl: /^https:\/\//.test(h.report_url || '') ? String(h.report_url) : '',
    languages: Array.isArray(h.languages) ? h.languages.map(String) : [],
    default: !!h.default,
  };
}
