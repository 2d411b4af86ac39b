// Context menu: "Report this page / image / video / link to a hotline".
// A click prepares a draft in storage.session (memory only) and opens the
// report form with it; a data: or blob: source is never stored or read.

import { ext } from '../common/ext.js';
import { readSettings } from './settings.js';
import { translatorFor } from '../common/i18n.js';
import { draftFromMenuClick, MENU_ITEMS } from '../lib/draft.js';
import { uuid4 } from '../lib/uuid.js';

const FORM_SIZE = { width: 440, height: 680 };

export async function installMenus() {
  const { language } = await readSettings();
  const { t } = await translatorFor(language);
  await ext.contextMenus.removeAll();
  for (const [id, item] of Object.entries(MENU_ITEMS)) {
    ext.contextMenus.create({ id, title: t(item.titleKey), contexts: item.contexts });
  }
}

export async function onMenuClicked(info, tab) {
  const draft = draftFromMenuClick(info, tab);
  if (!draft) return null;
  const id = uuid4();
  await ext.storage.session.set({ [`draft:${id}`]: { ...draft, createdAt: Date.now() } });
  const url = ext.runtime.getURL(`ui/popup.html?draft=${id}`);
  try {
    await ext.windows.create({ url, type: 'popup', ...FORM_SIZE });
  } catch {
    await ext.tabs.create({ url });
  }
  return id;
}

const DRAFT_ID = /^[0-9a-f-]{36}$/;

/** The draft a menu click prepared; it stays until its report is sent. */
export async function getDraft(id) {
  if (typeof id !== 'string' || !DRAFT_ID.test(id)) return null;
  const key = `draft:${id}`;
  const got = await ext.storage.session.get(key);
  return got[key] || null;
}

export async function dropDraft(id) {
  if (typeof id === 'string' && DRAFT_ID.test(id)) await ext.storage.session.remove(`draft:${id}`);
}
