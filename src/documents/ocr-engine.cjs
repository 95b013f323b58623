'use strict';
// Entry point of Tesseract's own thread (started by ocr.ts in a document thread): tesseract.js's
// worker script, with what the native libraries print on a broken image (libpng's "Read Error"
// and the like) kept out of the gateway's log; the reader reports every failure as a result.
// Plain JavaScript (not TypeScript) because it runs without the TypeScript loader, from source too.
console.error = () => {};
console.warn = () => {};
console.log = () => {};
// tesseract.js does not listen for its thread's errors (it sets a browser's `onerror`): an error
// thrown here would end the document thread with it. This thread ends quietly instead; the
// recognition it was running then runs out of time, and the reader starts afresh.
process.on('uncaughtException', () => process.exit(1));
try {
  require('tesseract.js/src/worker-script/node/index.js');
} catch {
  process.exit(1);
}
