// Builds the body of POST /v1/reports from what the reporter filled in.
// Pure: the same draft and settings always give the same body, which is
// what makes a queued retry with the same Idempotency-Key safe.

import { checkReportUrl, URL_OK } from './urlrules.js';
import { CONTENT_TYPES } from './draft.js';

export const CATEGORIES = Object.freeze(['csam', 'grooming', 'sextortion', 'other']);
export const MAX_COMMENT_CHARS = 2000; // counted in code points, as the server counts runes
export const MAX_CONTACT_LENGTH = 254;
export const CLIENT_NAME = 'reportit-extension';

/** Length in code points, the unit the server's limit is written in. */
export function codePointLength(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// Deliberately loose: the hotline only needs an address it can write to.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * @param {object} form {url, pageUrl, contentType, category, comment, contactWanted, contact, country, hotline}
 * @param {string} version extension version
 * @returns {{ok: true, body: object} | {ok: false, errors: {field: string, code: string}[]}}
 */
export function buildReport(form, version) {
  const errors = [];
  const url = checkReportUrl(form.url);
  if (url.code !== URL_OK) errors.push({ field: 'url', code: url.code });

  let pageUrl = '';
  if (form.pageUrl) {
    const p = checkReportUrl(form.pageUrl);
    // Where it was seen is context, not the report: leave out what cannot be used.
    if (p.code === URL_OK) pageUrl = p.url;
  }

  const contentType = CONTENT_TYPES.includes(form.contentType) ? form.contentType : null;
  if (!contentType) errors.push({ field: 'content_type', code: 'invalid-field' });

  const category = CATEGORIES.includes(form.category) ? form.category : null;
  if (!category) errors.push({ field: 'category', code: 'category-missing' });

  const country = String(form.country || '').toUpperCase();
  if (!/^[A-Z]{2}$/.test(country)) errors.push({ field: 'country', code: 'country-missing' });

  const comment = String(form.comment || '').trim();
  if (codePointLength(comment) > MAX_COMMENT_CHARS) errors.push({ field: 'comment', code: 'comment-too-long' });

  let contact = '';
  if (form.contactWanted) {
    contact = String(form.contact || '').trim();
    if (!EMAIL.test(contact) || contact.length > MAX_CONTACT_LENGTH) {
      errors.push({ field: 'contact', code: 'contact-invalid' });
    }
  }

  if (errors.length > 0) return { ok: false, errors };

  const body = { url: url.url, content_type: contentType, category, country };
  if (pageUrl && pageUrl !== url.url) body.page_url = pageUrl;
  if (form.hotline) body.hotline = String(form.hotline);
  if (comment) body.comment = comment;
  if (contact) body.contact = contact;
  body.client = { name: CLIENT_NAME, version: String(version) };
  return { ok: true, body };
}
