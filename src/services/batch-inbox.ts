import { createReadStream } from 'node:fs';
import { readdir, rename, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TesseraError } from '../domain/errors.ts';
import type { Db } from '../storage/database.ts';
import { enqueueJob } from '../storage/repos/jobs.ts';
import type { TaskResult } from '../jobs/worker.ts';
import type { BatchService } from './issuer-batch.ts';
import { writeRefusal } from './issuer-batch-worker.ts';

/**
 * The drop folder (`TESSERA_BATCH_INBOX`), the SFTP-style flow issuers already use: a file named
 * `[IssuerId-]BatchId-SeqNumber-UNIX_UTC_Timestamp.json` is claimed (renamed `….json.processing`,
 * atomically, so one process takes it), ingested like `POST …/batch-files`, and answered beside it
 * with `…_OUT.json`: the output once processed, or the header with the `errorCode` of a refused file.
 * Scanning is a recurring job, so it runs wherever workers run.
 *
 * Crash safety: a claim is stamped with the time it was taken. A `.processing` file older than
 * `STALE_CLAIM_MS` belongs to a process that died mid-intake: it is renamed `….json.retry` and taken
 * again. Its intake is then either re-done (an interrupted intake is reclaimable after 15 minutes) or
 * found already stored (`batch_duplicate`), in which case the batch answers as usual and no refusal
 * is written over its output.
 */
export const TASK_BATCH_INBOX = 'issuer.batch_inbox';
const FILE = /^(?:([A-Za-z0-9]{10})-)?([A-Za-z0-9_]{1,64})-(\d{1,9})-(\d{1,13})\.json(\.retry)?$/;
const CLAIMED = /^(?:[A-Za-z0-9]{10}-)?[A-Za-z0-9_]{1,64}-\d{1,9}-\d{1,13}\.json\.processing$/;
/** A claim older than this was left by a process that died (intake reclaim is 15 min). Default 16 min. */
export const STALE_CLAIM_MS = 16 * 60_000;

export interface BatchInboxDeps {
  db: Db;
  batches: BatchService;
  log: Logger;
  dir: string;
  pollMs: number;
  now: () => number;
}

export function createBatchInbox(deps: BatchInboxDeps) {
  /** Hands a claim left by a dead process back to the scan, once (the rename is atomic). */
  async function releaseIfStale(claimed: string): Promise<void> {
    try {
      const { mtimeMs } = await stat(claimed);
      if (deps.now() - mtimeMs < STALE_CLAIM_MS) return;
      await rename(claimed, claimed.replace(/\.processing$/, '.retry'));
      deps.log.warn({ file: claimed.split('/').pop() }, 'batch inbox: taking back a file a stopped process had claimed');
    } catch {
      // Gone or taken meanwhile: nothing to do.
    }
  }

  return {
    /** Schedules the scan (once, whatever the number of processes). */
    async ensureJob(): Promise<void> {
      await enqueueJob(deps.db.kysely, { task: TASK_BATCH_INBOX, payload: {}, uniqueKey: TASK_BATCH_INBOX }, deps.now());
    },

    /** One scan; files are taken one by one (each is streamed, never read whole). */
    async scan(): Promise<TaskResult> {
      let names: string[] = [];
      try {
        names = await readdir(deps.dir);
      } catch (err) {
        deps.log.warn({ code: (err as NodeJS.ErrnoException).code }, 'batch inbox: cannot read the drop folder');
      }
      for (const name of names) {
        if (CLAIMED.test(name)) {
          await releaseIfStale(join(deps.dir, name));
          continue;
        }
        const m = FILE.exec(name);
        if (!m || name.endsWith('_OUT.json')) continue;
        const retry = m[5] !== undefined;
        const original = name.slice(0, name.length - (retry ? '.retry'.length : 0));
        const path = join(deps.dir, original);
        const claimed = `${path}.processing`;
        try {
          await rename(join(deps.dir, name), claimed);
          const now = new Date(deps.now());
          await utimes(claimed, now, now);
        } catch {
          continue; // another process took it
        }
        const base = original.slice(0, -'.json'.length);
        const outPath = join(deps.dir, `${base}_OUT.json`);
        try {
          await deps.batches.ingest(m[1], createReadStream(claimed), { outPath });
          deps.log.info({ file: original, retry }, 'batch inbox: file accepted');
        } catch (err) {
          if (!(err instanceof TesseraError)) throw err;
          if (retry && err.code === 'batch_duplicate') {
            deps.log.info({ file: original }, 'batch inbox: file already taken in before a restart');
          } else {
            await writeRefusal(outPath, { batchId: m[2]!, seqNumber: Number(m[3]), issuerId: m[1] ?? '' }, err.code);
            deps.log.warn({ file: original, code: err.code }, 'batch inbox: file refused');
          }
        }
        await rename(claimed, `${path}.done`);
      }
      return { rescheduleAt: deps.now() + deps.pollMs };
    },
  };
}
