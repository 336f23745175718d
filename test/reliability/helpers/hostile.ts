/**
 * fast-check generators of malformed and hostile MCP traffic, shared by the stdio and HTTP
 * fuzz suites. Each case is the raw bytes to send plus what a correct server owes in return:
 * `answerIds` are ids of well-formed requests inside it, each of which must be answered (with a
 * result, or an error carrying a standard JSON-RPC code). Anything else (bad JSON, bad
 * envelopes, notifications) may go unanswered but must not crash or stall the server.
 */
import fc from 'fast-check';

export interface HostileCase {
  kind: string;
  bytes: Buffer;
  /** Ids of well-formed requests in the case; each must get an answer. */
  answerIds: (string | number)[];
}

/** The codes JSON-RPC 2.0 defines, plus its range for implementation-defined server errors. */
export function isStandardJsonRpcCode(code: unknown): boolean {
  return typeof code === 'number' && ([-32700, -32600, -32601, -32602, -32603].includes(code) || (code <= -32000 && code >= -32099));
}

const TOOLS = ['get_secret', 'set_secret', 'list_secrets', 'list_namespaces', 'delete_secret', 'rotate_secret', 'request_token', 'get_approval_status'];
const METHODS = ['tools/call', 'tools/list', 'ping', 'initialize', 'resources/list', 'prompts/get', 'logging/setLevel', 'completion/complete', 'sampling/createMessage', 'notifications/cancelled'];

let counter = 0;
/** A fresh id per generated request (string or number), so answers can be matched. */
const freshId = (): fc.Arbitrary<string | number> => fc.boolean().map((asString) => (asString ? `fz-${++counter}` : 1_000_000 + ++counter));

/** Strings an attacker would try: huge, control characters, lone surrogates, traversal, injection. */
// Huge strings (past the 64 KiB value limit) are rarer than the rest: they cost the most to send.
const nastyString = fc.oneof(
  { arbitrary: fc.string({ maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.constantFrom('', ' ', '../../etc/passwd', 'a/../../b', '\u0000', '\ud800', '\udfff', '__proto__', 'constructor', '\r\n', '%00', '${HOME}', "'; DROP TABLE x;--", 'production/gemini', 'GEMINI_API_KEY', 'secrets:*:**'), weight: 3 },
  { arbitrary: fc.integer({ min: 70_000, max: 400_000 }).map((n) => 'x'.repeat(n)), weight: 1 },
);

/** Any JSON, nested at most a little; deep nesting has its own generator. */
const jsonish = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nastyString, fc.constant(null), fc.double(), fc.bigInt().map(String));

/** `depth` levels of arrays or objects around a value, built without recursion. */
const deepNesting = fc.record({ depth: fc.integer({ min: 100, max: 20_000 }), object: fc.boolean() }).map(({ depth, object }) => {
  const open = object ? '{"a":' : '[';
  const close = object ? '}' : ']';
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
});

/** Tool arguments: wrong types, extra keys, missing keys, huge strings, deep nesting. */
const hostileArguments = fc.oneof(
  fc.dictionary(fc.constantFrom('namespace', 'key', 'value', 'scopes', 'ttl', 'approval_id', 'metadata', 'secret_type', 'access_tier', 'max_uses', '__proto__', 'extra'), jsonish, { maxKeys: 6 }),
  jsonish,
  fc.record({ namespace: nastyString, key: nastyString }),
  fc.record({ namespace: nastyString, key: nastyString, value: nastyString, metadata: fc.dictionary(nastyString, jsonish, { maxKeys: 5 }) }),
  fc.record({ scopes: fc.array(nastyString, { maxLength: 60 }), ttl: jsonish }),
  fc.record({ approval_id: jsonish }),
);

const wellFormedRequest = fc.record({ id: freshId(), method: fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 30 })), params: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 10 }), jsonish, { maxKeys: 4 })) });
const toolCall = fc.record({ id: freshId(), name: fc.oneof(fc.constantFrom(...TOOLS), nastyString), args: hostileArguments });

const asLine = (text: string | Buffer): Buffer => Buffer.concat([Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), Buffer.from('\n')]);
const json = (value: unknown): string => JSON.stringify(value) ?? 'null';

/** One hostile case; `lines` true frames it for stdio (newline-terminated), false for an HTTP body. */
export function hostileCase(lines: boolean): fc.Arbitrary<HostileCase> {
  const frame = (text: string | Buffer): Buffer => (lines ? asLine(text) : Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'));
  return fc.oneof(
    // Well-formed envelopes: unknown or wrong methods, random params. Must be answered.
    wellFormedRequest.map(({ id, method, params }) => {
      // initialize on an initialized session and notifications are answered differently; keep them answerable-or-not by the rules.
      const message = { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) };
      return { kind: 'method', bytes: frame(json(message)), answerIds: method.startsWith('notifications/') ? [] : [id] };
    }),
    // tools/call with hostile arguments or names. Must be answered.
    toolCall.map(({ id, name, args }) => ({ kind: 'tool', bytes: frame(json({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } })), answerIds: [id] })),
    // Broken envelopes: wrong jsonrpc, wrong id types, missing method. No answer owed.
    fc.record({ jsonrpc: jsonish, id: jsonish, method: jsonish, params: jsonish }).map((m) => ({ kind: 'envelope', bytes: frame(json(m)), answerIds: [] })),
    // Not JSON at all, or JSON cut short.
    fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue().map((v) => json(v).slice(0, -1) || '{'), fc.constantFrom('{', '[', '{"jsonrpc":"2.0","id":1,', 'null', 'true', '""', '[]', '{}')).map((t) => ({ kind: 'not-json', bytes: frame(t), answerIds: [] })),
    // Invalid UTF-8 inside an otherwise well-formed request: the bytes are not text.
    fc.record({ id: freshId(), junk: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Buffer.from([0xff, 0xc3, 0x28, ...b])) }).map(({ id, junk }) => {
      const [head, tail] = json({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'get_secret', arguments: { namespace: 'fuzz', key: '@@' } } }).split('@@');
      return { kind: 'utf8', bytes: frame(Buffer.concat([Buffer.from(head!, 'utf8'), junk, Buffer.from(tail!, 'utf8')])), answerIds: [] };
    }),
    // Stray newlines and carriage returns inside and around a message.
    fc.record({ id: freshId(), at: fc.nat() }).map(({ id, at }) => {
      const text = json({ jsonrpc: '2.0', id, method: 'ping' });
      const cut = at % text.length;
      return { kind: 'newlines', bytes: Buffer.from(`\n\r\n${text.slice(0, cut)}\n${text.slice(cut)}\n\n`, 'utf8'), answerIds: [] };
    }),
    // Deep nesting, as params and as the whole message.
    fc.record({ id: freshId(), nest: deepNesting, whole: fc.boolean() }).map(({ id, nest, whole }) => ({
      kind: 'deep',
      bytes: frame(whole ? nest : `{"jsonrpc":"2.0","id":${json(id)},"method":"tools/call","params":{"name":"get_secret","arguments":{"namespace":${nest},"key":"k"}}}`),
      answerIds: [],
    })),
    // Batches of requests (JSON arrays); refused or answered, never a crash or a stall.
    fc.array(fc.oneof(toolCall.map(({ id, name, args }) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } })), fc.constant({ jsonrpc: '2.0', method: 'ping' })), { minLength: 0, maxLength: 20 }).map((batch) => ({ kind: 'batch', bytes: frame(json(batch)), answerIds: [] })),
  );
}
