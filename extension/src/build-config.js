// Replaced by tools/build.js with the values for one build.
export const BUILD = Object.freeze({
  serverUrl: 'http://127.0.0.1:8080',
  browser: 'chrome',
});
