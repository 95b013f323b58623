'use strict';
// Entry point of Tesseract's own thread (started by ocr.ts in a document thread): tesseract.js's
// worker script, with two changes. Plain JavaScript (not TypeScript): it runs without the
// TypeScript loader, from source too.
// - What the native libraries print on a broken image (libpng's "Read Error" and the like) is
//   kept out of the gateway's log; the reader reports every failure as a result.
// - Each language's model is read from the models folder ocr.ts names as `langPath`
//   (documents.ocr_models_dir: <code>.traineddata, gzipped or not) or, when it is not there or
//   there is no folder (`warden-tessdata`), from its own npm package (@tesseract.js-data/<code>),
//   where tesseract.js wants them all in one folder: nothing is fetched, copied or written.
// An error thrown here ends the document thread too (tesseract.js does not listen for its
// thread's errors): the reader reports that document failed, not the document's doing (it was
// being recognised), and starts a new thread.
const { readFile } = require('node:fs/promises');
const { dirname, join } = require('node:path');

console.error = () => {};
console.warn = () => {};
console.log = () => {};

const worker = require('tesseract.js/src/worker-script/index.js');
require('tesseract.js/src/worker-script/node/index.js');
const cache = require('tesseract.js/src/worker-script/node/cache.js');

/** The folder ocr.ts names as `langPath` when there is no models folder: each file in it is a language package's model. */
const PACKAGES = 'warden-tessdata';
const MODEL_FILE = /^(.*)\/([a-z_]+)\.traineddata\.gz$/;

/** A file's bytes, or undefined when it is not there. */
const readIfThere = (path) => readFile(path).catch((err) => { if (err.code === 'ENOENT') return undefined; throw err; });
worker.setAdapter({
  getCore: require('tesseract.js/src/worker-script/node/getCore.js'),
  gunzip: require('tesseract.js/src/worker-script/node/gunzip.js'),
  fetch: () => Promise.reject(new Error('nothing is fetched')),
  ...cache,
  readCache: async (path) => {
    const m = MODEL_FILE.exec(path);
    if (!m) return cache.readCache(path);
    const [, folder, code] = m;
    if (folder !== PACKAGES) {
      const found = (await readIfThere(join(folder, `${code}.traineddata.gz`))) ?? (await readIfThere(join(folder, `${code}.traineddata`)));
      if (found) return found;
    }
    const pkg = dirname(require.resolve(`@tesseract.js-data/${code}/package.json`));
    return readFile(join(pkg, '4.0.0_best_int', `${code}.traineddata.gz`));
  },
});
