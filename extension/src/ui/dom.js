// Helpers shared by the popup and the options page.

import { ext } from '../common/ext.js';
import { translatorFor } from '../common/i18n.js';

/**
 * Fills every [data-i18n] element's text and every [data-i18n-attr]
 * ("attr:key;attr:key") attribute under root.
 */
export function localise(root, t) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

/** Loads the translator for the chosen language and localises the document. */
export async function localiseDocument(language) {
  const { t, locale } = await translatorFor(language);
  document.documentElement.lang = locale.replace('_', '-');
  localise(document, t);
  document.title = t(document.documentElement.dataset.titleKey || 'extName');
  return { t, locale };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends one message to the background and returns its result. While the
 * worker is starting, the browser may answer "no receiver": then it is
 * asked again, as the message was not delivered.
 */
export async function call(type, payload = {}) {
  let lastError;
  for (let i = 0; i < 5; i++) {
    let res;
    try {
      res = await ext.runtime.sendMessage({ type, payload });
    } catch (err) {
      lastError = err;
      await sleep(150 * (i + 1));
      continue;
    }
    if (res && res.ok) return res.result;
    throw new Error((res && res.error) || 'no-answer');
  }
  throw lastError || new Error('no-answer');
}

export function show(el, visible = true) {
  el.hidden = !visible;
}

/** Formats a time in the page's language, in the browser's regional style when they share a language. */
export function formatTime(ms, locale) {
  const lang = locale.split('_')[0];
  const browser = globalThis.navigator?.language || '';
  const tag = browser.split('-')[0] === lang ? browser : locale.replace('_', '-');
  try {
    return new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
  } catch {
    return new Date(ms).toISOString();
  }
}

/** A country's name in the page's language. */
export function countryName(code, locale) {
  try {
    return new Intl.DisplayNames([locale.replace('_', '-'), 'en'], { type: 'region' }).of(code) || code;
  } catch {
    return code;
  }
}

/** The hotline a report goes to: the chosen one, else the country's default. */
export function effectiveHotline(hotlines, settings) {
  if (settings.hotline) {
    const chosen = hotlines.find((h) => h.id === settings.hotline);
    if (chosen) return { hotline: chosen, explicit: true };
  }
  return { hotline: hotlines.find((h) => h.country === settings.country && h.default) || null, explicit: false };
}

/** Fills a <select> of hotlines: the country's own first, then all others. */
export function fillHotlineSelect(select, hotlines, country, selectedId, t, locale) {
  select.replaceChildren();
  const def = new Option(t('hotlineDefaultOption'), '');
  select.append(def);
  const own = hotlines.filter((h) => h.country === country);
  const others = hotlines
    .filter((h) => h.country !== country)
    .sort((a, b) => countryName(a.country, locale).localeCompare(countryName(b.country, locale)) || a.name.localeCompare(b.name));
  const group = (labelKey, list) => {
    if (list.length === 0) return;
    const g = document.createElement('optgroup');
    g.label = t(labelKey);
    for (const h of list) g.append(new Option(`${h.name} (${countryName(h.country, locale)})`, h.id));
    select.append(g);
  };
  group('hotlineGroupCountry', own);
  group('hotlineGroupOther', others);
  select.value = hotlines.some((h) => h.id === selectedId) ? selectedId : '';
}
