// Sends reports. Every report is written to the outbox in storage.local
// before the first attempt, so a stopped worker or a closed browser loses
// nothing; an alarm brings the worker back to retry. The Idempotency-Key
// stored with each entry makes a repeated attempt return the first answer,
// so a report reaches the hotline once however often it is tried.

import { ext, withLock } from '../common/ext.js';
import { connect } from './server.js';
import { readSettings } from './settings.js';
import { afterFailure, classify, dueEntries, newEntry, nextWake } from '../lib/outbox.js';
import { addItem, itemFromAccepted, itemNotSent } from '../lib/history.js';
import { isAcceptedReport } from '../lib/api.js';
import { uuid4 } from '../lib/uuid.js';

export const OUTBOX_ALARM = 'reportit-outbox';
const OUTBOX_LOCK = 'reportit-outbox';
const HISTORY_LOCK = 'reportit-history';

async function loadOutbox() {
  const { outbox = [] } = await ext.storage.local.get('outbox');
  return Array.isArray(outbox) ? outbox : [];
}

async function updateOutbox(change) {
  const next = change(await loadOutbox());
  await ext.storage.local.set({ outbox: next });
  return next;
}

export async function updateHistory(change) {
  return withLock(HISTORY_LOCK, async () => {
    const { history = [] } = await ext.storage.local.get('history');
    const next = change(Array.isArray(history) ? history : []);
    await ext.storage.local.set({ history: next });
    return next;
  });
}

/** Sets the alarm to the earliest retry, or clears it when nothing waits. */
async function schedule(entries) {
  const when = nextWake(entries);
  if (when === null) await ext.alarms.clear(OUTBOX_ALARM);
  else await ext.alarms.create(OUTBOX_ALARM, { when: Math.max(when, Date.now() + 1000) });
}

/**
 * One attempt for one entry. Caller holds the outbox lock.
 * @param {boolean} background true when no one is waiting for the answer
 */
async function attempt(entry, background) {
  const { serverUrl } = await readSettings();
  const server = connect(serverUrl);
  const result = await server.withToken((token) => server.api.submitReport(token, entry.key, entry.body));
  const verdict = classify(result);
  const now = Date.now();

  if (verdict === 'sent' && isAcceptedReport(result.data)) {
    const item = itemFromAccepted(entry.key, result.data, entry.body.content_type, now);
    await updateHistory((h) => addItem(h, item));
    await updateOutbox((o) => o.filter((e) => e.key !== entry.key));
    return { outcome: 'sent', item };
  }
  if (verdict === 'rejected') {
    await updateOutbox((o) => o.filter((e) => e.key !== entry.key));
    const code = (result.problem && result.problem.code) || `http-${result.status}`;
    // Someone filling in the form sees the problem and can fix it; a report
    // refused on a later retry is listed so its author learns of it.
    if (background) await updateHistory((h) => addItem(h, itemNotSent(entry.key, entry.body.content_type, code, now)));
    return { outcome: 'rejected', problem: result.problem, status: result.status };
  }
  // 'retry', or a 2xx without a usable body: keep it and try later.
  await updateOutbox((o) => o.map((e) => (e.key === entry.key ? afterFailure(e, result, now) : e)));
  return { outcome: 'queued' };
}

/**
 * Queues a report built by lib/payload.js and makes the first attempt.
 * @returns {Promise<{outcome: 'sent'|'queued'|'rejected', key: string, item?: object, problem?: object}>}
 */
export async function submitReport(body) {
  const entry = newEntry(body, uuid4(), Date.now());
  return withLock(OUTBOX_LOCK, async () => {
    await updateOutbox((o) => [...o, entry]);
    let res;
    try {
      res = await attempt(entry, false);
    } finally {
      await schedule(await loadOutbox());
    }
    return { ...res, key: entry.key };
  });
}

/** Tries every entry that is due; run by the alarm and at browser start. */
export async function flushOutbox({ all = false } = {}) {
  return withLock(OUTBOX_LOCK, async () => {
    const entries = await loadOutbox();
    const due = all ? [...entries].sort((a, b) => a.createdAt - b.createdAt) : dueEntries(entries, Date.now());
    let sent = 0;
    for (const entry of due) {
      const res = await attempt(entry, true);
      if (res.outcome === 'sent') sent++;
      // When the server is unreachable, the others would fail the same way.
      if (res.outcome === 'queued') break;
    }
    await schedule(await loadOutbox());
    return { sent };
  });
}

/** What the pages may show of waiting reports: no URLs. */
export async function outboxSummary() {
  return (await loadOutbox()).map((e) => ({
    key: e.key,
    createdAt: e.createdAt,
    attempts: e.attempts,
    nextAttemptAt: e.nextAttemptAt,
    contentType: e.body.content_type,
  }));
}

export async function discard(key) {
  return withLock(OUTBOX_LOCK, async () => {
    await schedule(await updateOutbox((o) => o.filter((e) => e.key !== key)));
  });
}
