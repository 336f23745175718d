/**
 * The pure policy layer: name grammar, the one scope parser/matcher, TTLs and the engine.
 * No I/O, no clock reads; imports nothing of ours but `src/shared/`.
 */

export * from './names.js';
export * from './scope.js';
export * from './ttl.js';
export * from './engine.js';
export * from './metadata.js';
