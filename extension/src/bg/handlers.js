// One small function per message name. Each takes the message payload and
// returns what the page gets back; none returns the installation token.

import { ext } from '../common/ext.js';
import { MSG } from '../lib/messages.js';
import { buildReport } from '../lib/payload.js';
import { applyStatus, pendingItems } from '../lib/history.js';
import { readSettings, saveSettings } from './settings.js';
import { connect, hotlines, serverAllowed } from './server.js';
import { discard, flushOutbox, outboxSummary, submitReport, updateHistory } from './outbox-runner.js';
import { dropDraft, getDraft } from './menus.js';

const MAX_STATUS_LOOKUPS = 20;

async function pageInit() {
  const settings = await readSettings();
  const [directory, allowed, outbox] = await Promise.all([
    hotlines(settings.serverUrl).catch(() => ({ hotlines: [], stale: true })),
    serverAllowed(settings.serverUrl),
    outboxSummary(),
  ]);
  // Opening a page is a good moment to retry what waits, without waiting for it.
  if (outbox.some((e) => e.nextAttemptAt <= Date.now())) flushOutbox().catch(() => {});
  return { settings, hotlines: directory.hotlines, hotlinesStale: directory.stale, serverAllowed: allowed, outbox };
}

async function draftGet({ id }) {
  return { draft: await getDraft(id) };
}

async function reportSubmit({ form, draftId }) {
  const built = buildReport(form || {}, ext.runtime.getManifest().version);
  if (!built.ok) return { outcome: 'invalid', errors: built.errors };
  const res = await submitReport(built.body);
  if (res.outcome !== 'rejected') await dropDraft(draftId);
  return res;
}

async function lookUp(item, server) {
  const res = await server.api.getStatus(item.reference, item.receipt);
  if (res.ok && res.data) await updateHistory((h) => applyStatus(h, item.key, res.data));
  return res.ok;
}

async function reportStatus({ key }) {
  const { history = [] } = await ext.storage.local.get('history');
  const item = history.find((i) => i.key === key);
  if (!item) return { item: null };
  if (pendingItems([item]).length === 1) {
    const { serverUrl } = await readSettings();
    await lookUp(item, connect(serverUrl));
  }
  const { history: after = [] } = await ext.storage.local.get('history');
  return { item: after.find((i) => i.key === key) || null };
}

async function historyGet() {
  const { history = [] } = await ext.storage.local.get('history');
  return { history, outbox: await outboxSummary() };
}

async function historyRefresh() {
  const { history = [] } = await ext.storage.local.get('history');
  const pending = pendingItems(history).slice(0, MAX_STATUS_LOOKUPS);
  if (pending.length > 0) {
    const { serverUrl } = await readSettings();
    const server = connect(serverUrl);
    for (const item of pending) {
      if (!(await lookUp(item, server))) break;
    }
  }
  return historyGet();
}

async function historyClear() {
  await updateHistory(() => []);
  return historyGet();
}

async function outboxDiscard({ key }) {
  await discard(String(key || ''));
  return historyGet();
}

async function settingsSave({ patch }) {
  return { settings: await saveSettings(patch && typeof patch === 'object' ? patch : {}) };
}

export const HANDLERS = Object.freeze({
  [MSG.PAGE_INIT]: pageInit,
  [MSG.DRAFT_GET]: draftGet,
  [MSG.REPORT_SUBMIT]: reportSubmit,
  [MSG.REPORT_STATUS]: reportStatus,
  [MSG.HISTORY_GET]: historyGet,
  [MSG.HISTORY_REFRESH]: historyRefresh,
  [MSG.HISTORY_CLEAR]: historyClear,
  [MSG.OUTBOX_DISCARD]: outboxDiscard,
  [MSG.SETTINGS_SAVE]: settingsSave,
});
