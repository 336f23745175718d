import { appendFileSync, existsSync, fstatSync, fsyncSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog, rotateAuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditLog } from '../../src/audit/verify.js';

async function logWith(n: number): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'ass-audit-')), 'audit.log');
  const log = createAuditLog(path);
  for (let i = 0; i < n; i++) await log.append({ actor: 'agent:bot', action: 'get_secret', namespace: 'production/gemini', key: `K${i}`, outcome: 'allowed', rule: 'tier:standard' });
  return path;
}

const lines = (path: string): string[] => readFileSync(path, 'utf8').trimEnd().split('\n');

describe('audit log', () => {
  it('chains records and verifies an untouched log', async () => {
    const path = await logWith(5);
    const result = await verifyAuditLog(path);
    expect(result).toMatchObject({ ok: true, count: 5 });
    expect(lines(path).map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps one chain across concurrent appenders', async () => {
    const path = await logWith(0);
    const a = createAuditLog(path);
    const b = createAuditLog(path);
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append({ actor: 'system', action: 'x', outcome: 'ok' })));
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, count: 40 });
  });

  it.each([
    ['edited', (l: string[]) => { l[2] = l[2]!.replace('"allowed"', '"denied"'); }, /line 3: content does not match/],
    ['deleted', (l: string[]) => { l.splice(2, 1); }, /line 3: sequence 4 where 3/],
    ['inserted', (l: string[]) => { l.splice(2, 0, l[1]!); }, /line 3: sequence 2 where 3/],
    ['garbage', (l: string[]) => { l[1] = 'not json'; }, /line 2: not valid JSON/],
  ])('detects a %s line', async (_name, mutate, expected) => {
    const path = await logWith(5);
    const l = lines(path);
    mutate(l);
    writeFileSync(path, `${l.join('\n')}\n`);
    const result = await verifyAuditLog(path);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => `line ${p.line}: ${p.problem}`).join('\n')).toMatch(expected);
  });

  it('detects a cut-off tail against a recorded head', async () => {
    const path = await logWith(5);
    const { head } = await verifyAuditLog(path);
    writeFileSync(path, `${lines(path).slice(0, 4).join('\n')}\n`);
    expect((await verifyAuditLog(path)).ok).toBe(true);
    expect((await verifyAuditLog(path, head!)).ok).toBe(false);
  });

  it('fails closed with AUDIT_UNAVAILABLE when the log cannot be written', async () => {
    const path = await logWith(1);
    // A path under a regular file cannot be created, whoever runs the test (root ignores modes).
    const blocked = createAuditLog(join(path, 'cannot-be-under-a-file.log'));
    await expect(blocked.append({ actor: 'system', action: 'x', outcome: 'ok' })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });

  it('copies only known fields, so a stray value field never reaches the log', async () => {
    const path = await logWith(0);
    const log = createAuditLog(path);
    await log.append({ actor: 'agent:bot', action: 'set_secret', outcome: 'allowed', value: 'canary-value-123' } as never);
    expect(readFileSync(path, 'utf8')).not.toContain('canary-value-123');
  });
});

