import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countryFromLocales, createTranslator, formatMessage, pickLocale, UI_LOCALES } from '../../src/lib/locale.js';

test('pickLocale maps browser languages to shipped locales', () => {
  assert.equal(pickLocale('de-AT'), 'de');
  assert.equal(pickLocale('de'), 'de');
  assert.equal(pickLocale('pt-BR'), 'pt_BR');
  assert.equal(pickLocale('pt_PT'), 'pt_PT');
  assert.equal(pickLocale('pt'), 'pt_PT');
  assert.equal(pickLocale('en-US'), 'en');
  assert.equal(pickLocale('ja'), 'en');
  assert.equal(pickLocale(''), 'en');
  for (const l of UI_LOCALES) assert.equal(pickLocale(l), l);
});

test('countryFromLocales prefers an explicit region, then the likely one', () => {
  assert.equal(countryFromLocales(['de-AT']), 'AT');
  assert.equal(countryFromLocales(['en-GB', 'de']), 'GB');
  assert.equal(countryFromLocales(['de', 'fr-BE']), 'BE');
  assert.equal(countryFromLocales(['nl']), 'NL');
  assert.equal(countryFromLocales(['pl']), 'PL');
  assert.equal(countryFromLocales(['es-419']), '', 'a region that is not a country');
  assert.equal(countryFromLocales([]), '');
  assert.equal(countryFromLocales(['not a tag']), '');
});

test('formatMessage fills named and positional placeholders like browser.i18n', () => {
  const entry = { message: 'Goes to $HOTLINE$ ($COUNTRY$), costs $$1', placeholders: { hotline: { content: '$1' }, country: { content: '$2' } } };
  assert.equal(formatMessage(entry, ['Stopline', 'Austria']), 'Goes to Stopline (Austria), costs $1');
  assert.equal(formatMessage({ message: 'A $1 B' }, ['x']), 'A x B');
  assert.equal(formatMessage({ message: 'no subs' }), 'no subs');
});

test('the translator falls back to English, then to the key', () => {
  const t = createTranslator({ a: { message: 'A-de' } }, { a: { message: 'A-en' }, b: { message: 'B-en' } });
  assert.equal(t('a'), 'A-de');
  assert.equal(t('b'), 'B-en');
  assert.equal(t('c'), 'c');
});
