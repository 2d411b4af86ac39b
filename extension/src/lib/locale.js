// Language and country choices, and the message formatter used by every page.

/** UI languages shipped in _locales, in the order the options page lists them. */
export const UI_LOCALES = Object.freeze(['en', 'de', 'fr', 'nl', 'es', 'it', 'pl', 'pt_PT', 'pt_BR']);
export const DEFAULT_LOCALE = 'en';

/**
 * Picks the best shipped locale for a BCP 47 tag such as "de-AT" or "pt-BR".
 * @param {string} tag
 * @param {readonly string[]} available
 */
export function pickLocale(tag, available = UI_LOCALES) {
  if (!tag) return DEFAULT_LOCALE;
  const norm = String(tag).replace('-', '_');
  const exact = available.find((l) => l.toLowerCase() === norm.toLowerCase());
  if (exact) return exact;
  const lang = norm.split('_')[0].toLowerCase();
  if (lang === 'pt') return available.includes('pt_PT') ? 'pt_PT' : DEFAULT_LOCALE; // Portugal's spelling for pt without region
  return available.find((l) => l.split('_')[0] === lang) || DEFAULT_LOCALE;
}

/**
 * The reporter's likely country from the browser's languages ("de-AT" -> "AT").
 * A language without region uses its most likely region ("nl" -> "NL").
 * @param {readonly string[]} tags most preferred first
 * @returns {string} ISO 3166-1 alpha-2, or "" if nothing fits
 */
export function countryFromLocales(tags) {
  const list = (tags || []).filter(Boolean);
  for (const tag of list) {
    const region = regionOf(tag, false);
    if (region) return region;
  }
  for (const tag of list) {
    const region = regionOf(tag, true);
    if (region) return region;
  }
  return '';
}

function regionOf(tag, maximize) {
  try {
    let loc = new Intl.Locale(String(tag).replace('_', '-'));
    if (maximize) loc = loc.maximize();
    const r = loc.region;
    return r && /^[A-Z]{2}$/.test(r) ? r : '';
  } catch {
    return '';
  }
}

/**
 * Formats one messages.json entry the way browser.i18n.getMessage does:
 * $1..$9 are substitutions, $NAME$ refers to a named placeholder, $$ is "$".
 * @param {{message: string, placeholders?: object}} entry
 * @param {string[]} [subs]
 */
export function formatMessage(entry, subs = []) {
  if (!entry || typeof entry.message !== 'string') return '';
  const s = Array.isArray(subs) ? subs : [subs];
  const positional = (text) => text.replace(/\$(\d)/g, (_, d) => (s[Number(d) - 1] ?? '').toString());
  const named = entry.placeholders || {};
  let out = entry.message.replace(/\$([A-Za-z0-9_@]+)\$/g, (m, name) => {
    const ph = named[name.toLowerCase()] ?? named[name];
    return ph ? positional(String(ph.content)) : m;
  });
  out = out.replace(/\$\$/g, '\u0000');
  out = positional(out);
  return out.replace(/\u0000/g, '$');
}

/**
 * A translator over parsed messages.json files; falls back to English.
 * @param {object} messages the chosen locale
 * @param {object} fallback English
 */
export function createTranslator(messages, fallback = {}) {
  return (key, subs) => {
    const entry = (messages && messages[key]) || fallback[key];
    return entry ? formatMessage(entry, subs) : key;
  };
}

/** Each shipped language in its own name, for the language choice. */
export const LANGUAGE_NAMES = Object.freeze({
  en: 'English',
  de: 'Deutsch',
  fr: 'Français',
  nl: 'Nederlands',
  es: 'Español',
  it: 'Italiano',
  pl: 'Polski',
  pt_PT: 'Português (Portugal)',
  pt_BR: 'Português (Brasil)',
});
