import { readFile, rm } from 'node:fs/promises';
import { parseDocument, type Document } from 'yaml';
import { withFileLock, writeFileAtomic } from '../shared/durable-file.js';
import { loadSettings, type Settings } from './settings.js';

/**
 * Edits the YAML config in place (comments kept), under the cross-process lock. The edited
 * text is validated as a whole before it replaces the file, so a bad edit changes nothing.
 */
export async function editConfig(file: string, edit: (doc: Document) => void): Promise<Settings> {
  return withFileLock(file, async () => {
    const doc = parseDocument(await readFile(file, 'utf8'));
    edit(doc);
    const candidate = `${file}.candidate`;
    await writeFileAtomic(candidate, doc.toString(), 0o600);
    try {
      const settings = loadSettings(candidate);
      await writeFileAtomic(file, doc.toString(), 0o600);
      return settings;
    } finally {
      await rm(candidate, { force: true });
    }
  });
}

