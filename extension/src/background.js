// Background entry: a service worker in Chromium, an event page in Firefox.
// It registers every listener at the top level, synchronously, so the
// browser can wake it for any event, and keeps no state in variables:
// everything lives in storage, and alarms bring it back to retry.

import { ext } from './common/ext.js';
import { dispatch } from './bg/dispatcher.js';
import { installMenus, onMenuClicked } from './bg/menus.js';
import { flushOutbox, OUTBOX_ALARM } from './bg/outbox-runner.js';
import { initSettings } from './bg/settings.js';

ext.runtime.onInstalled.addListener(async ({ reason }) => {
  await initSettings();
  await installMenus();
  // On first install, show where reports will go (the country was guessed
  // from the browser's language) and how privacy is kept.
  if (reason === 'install') ext.runtime.openOptionsPage().catch(() => {});
  // After an update (or a reload of an unpacked build) nothing should wait
  // for the alarm: try what is queued now.
  await flushOutbox({ all: true });
});

ext.runtime.onStartup.addListener(async () => {
  await installMenus();
  // The network may well be back after a restart, and alarms may not have
  // survived it: try everything that waits, now.
  await flushOutbox({ all: true });
});

ext.contextMenus.onClicked.addListener((info, tab) => {
  onMenuClicked(info, tab).catch((err) => console.error('reportit: menu', err));
});

ext.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === OUTBOX_ALARM) flushOutbox().catch((err) => console.error('reportit: outbox', err));
});

ext.storage.onChanged.addListener((changes, area) => {
  const langChanged =
    area === 'local' && changes.settings && (changes.settings.oldValue || {}).language !== (changes.settings.newValue || {}).language;
  if (langChanged) installMenus().catch(() => {});
});

ext.runtime.onMessage.addListener(dispatch);

// Reachable only from this extension's own worker console (and the e2e
// tests): the context-menu handler, which no test can click natively.
globalThis.reportitDebug = Object.freeze({ onMenuClicked, flushOutbox });
