// The report form: the toolbar popup for the current tab, and the same page
// in a small window when opened from the context menu with ?draft=<id>.
// It shows only URLs and the reporter's words; it never loads the material.

import { ext } from '../common/ext.js';
import { MSG } from '../lib/messages.js';
import { checkReportUrl, originPattern, URL_OK } from '../lib/urlrules.js';
import { draftFromTab, NOTICE_EMBEDDED, NOTICE_PAGE_IS_CONTENT } from '../lib/draft.js';
import { FINAL_STATUSES } from '../lib/history.js';
import { messageKeyFor, problemCodes } from '../lib/problems.js';
import { countryOptions } from '../lib/countries.js';
import { call, countryName, effectiveHotline, fillHotlineSelect, localiseDocument, show } from './dom.js';
import { BUILD } from '../build-config.js';

const $ = (id) => document.getElementById(id);
const STATUS_POLL_MS = 4000;
const STATUS_POLL_LIMIT = 75; // about five minutes

const FIELD_ERROR_IDS = {
  url: 'url-error',
  page_url: 'url-error',
  content_type: 'form-error',
  category: 'category-error',
  comment: 'comment-error',
  contact: 'contact-error',
  country: 'country-error',
  hotline: 'country-error',
};

async function activeTab() {
  const [tab] = await ext.tabs.query({ active: true, currentWindow: true });
  return tab;
}

function showView(id) {
  for (const v of ['view-form', 'view-done', 'view-queued', 'view-blocked']) show($(v), v === id);
  show($('loading'), false);
  if (id !== 'view-form') $(id).focus();
}

function blocked(t, titleKey, textKey) {
  $('blocked-title').textContent = t(titleKey);
  $('blocked-text').textContent = t(textKey);
  showView('view-blocked');
}

const EMBEDDED_NOTICES = { image: 'noticeEmbeddedImage', video: 'noticeEmbeddedVideo', link: 'noticeEmbeddedLink' };

// --- The form -------------------------------------------------------------

function renderDestination(ctx) {
  const { t, locale, settings, hotlines } = ctx;
  const { hotline } = effectiveHotline(hotlines, settings);
  const country = countryName(settings.country, locale);
  const dest = $('destination');
  dest.replaceChildren();
  if (hotline) {
    const [before, after] = t('destinationHotline', ['\u0001', countryName(hotline.country, locale)]).split('\u0001');
    const strong = document.createElement('strong');
    strong.textContent = hotline.name;
    dest.append(before, strong, after || '');
  } else if (hotlines.length === 0) {
    dest.textContent = t('destinationUnknown', [country]);
  } else {
    dest.textContent = t('destinationNone', [country]);
    openDestination(true);
  }
  const guessed = !settings.countryConfirmed;
  $('country-guess').textContent = guessed ? t('countryGuessed', [country]) : '';
  show($('country-guess'), guessed);
  fillHotlineSelect($('hotline'), hotlines, settings.country, settings.hotline, t, locale);
}

function openDestination(open) {
  show($('destination-box'), open);
  $('change-destination').setAttribute('aria-expanded', String(open));
}

function fillCountries(ctx) {
  const select = $('country');
  select.replaceChildren(new Option(ctx.t('countryChoose'), ''));
  for (const c of countryOptions(ctx.locale)) select.append(new Option(c.name, c.code));
  select.value = ctx.settings.country || '';
}

async function saveSetting(ctx, patch) {
  const { settings } = await call(MSG.SETTINGS_SAVE, { patch });
  ctx.settings = settings;
  renderDestination(ctx);
}

function renderPermission(ctx, allowed) {
  show($('permission-box'), !allowed);
  if (!allowed) $('permission-text').textContent = ctx.t('permissionText', [new URL(ctx.settings.serverUrl).host]);
}

