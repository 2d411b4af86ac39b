// A draft is what the report form opens with: the URL to report, where it
// was seen, its content type, and a notice when the person's first choice
// could not be used. Drafts never hold a data: or blob: URL.

import { isContentUrl } from './urlrules.js';

export const CONTENT_TYPES = Object.freeze(['page', 'image', 'video', 'link', 'other']);

/** Context-menu item ids, one per content type the menu offers. */
export const MENU_ITEMS = Object.freeze({
  'report-page': { contentType: 'page', contexts: ['page', 'frame'], titleKey: 'menuReportPage' },
  'report-image': { contentType: 'image', contexts: ['image'], titleKey: 'menuReportImage' },
  'report-video': { contentType: 'video', contexts: ['video'], titleKey: 'menuReportVideo' },
  'report-link': { contentType: 'link', contexts: ['link'], titleKey: 'menuReportLink' },
});

/** Why the form shows something other than what was clicked. */
export const NOTICE_EMBEDDED = 'embedded'; // the image/video/link is the material itself
export const NOTICE_PAGE_IS_CONTENT = 'page-is-content'; // the tab itself shows the material

/**
 * Turns a context-menu click into a draft.
 * @param {object} info contextMenus.OnClickData
 * @param {object} [tab] tabs.Tab
 */
export function draftFromMenuClick(info, tab) {
  const item = MENU_ITEMS[info.menuItemId];
  if (!item) return null;
  const pageUrl = info.pageUrl || (tab && tab.url) || '';
  if (isContentUrl(pageUrl)) {
    return { url: '', pageUrl: '', contentType: 'page', notice: NOTICE_PAGE_IS_CONTENT, embeddedType: 'page' };
  }
  if (item.contentType === 'page') {
    return { url: pageUrl, pageUrl: '', contentType: 'page', notice: '' };
  }
  const target = item.contentType === 'link' ? info.linkUrl : info.srcUrl;
  if (isContentUrl(target)) {
    // The material is inside the page: report the page it was seen on.
    return { url: pageUrl, pageUrl: '', contentType: 'page', notice: NOTICE_EMBEDDED, embeddedType: item.contentType };
  }
  return { url: target || '', pageUrl, contentType: item.contentType, notice: '' };
}

/** The draft for the toolbar popup: the current tab. */
export function draftFromTab(tab) {
  const url = (tab && tab.url) || '';
  if (isContentUrl(url)) {
    return { url: '', pageUrl: '', contentType: 'page', notice: NOTICE_PAGE_IS_CONTENT, embeddedType: 'page' };
  }
  return { url, pageUrl: '', contentType: 'page', notice: '' };
}
