// Maps rule and problem codes to message keys in _locales. The server's own
// detail is English and technical, so the reporter sees our wording instead.

const KEYS = {
  'url-is-content': 'errUrlIsContent',
  'url-scheme': 'errUrlScheme',
  'url-host': 'errUrlHost',
  'url-too-long': 'errUrlTooLong',
  'url-malformed': 'errUrlMalformed',
  'unknown-hotline': 'errUnknownHotline',
  'no-hotline': 'errNoHotline',
  'category-missing': 'errCategoryMissing',
  'country-missing': 'errCountryMissing',
  'comment-too-long': 'errCommentTooLong',
  'contact-invalid': 'errContactInvalid',
  'idempotency-key-reused': 'errGeneric',
};

/** Message key for a code; errInvalid for anything the server adds later. */
export function messageKeyFor(code) {
  return KEYS[code] || (code ? 'errInvalid' : 'errGeneric');
}

/** Which form field a server problem concerns, for placing the message. */
export function fieldOf(problem) {
  if (!problem) return '';
  if (problem.field) return problem.field;
  const first = problem.errors && problem.errors[0];
  return first ? first.field : '';
}

/** The codes of a problem: its own and those of its per-field errors. */
export function problemCodes(problem) {
  if (!problem) return [];
  const list = problem.errors && problem.errors.length > 0 ? problem.errors.map((e) => ({ field: e.field, code: e.code || problem.code })) : [];
  return list.length > 0 ? list : [{ field: fieldOf(problem), code: problem.code }];
}
