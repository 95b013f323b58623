'use strict';
// Entry point of Tesseract's own thread (started by ocr.ts in a document thread): tesseract.js's
// worker script, with what the native libraries print on a broken image (libpng's "Read Error"
// and the like) kept out of the gateway's log; the reader reports every failure as a result.
// Plain JavaScript (not TypeScript) because it runs without the TypeScript loader, from source too.
console.error = () => {};
console.warn = () => {};
console.log = () => {};
// An error thrown here ends the document thread too (tesseract.js does not listen for its
// thread's errors): the reader reports that document failed, not the document's doing (it was
// being recognised), and starts a new thread. Quicker than waiting out the recognition's time.
require('tesseract.js/src/worker-script/node/index.js');