describe('audit rotate', () => {
  const append = (log: ReturnType<typeof createAuditLog>, i: number) => log.append({ actor: 'agent:bot', action: 'get_secret', key: `R${i}`, outcome: 'allowed' });

  it('renames the log, and the chain goes on in the new file: a running appender continues it', async () => {
    const path = await logWith(0);
    const running = createAuditLog(path);
    for (let i = 0; i < 3; i++) await append(running, i);
    const before = await verifyAuditLog(path);
    const rotation = await rotateAuditLog(path, 'admin:ops', new Date('2026-11-25T10:00:00Z'));
    expect(basename(rotation.rotatedTo)).toBe('audit.log.2026-11-25T10-00-00.000Z');
    expect(rotation).toMatchObject({ lastSeq: 3, lastHash: before.head, first: { seq: 4, prev: before.head, action: 'audit.rotate', actor: 'admin:ops', continues: basename(rotation.rotatedTo) } });
    // The appender that was open before the rotation writes into the new file, chained on.
    await append(running, 3);
    await append(createAuditLog(path), 4);
    expect(lines(path).map((l) => JSON.parse(l).seq)).toEqual([4, 5, 6]);
    expect(lines(rotation.rotatedTo)).toHaveLength(3);
    const result = await verifyAuditLog(path);
    expect(result).toMatchObject({ ok: true, count: 3, files: ['audit.log'], continues: { file: basename(rotation.rotatedTo), present: true } });
    expect(await verifyAuditLog(path, undefined, { all: true })).toMatchObject({ ok: true, count: 6, files: [basename(rotation.rotatedTo), 'audit.log'] });
  });

  it('checks the link to the older file, and with --all every older file, across two rotations', async () => {
    const path = await logWith(2);
    const first = await rotateAuditLog(path, 'admin:ops', new Date('2026-11-25T10:00:00Z'));
    await append(createAuditLog(path), 1);
    const second = await rotateAuditLog(path, 'admin:ops', new Date('2026-11-25T11:00:00Z'));
    await append(createAuditLog(path), 2);
    expect(await verifyAuditLog(path, undefined, { all: true })).toMatchObject({ ok: true, count: 6, files: [basename(first.rotatedTo), basename(second.rotatedTo), 'audit.log'] });

    // The older file's tail cut: the link from the newer file breaks.
    const older = lines(second.rotatedTo);
    writeFileSync(second.rotatedTo, `${older.slice(0, -1).join('\n')}\n`);
    const cut = await verifyAuditLog(path);
    expect(cut.ok).toBe(false);
    expect(cut.problems).toEqual([{ file: 'audit.log', line: 1, problem: expect.stringMatching(/does not chain to the last record of audit\.log\.2026-11-25T11/) }]);
    writeFileSync(second.rotatedTo, `${older.join('\n')}\n`);

    // A line edited in the oldest file is found only with --all.
    const oldest = lines(first.rotatedTo);
    writeFileSync(first.rotatedTo, `${[oldest[0]!.replace('"allowed"', '"denied"'), ...oldest.slice(1)].join('\n')}\n`);
    expect((await verifyAuditLog(path)).ok).toBe(true);
    const all = await verifyAuditLog(path, undefined, { all: true });
    expect(all.problems).toEqual([{ file: basename(first.rotatedTo), line: 1, problem: expect.stringMatching(/content does not match its hash/) }]);
  });

  it('an archived older file is reported, not a problem; a continues naming another directory is', async () => {
    const path = await logWith(2);
    const rotation = await rotateAuditLog(path, 'admin:ops');
    renameSync(rotation.rotatedTo, join(mkdtempSync(join(tmpdir(), 'ass-archive-')), 'archived.log'));
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, continues: { file: basename(rotation.rotatedTo), present: false } });

    const forged = lines(path);
    const record = { ...JSON.parse(forged[0]!), continues: '../../etc/passwd' };
    writeFileSync(path, `${JSON.stringify(record)}\n`);
    const result = await verifyAuditLog(path);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/not a regular file beside the log/);
  });

  it('refuses to rotate an empty or absent log, and leaves nothing behind', async () => {
    const path = await logWith(0);
    await expect(rotateAuditLog(path, 'admin:ops')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dirname(path))).toEqual([]);
  });

  it('a continues that is empty, a link or a folder is a problem, and nothing outside the log is read', async () => {
    for (const make of ['empty', 'symlink', 'folder'] as const) {
      const path = await logWith(2);
      await rotateAuditLog(path, 'admin:ops');
      const first = JSON.parse(lines(path)[0]!) as Record<string, unknown>;
      let name = '';
      if (make === 'symlink') {
        name = 'passwd-link';
        symlinkSync('/etc/passwd', join(dirname(path), name));
      } else if (make === 'folder') {
        name = 'a-folder';
        mkdirSync(join(dirname(path), name));
      }
      writeFileSync(path, `${JSON.stringify({ ...first, continues: name })}\n`);
      const result = await verifyAuditLog(path, undefined, { all: true });
      expect(result.ok, make).toBe(false);
      expect(result.problems.map((p) => p.problem).join('\n'), make).toMatch(/not a regular file beside the log/);
      expect(result.count, make).toBe(1);
    }
  });

  it('with --all, an older file that is gone is named as not checked', async () => {
    const path = await logWith(2);
    const oldest = await rotateAuditLog(path, 'admin:ops', new Date('2026-11-25T10:00:00Z'));
    await append(createAuditLog(path), 1);
    await rotateAuditLog(path, 'admin:ops', new Date('2026-11-25T11:00:00Z'));
    rmSync(oldest.rotatedTo);
    const result = await verifyAuditLog(path, undefined, { all: true });
    expect(result).toMatchObject({ ok: true, notChecked: [basename(oldest.rotatedTo)] });
  });

  it('with audit.fsync, appends racing rotations all succeed: an fsync never meets a closed descriptor', async () => {
    const path = await logWith(1);
    // A slow fsync that checks it is still syncing the file the record went to: a descriptor
    // closed meanwhile fails (EBADF), and one closed and reused for the new file has another inode.
    const wrongFile: string[] = [];
    const syncDescriptor = async (fd: number) => {
      const before = fstatSync(fd).ino;
      await new Promise((r) => setTimeout(r, 3));
      const after = fstatSync(fd).ino;
      if (after !== before) wrongFile.push(`${before} -> ${after}`);
      fsyncSync(fd);
    };
    const log = createAuditLog(path, undefined, { fsync: true, syncDescriptor });
    // 16 appenders on one log (one shared descriptor) while the log is rotated every few ms.
    const failures: string[] = [];
    let appended = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 60; i++) {
        await append(log, w * 100 + i).then(() => appended++, (e: { cause?: { code?: string } }) => failures.push(e.cause?.code ?? 'unknown'));
      }
    };
    let done = false;
    let rotations = 0;
    const rotator = (async () => {
      for (let second = 0; !done && rotations < 500; second++) {
        await rotateAuditLog(path, 'admin:ops', new Date(Date.UTC(2026, 10, 25, 0, 0, 0, second)));
        rotations++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    done = true;
    await rotator;
    expect(failures).toEqual([]);
    expect(wrongFile).toEqual([]);
    expect(rotations).toBeGreaterThan(1);
    const result = await verifyAuditLog(path, undefined, { all: true });
    expect(result.ok, JSON.stringify(result.problems.slice(0, 3))).toBe(true);
    // Every record is somewhere in the chain: the first, every append and one per rotation.
    expect(result.count).toBe(1 + appended + rotations);
  });

  it('a torn last line is kept aside in <log>.torn with an audit.repair record, and the chain goes on', async () => {
    const path = await logWith(2);
    appendFileSync(path, '{"seq":3,"ts":"2026');
    const torn = await verifyAuditLog(path);
    expect(torn.problems.at(-1)?.problem).toMatch(/last line is incomplete .* keeps it aside in audit\.log\.torn/);
    const record = await createAuditLog(path).append({ actor: 'system', action: 'x', outcome: 'ok' });
    expect(record.seq).toBe(4);
    const all = lines(path).map((l) => JSON.parse(l));
    expect(all[2]).toMatchObject({ seq: 3, action: 'audit.repair', reason: expect.stringMatching(/19 bytes at offset \d+\) was kept in audit\.log\.torn/) });
    const kept = JSON.parse(readFileSync(`${path}.torn`, 'utf8'));
    expect(kept).toMatchObject({ log: 'audit.log', length: 19, partial: '{"seq":3,"ts":"2026' });
    expect(Buffer.from(kept.partial_base64, 'base64').toString()).toBe('{"seq":3,"ts":"2026');
    const result = await verifyAuditLog(path);
    expect(result).toMatchObject({ ok: true, count: 4, tornTails: [{ file: 'audit.log.torn', length: 19 }] });
  });

  it('the cached head is trusted only while the lease is held: once let go, a torn tail left meanwhile is repaired', async () => {
    const path = await logWith(0);
    const log = createAuditLog(path);
    await log.append({ actor: 'system', action: 'x', outcome: 'ok' });
    // Held now; it is let go after 10 ms idle (file-lease.ts). Wait for that, bounded.
    for (let i = 0; i < 500 && existsSync(`${path}.lock`); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(`${path}.lock`)).toBe(false);
    // Another writer, holding the lock in between, was cut short mid-line.
    appendFileSync(path, '{"seq":2,"ts":"2026');
    const record = await log.append({ actor: 'system', action: 'y', outcome: 'ok' });
    expect(record.seq).toBe(3);
    expect(JSON.parse(lines(path)[1]!)).toMatchObject({ seq: 2, action: 'audit.repair' });
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, count: 3 });
    await log.close();
  });

  it('an edited last line (complete, but not a record) still stops appends: never guessed', async () => {
    const path = await logWith(2);
    appendFileSync(path, 'edited by hand\n');
    const error = (await createAuditLog(path).append({ actor: 'system', action: 'x', outcome: 'ok' }).then(() => ({}), (e: unknown) => e)) as { code: string; cause: Error };
    expect(error.code).toBe('AUDIT_UNAVAILABLE');
    expect(error.cause.message).toMatch(/last line of the audit log .* is not a complete record/);
    await expect(rotateAuditLog(path, 'admin:ops')).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(existsSync(`${path}.torn`)).toBe(false);
  });
});

