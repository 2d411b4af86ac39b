// Options: country and hotline, language, the reporter's own reports, the
// server address (unless an organisation set it), and the privacy notes.

import { ext } from '../common/ext.js';
import { MSG } from '../lib/messages.js';
import { checkServerUrl, originPattern } from '../lib/urlrules.js';
import { LANGUAGE_NAMES, UI_LOCALES } from '../lib/locale.js';
import { countryOptions } from '../lib/countries.js';
import { messageKeyFor } from '../lib/problems.js';
import { call, fillHotlineSelect, formatTime, localiseDocument, show } from './dom.js';

const $ = (id) => document.getElementById(id);

const STATUS_KEYS = {
  accepted: 'historyAccepted',
  delivered: 'historyDelivered',
  use_hotline_form: 'historyUseForm',
  not_sent: 'historyNotSent',
};

function flash(el, text) {
  el.textContent = text;
  setTimeout(() => {
    if (el.textContent === text) el.textContent = '';
  }, 4000);
}

// --- Country and hotline ------------------------------------------------------

function renderDestination(ctx) {
  const country = $('country');
  if (country.options.length === 0) {
    country.append(new Option(ctx.t('countryChoose'), ''));
    for (const c of countryOptions(ctx.locale)) country.append(new Option(c.name, c.code));
  }
  country.value = ctx.settings.country || '';
  fillHotlineSelect($('hotline'), ctx.hotlines, ctx.settings.country, ctx.settings.hotline, ctx.t, ctx.locale);
  show($('hotlines-stale'), ctx.hotlinesStale && ctx.hotlines.length === 0);
}

async function saveDestination(ctx, patch) {
  ctx.settings = (await call(MSG.SETTINGS_SAVE, { patch })).settings;
  renderDestination(ctx);
  flash($('destination-saved'), ctx.t('saved'));
}

// --- Language -----------------------------------------------------------------

function renderLanguage(ctx) {
  const select = $('language-select');
  select.append(new Option(ctx.t('languageBrowser'), ''));
  for (const code of UI_LOCALES) {
    const option = new Option(LANGUAGE_NAMES[code], code);
    option.lang = code.replace('_', '-');
    select.append(option);
  }
  select.value = ctx.settings.language || '';
  select.addEventListener('change', async () => {
    await call(MSG.SETTINGS_SAVE, { patch: { language: select.value } });
    location.reload();
  });
}

// --- Reports --------------------------------------------------------------------

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function statusCell(ctx, item) {
  const td = cell(ctx.t(STATUS_KEYS[item.status] || 'historyAccepted'));
  if (item.status === 'use_hotline_form' && item.hotline.reportUrl) {
    const a = document.createElement('a');
    a.href = item.hotline.reportUrl;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = ctx.t('openHotlineForm');
    td.append(' ', a);
  }
  if (item.status === 'not_sent') td.append(` ${ctx.t(messageKeyFor(item.reason))}`);
  return td;
}

function renderReports(ctx, { history, outbox }) {
  const body = $('reports-body');
  body.replaceChildren();
  for (const e of outbox) {
    const tr = document.createElement('tr');
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'link';
    discard.textContent = ctx.t('discardButton');
    discard.addEventListener('click', async () => renderReports(ctx, await call(MSG.OUTBOX_DISCARD, { key: e.key })));
    const status = cell(ctx.t('historyQueued'));
    status.append(' ', discard);
    tr.append(cell('—'), cell(formatTime(e.createdAt, ctx.locale)), status, cell(''));
    body.append(tr);
  }
  for (const item of history) {
    const tr = document.createElement('tr');
    const ref = cell(item.reference || '—');
    ref.className = 'mono';
    tr.append(ref, cell(formatTime(item.receivedAt, ctx.locale)), statusCell(ctx, item), cell(item.hotline.name || ''));
    body.append(tr);
  }
  const empty = history.length === 0 && outbox.length === 0;
  show($('reports-empty'), empty);
  show($('reports-table'), !empty);
  $('clear').disabled = history.length === 0;
}

function bindClear(ctx) {
  $('clear').addEventListener('click', () => {
    show($('clear-confirm'), true);
    $('clear-no').focus();
  });
  $('clear-no').addEventListener('click', () => {
    show($('clear-confirm'), false);
    $('clear').focus();
  });
  $('clear-yes').addEventListener('click', async () => {
    renderReports(ctx, await call(MSG.HISTORY_CLEAR));
    show($('clear-confirm'), false);
    $('clear').focus();
  });
}

// --- Server -----------------------------------------------------------------------

function renderServer(ctx) {
  const input = $('server-url');
  input.value = ctx.settings.serverUrl;
  const managed = ctx.settings.serverManaged;
  input.readOnly = managed;
  show($('server-actions'), !managed);
  $('server-hint').textContent = managed ? ctx.t('serverManaged') : ctx.t('serverHint', [ctx.settings.defaultServerUrl]);
}

function serverError(ctx, key) {
  $('server-error').textContent = key ? ctx.t(key) : '';
  show($('server-error'), !!key);
  if (key) $('server-url').setAttribute('aria-invalid', 'true');
  else $('server-url').removeAttribute('aria-invalid');
}

function bindServer(ctx) {
  const apply = (value) => {
    serverError(ctx, '');
    const target = value === '' ? ctx.settings.defaultServerUrl : value;
    const check = checkServerUrl(target);
    if (!check.ok) return serverError(ctx, 'serverInvalid');
    // Asked straight from the click: the browser shows its own prompt.
    ext.permissions.request({ origins: [originPattern(check.url)] }).then(
      async (granted) => {
        if (!granted) return serverError(ctx, 'serverNotAllowed');
        ctx.settings = (await call(MSG.SETTINGS_SAVE, { patch: { serverUrl: value === '' ? '' : check.url } })).settings;
        renderServer(ctx);
        flash($('server-saved'), ctx.t('saved'));
      },
      () => serverError(ctx, 'serverNotAllowed'),
    );
  };
  $('server-save').addEventListener('click', () => apply($('server-url').value.trim()));
  $('server-reset').addEventListener('click', () => apply(''));
}

// --- Start ------------------------------------------------------------------------

async function main() {
  const init = await call(MSG.PAGE_INIT);
  const { t, locale } = await localiseDocument(init.settings.language);
  const ctx = { t, locale, settings: init.settings, hotlines: init.hotlines, hotlinesStale: init.hotlinesStale };
  renderDestination(ctx);
  $('country').addEventListener('change', () => {
    if ($('country').value) saveDestination(ctx, { country: $('country').value });
  });
  $('hotline').addEventListener('change', () => saveDestination(ctx, { hotline: $('hotline').value }));
  renderLanguage(ctx);
  renderServer(ctx);
  bindServer(ctx);
  bindClear(ctx);
  renderReports(ctx, await call(MSG.HISTORY_GET));
  ext.storage.onChanged.addListener(async (changes, area) => {
    if (area === 'local' && (changes.history || changes.outbox)) renderReports(ctx, await call(MSG.HISTORY_GET));
  });
  document.body.dataset.ready = 'true';
  // Statuses may have changed since the list was last seen.
  renderReports(ctx, await call(MSG.HISTORY_REFRESH));
}

main().catch((err) => console.error('reportit: options', err));
