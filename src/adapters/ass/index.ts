export { AssBackend, createAssBackend } from './backend.js';
export { AssBackendConfigSchema, type AssBackendConfig } from './config.js';
export { RemoteClient } from './http-client.js';
