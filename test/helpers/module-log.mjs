/**
 * Preload for a spawned Node process (`NODE_OPTIONS=--import=<this file>`): appends the URL or
 * path of every module the process loads, one a line, to the file named by $ASS_MODULE_LOG.
 * ES modules through a loader hook, CommonJS through Module._load (a `require` made with
 * createRequire never reaches the ESM hooks). Used to check what a server loads at start-up.
 */
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const log = process.env.ASS_MODULE_LOG;
if (!log) throw new Error('module-log.mjs needs ASS_MODULE_LOG');
const hook = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
const load = Module._load;
Module._load = function (request, parent, isMain) {
  let resolved = request;
  try {
    resolved = Module._resolveFilename(request, parent, isMain);
  } catch {
    // Left to the real loader to report.
  }
  appendFileSync(log, `${resolved}\n`);
  return load.apply(this, arguments);
};
