// Settings: what the reporter chose (storage.local), what an organisation
// preset (storage.managed), and the build's defaults, merged in that order
// except for the server address, which an organisation's preset fixes.

import { ext } from '../common/ext.js';
import { BUILD } from '../build-config.js';
import { checkServerUrl } from '../lib/urlrules.js';
import { countryFromLocales, UI_LOCALES } from '../lib/locale.js';
import { COUNTRY_CODES } from '../lib/countries.js';

const DEFAULTS = Object.freeze({ serverUrl: '', country: '', countryConfirmed: false, hotline: '', language: '' });

/** storage.managed; empty where no policy is set or the browser has none. */
export async function readManaged() {
  try {
    const m = await ext.storage.managed.get(null);
    return m && typeof m === 'object' ? m : {};
  } catch {
    // Firefox throws when no managed-storage manifest is installed.
    return {};
  }
}

export function guessCountry() {
  // The languages the person asks websites for ("de-AT") say more about where
  // they are than the language of the browser's menus, often left at en-US.
  const tags = [...(globalThis.navigator?.languages || []), ext.i18n.getUILanguage()];
  return countryFromLocales(tags);
}

export async function readSettings() {
  const [{ settings: stored = {} }, managed] = await Promise.all([ext.storage.local.get('settings'), readManaged()]);
  const s = { ...DEFAULTS, ...stored };
  const managedServer = typeof managed.serverUrl === 'string' ? checkServerUrl(managed.serverUrl) : { ok: false };
  const managedCountry = COUNTRY_CODES.includes(managed.country) ? managed.country : '';
  const country = s.country || managedCountry || guessCountry();
  return {
    serverUrl: managedServer.ok ? managedServer.url : s.serverUrl || BUILD.serverUrl,
    serverManaged: managedServer.ok,
    defaultServerUrl: BUILD.serverUrl,
    country,
    // A country someone chose, or one an organisation set, needs no question.
    countryConfirmed: !!(s.countryConfirmed || (!s.country && managedCountry)),
    hotline: s.hotline || (!s.country && typeof managed.hotline === 'string' ? managed.hotline : ''),
    language: s.language,
  };
}

/**
 * Applies a change from the options page or popup. Unknown fields and bad
 * values are ignored; the server address cannot change while managed.
 */
export async function saveSettings(patch) {
  const { settings: stored = {} } = await ext.storage.local.get('settings');
  const next = { ...DEFAULTS, ...stored };
  if ('country' in patch && COUNTRY_CODES.includes(patch.country)) {
    if (patch.country !== next.country) next.hotline = '';
    next.country = patch.country;
    next.countryConfirmed = true;
  }
  if ('countryConfirmed' in patch) next.countryConfirmed = !!patch.countryConfirmed;
  if ('hotline' in patch && typeof patch.hotline === 'string') next.hotline = patch.hotline.slice(0, 100);
  if ('language' in patch && (patch.language === '' || UI_LOCALES.includes(patch.language))) next.language = patch.language;
  if ('serverUrl' in patch) {
    const managed = await readManaged();
    if (!(typeof managed.serverUrl === 'string' && checkServerUrl(managed.serverUrl).ok)) {
      if (patch.serverUrl === '') next.serverUrl = '';
      else {
        const c = checkServerUrl(patch.serverUrl);
        if (c.ok) next.serverUrl = c.url === BUILD.serverUrl ? '' : c.url;
      }
    }
  }
  await ext.storage.local.set({ settings: next });
  return readSettings();
}

/** On first install: the country from the browser's language, not yet confirmed. */
export async function initSettings() {
  const { settings } = await ext.storage.local.get('settings');
  if (settings && settings.country) return;
  const managed = await readManaged();
  const managedCountry = COUNTRY_CODES.includes(managed.country) ? managed.country : '';
  const country = managedCountry || guessCountry();
  await ext.storage.local.set({
    settings: { ...DEFAULTS, ...(settings || {}), country, countryConfirmed: !!managedCountry },
  });
}
