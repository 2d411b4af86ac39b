// Messages for the background (menu titles) and pages, in the language the
// reporter chose in the options, or the browser's. The browser's own
// i18n.getMessage cannot switch language, so messages.json is read directly.

import { ext } from './ext.js';
import { createTranslator, DEFAULT_LOCALE, pickLocale } from '../lib/locale.js';

async function loadMessages(locale) {
  try {
    const res = await fetch(ext.runtime.getURL(`_locales/${locale}/messages.json`));
    return await res.json();
  } catch {
    return {};
  }
}

/** The locale for a settings.language value ('' = the browser's). */
export function resolveLocale(language) {
  return language ? pickLocale(language) : pickLocale(ext.i18n.getUILanguage());
}

/** @returns {Promise<{t: (key: string, subs?: string[]) => string, locale: string}>} */
export async function translatorFor(language) {
  const locale = resolveLocale(language);
  const [messages, fallback] = await Promise.all([
    loadMessages(locale),
    locale === DEFAULT_LOCALE ? Promise.resolve(null) : loadMessages(DEFAULT_LOCALE),
  ]);
  return { t: createTranslator(messages, fallback || messages), locale };
}