function clearErrors() {
  for (const el of document.querySelectorAll('.field-error, .form-error')) {
    el.textContent = '';
    show(el, false);
  }
  for (const el of document.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

function showFieldError(ctx, field, code) {
  const id = FIELD_ERROR_IDS[field] || 'form-error';
  const el = $(id);
  const text = ctx.t(messageKeyFor(code));
  el.textContent = el.textContent ? `${el.textContent} ${text}` : text;
  show(el, true);
  if (id === 'country-error') openDestination(true);
  const input = { contact: 'contact', comment: 'comment', country: 'country', hotline: 'hotline' }[field];
  if (input) $(input).setAttribute('aria-invalid', 'true');
}

function readForm(ctx) {
  const category = document.querySelector('input[name="category"]:checked');
  return {
    url: ctx.draft.url,
    pageUrl: ctx.draft.pageUrl,
    contentType: $('content-type').value,
    category: category ? category.value : '',
    comment: $('comment').value,
    contactWanted: $('contact-wanted').checked,
    contact: $('contact').value,
    country: ctx.settings.country,
    hotline: ctx.settings.hotline,
  };
}

function setBusy(ctx, busy) {
  const send = $('send');
  send.disabled = busy;
  send.textContent = ctx.t(busy ? 'sending' : 'sendButton');
}

async function onSubmit(ctx, event) {
  event.preventDefault();
  if ($('send').disabled) return;
  clearErrors();
  setBusy(ctx, true);
  let res;
  try {
    res = await call(MSG.REPORT_SUBMIT, { form: readForm(ctx), draftId: ctx.draftId });
  } catch {
    res = { outcome: 'error' };
  }
  setBusy(ctx, false);
  if (res.outcome === 'sent') return showDone(ctx, res.item);
  if (res.outcome === 'queued') return showQueued(ctx, res.key);
  if (res.outcome === 'invalid') {
    for (const e of res.errors) showFieldError(ctx, e.field, e.code);
  } else if (res.outcome === 'rejected' && res.problem && res.status === 422) {
    for (const e of problemCodes(res.problem)) showFieldError(ctx, e.field, e.code);
  } else {
    showFieldError(ctx, '', '');
  }
  const first = document.querySelector('.field-error:not([hidden]), .form-error:not([hidden])');
  if (first) first.scrollIntoView({ block: 'center' });
}

function renderForm(ctx) {
  const { t, draft } = ctx;
  $('url').textContent = draft.url;
  $('url').title = draft.url;
  if (draft.pageUrl) {
    $('seen-on').textContent = draft.pageUrl;
    $('seen-on').title = draft.pageUrl;
  }
  show($('seen-on-row'), !!draft.pageUrl);
  $('content-type').value = draft.contentType;
  if (draft.notice === NOTICE_EMBEDDED) {
    $('notice').textContent = t(EMBEDDED_NOTICES[draft.embeddedType] || 'noticeEmbeddedImage');
    show($('notice'), true);
  }
  fillCountries(ctx);
  renderDestination(ctx);
  renderPermission(ctx, ctx.init.serverAllowed);

  $('contact-wanted').addEventListener('change', () => {
    const box = $('contact-wanted');
    show($('contact-box'), box.checked);
    if (box.checked) $('contact').focus();
    // Firefox asks the person's consent to an e-mail address being sent
    // (data_collection_permissions, optional personallyIdentifyingInfo).
    if (box.checked && BUILD.browser === 'firefox') {
      ext.permissions.request({ data_collection: ['personallyIdentifyingInfo'] }).then(
        (granted) => {
          if (!granted) {
            box.checked = false;
            show($('contact-box'), false);
          }
        },
        () => {}, // a browser without the API needs no consent
      );
    }
  });
  $('change-destination').addEventListener('click', () => openDestination($('destination-box').hidden));
  $('country').addEventListener('change', () => {
    if ($('country').value) saveSetting(ctx, { country: $('country').value });
  });
  $('hotline').addEventListener('change', () => saveSetting(ctx, { hotline: $('hotline').value }));
  $('grant').addEventListener('click', () => {
    // Called straight from the click: browsers ask only on a user gesture.
    ext.permissions.request({ origins: [originPattern(ctx.settings.serverUrl)] }).then(
      (granted) => renderPermission(ctx, granted),
      () => renderPermission(ctx, false),
    );
  });
  $('form').addEventListener('submit', (e) => onSubmit(ctx, e));
  showView('view-form');
}

// --- After sending ----------------------------------------------------------

function renderStatus(ctx, item) {
  const { t } = ctx;
  const name = item.hotline.name || t('theHotline');
  const lines = {
    accepted: t('statusAccepted', [name]),
    delivered: t('statusDelivered', [name]),
    use_hotline_form: t('statusUseForm', [name]),
  };
  let text = lines[item.status] || t('statusAccepted', [name]);
  if (item.duplicate) text += ` ${t('statusDuplicate')}`;
  $('status-line').textContent = text;
  const useForm = item.status === 'use_hotline_form';
  show($('form-link-box'), useForm);
  if (useForm) {
    $('done-url').textContent = ctx.draft.url;
    const link = $('hotline-form-link');
    show(link, !!item.hotline.reportUrl);
    if (item.hotline.reportUrl) link.href = item.hotline.reportUrl;
  }
}

function showDone(ctx, item) {
  $('reference').textContent = item.reference;
  renderStatus(ctx, item);
  showView('view-done');
  pollStatus(ctx, item, 0);
}

function pollStatus(ctx, item, round) {
  if (FINAL_STATUSES.includes(item.status) || round >= STATUS_POLL_LIMIT) return;
  setTimeout(async () => {
    try {
      const res = await call(MSG.REPORT_STATUS, { key: item.key });
      if (res.item) {
        renderStatus(ctx, res.item);
        item = res.item;
      }
    } catch {
      // The next round asks again.
    }
    pollStatus(ctx, item, round + 1);
  }, STATUS_POLL_MS);
}

function showQueued(ctx, key) {
  showView('view-queued');
  // When the background sends it while this window is open, show the receipt.
  ext.storage.onChanged.addListener(function onChange(changes, area) {
    if (area !== 'local' || !changes.history) return;
    const item = (changes.history.newValue || []).find((i) => i.key === key);
    if (item && item.reference) {
      ext.storage.onChanged.removeListener(onChange);
      showDone(ctx, item);
    }
  });
}

function bindCopy(ctx) {
  $('copy-url').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('done-url').textContent);
      $('copy-url').textContent = ctx.t('copied');
    } catch {
      // Selecting the address by hand still works.
    }
  });
}

// --- Start --------------------------------------------------------------------

async function main() {
  const draftId = new URLSearchParams(location.search).get('draft') || '';
  const init = await call(MSG.PAGE_INIT);
  const { t, locale } = await localiseDocument(init.settings.language);
  const draft = draftId ? (await call(MSG.DRAFT_GET, { id: draftId })).draft : draftFromTab(await activeTab());
  const ctx = { t, locale, init, draft, draftId, settings: init.settings, hotlines: init.hotlines };

  bindCopy(ctx);
  if (!draft) return blocked(t, 'blockedExpiredTitle', 'blockedExpiredText');
  if (draft.notice === NOTICE_PAGE_IS_CONTENT) return blocked(t, 'blockedContentTitle', 'blockedContentText');
  const check = checkReportUrl(draft.url);
  if (check.code !== URL_OK) return blocked(t, 'blockedTitle', messageKeyFor(check.code));
  return renderForm(ctx);
}

main().catch((err) => {
  console.error('reportit: popup', err);
  show($('loading'), false);
  $('blocked-title').textContent = ext.i18n.getMessage('blockedTitle');
  $('blocked-text').textContent = ext.i18n.getMessage('errGeneric');
  showView('view-blocked');
});
