// The fixed list of messages extension pages send to the background.
// Nothing else is accepted, and only from the extension's own pages.
export const MSG = Object.freeze({
  PAGE_INIT: 'page.init', // settings, hotlines, server permission, outbox size
  DRAFT_GET: 'draft.get', // the draft a context-menu click prepared
  REPORT_SUBMIT: 'report.submit', // build, queue and try to send a report
  REPORT_STATUS: 'report.status', // ask the server for one report's status
  HISTORY_GET: 'history.get', // the reporter's own reports and waiting ones
  HISTORY_REFRESH: 'history.refresh', // update statuses that may have changed
  HISTORY_CLEAR: 'history.clear',
  OUTBOX_DISCARD: 'outbox.discard', // drop a report still waiting to be sent
  SETTINGS_SAVE: 'settings.save',
});

export const MESSAGE_NAMES = Object.freeze(new Set(Object.values(MSG)));
