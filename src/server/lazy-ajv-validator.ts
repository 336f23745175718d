/**
 * The MCP SDK's JSON Schema validator, loaded on first use. In the bundle (scripts/bundle.mjs)
 * this module stands in for the SDK's own `validation/ajv-provider.js`, which its `Server` and
 * `Client` import: the SDK builds an `AjvJsonSchemaValidator` in every server, which loads ajv
 * and ajv-formats and sets them up (about 40 ms of a stdio server's start-up, see
 * bench/RESULTS.md), although a server uses it only to check the content of an accepted form
 * elicitation (the approval prompt over HTTP) and a client only to check a tool's structured
 * output. Same constructor and `getValidator` as the SDK's class; the first `getValidator` loads
 * the SDK's own validator (its CommonJS build, with ajv, from node_modules) and delegates to it,
 * so the checks and their messages are the SDK's.
 */
import { createRequire } from 'node:module';
import type { AjvJsonSchemaValidator as SdkAjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';

// A real run-time require (a local binding, which the bundler leaves alone): resolved from the
// installed package at the moment of the first validation, never at start-up.
const require = createRequire(import.meta.url);

type Ajv = ConstructorParameters<typeof SdkAjvJsonSchemaValidator>[0];

export class AjvJsonSchemaValidator implements jsonSchemaValidator {
  private readonly ajv: Ajv | undefined;
  private validator: SdkAjvJsonSchemaValidator | undefined;

  constructor(ajv?: Ajv) {
    this.ajv = ajv;
  }

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    if (!this.validator) {
      const sdk = require('@modelcontextprotocol/sdk/validation/ajv') as { AjvJsonSchemaValidator: typeof SdkAjvJsonSchemaValidator };
      this.validator = new sdk.AjvJsonSchemaValidator(this.ajv);
    }
    return this.validator.getValidator<T>(schema);
  }
}
