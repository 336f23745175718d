/**
 * Child process for test/unit/lazy-ajv-validator.test.ts: in a fresh process, whether ajv is in
 * the CommonJS module cache before and after the first `getValidator` of the lazy validator,
 * and what it and the SDK's own validator answer for the same inputs. Prints one JSON line.
 */
import { createRequire } from 'node:module';
import { AjvJsonSchemaValidator as LazyValidator } from '../../src/server/lazy-ajv-validator.js';

const require = createRequire(import.meta.url);
const ajvLoaded = () => Object.keys(require.cache).some((file) => /[\\/]node_modules[\\/]ajv[\\/]/.test(file));
const schema = {
  type: 'object',
  properties: { approve: { type: 'boolean' }, email: { type: 'string', format: 'email' } },
  required: ['approve'],
} as const;
const inputs = [{ approve: true }, { approve: 'yes' }, { approve: true, email: 'not an address' }, {}];

const lazy = new LazyValidator();
const atConstruction = ajvLoaded();
const check = lazy.getValidator(schema);
const afterFirstUse = ajvLoaded();
const ours = inputs.map((input) => check(input));
// The SDK's own validator, for the reference answers (loads ajv itself, so last).
const { AjvJsonSchemaValidator: SdkValidator } = await import('@modelcontextprotocol/sdk/validation/ajv');
const sdkCheck = new SdkValidator().getValidator(schema);
const sdk = inputs.map((input) => sdkCheck(input));
process.stdout.write(`${JSON.stringify({ atConstruction, afterFirstUse, ours, sdk })}\n`);
