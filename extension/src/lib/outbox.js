// The outbox: reports waiting to be sent, and when to try each again.
// Pure functions over plain data, so the rules are tested without a browser;
// bg/outbox-runner.js keeps the entries in storage.local and runs them.

export const BACKOFF_BASE_MS = 30_000; // Chrome fires packed extensions' alarms at most every 30 s
export const BACKOFF_MAX_MS = 60 * 60_000;
export const JITTER = 0.2; // +-20 %, so many browsers coming back online do not retry together

/** A new entry: the body is final, the key is reused for every attempt. */
export function newEntry(body, key, now) {
  return { key, body, createdAt: now, attempts: 0, nextAttemptAt: now, lastError: '' };
}

/**
 * How long to wait before attempt number `attempts + 1`, after `attempts`
 * failures. A server's Retry-After is honoured as a minimum.
 * @param {number} attempts failures so far (>= 1)
 * @param {number} [retryAfterMs]
 * @param {() => number} [random] in [0, 1)
 */
export function backoffDelay(attempts, retryAfterMs = 0, random = Math.random) {
  const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  const jittered = exp * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.max(jittered, Math.min(retryAfterMs || 0, 24 * 60 * 60_000)));
}

/**
 * What an attempt's result means for the entry.
 * @param {object} result an api.js result
 * @returns {'sent' | 'retry' | 'rejected'}
 */
export function classify(result) {
  if (result.ok) return 'sent';
  if (result.network) return 'retry';
  const s = result.status;
  // 401 is handled by the token keeper before it gets here; one that remains
  // means a new token could not be had yet, which passes.
  if (s === 401 || s === 408 || s === 425 || s === 429 || s >= 500) return 'retry';
  return 'rejected';
}

/** The entry after a failed attempt that will be retried. */
export function afterFailure(entry, result, now, random = Math.random) {
  const attempts = entry.attempts + 1;
  return {
    ...entry,
    attempts,
    nextAttemptAt: now + backoffDelay(attempts, result.retryAfterMs, random),
    lastError: result.network ? 'network' : `http-${result.status}`,
  };
}

/** Entries due at `now`, oldest first. */
export function dueEntries(entries, now) {
  return entries.filter((e) => e.nextAttemptAt <= now).sort((a, b) => a.createdAt - b.createdAt);
}

/** When the alarm should next fire, or null if nothing waits. */
export function nextWake(entries) {
  if (entries.length === 0) return null;
  return Math.min(...entries.map((e) => e.nextAttemptAt));
}

/**
 * Parses a Retry-After header (seconds or HTTP date) into milliseconds.
 * @returns {number} 0 when absent or unreadable
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === '') return 0;
  const s = String(value).trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? 0 : Math.max(0, t - now);
}
