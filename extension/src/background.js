// Background entry: a service worker in Chromium, an event page in Firefox.
// It registers every listener at the top level, synchronously, so the
// browser can wake it for any event, and keeps no state in variables:
// everything lives in storage, and alarms bring it back to retry.

import { ext } from './common/ext.js';
import { dispatch } from './bg/dispatcher.js';
import { installMenus, onMenuClicked } from './bg/menus.js';
import { flushOutbox, OUTBOX_ALARM } from './bg/outbox-runner.js';
import { initSettings } from './bg/settings.js';

ext.runtime.onInstalled.addListener(async () => {
  await initSettings();
  await installMenus();
  await flushOutbox();
});

ext.runtime.onStartup.addListener(async () => {
  await installMenus();
  // Alarms may not survive a browser restart: retry what waited.
  await flushOutbox();
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
