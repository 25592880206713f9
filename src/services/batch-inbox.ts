import { createReadStream } from 'node:fs';
import { readdir, rename } from 'node:fs/promises';
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
 */
export const TASK_BATCH_INBOX = 'issuer.batch_inbox';
const FILE = /^(?:([A-Za-z0-9]{10})-)?([A-Za-z0-9_]{1,64})-(\d{1,9})-(\d{1,13})\.json$/;

export interface BatchInboxDeps {
  db: Db;
  batches: BatchService;
  log: Logger;
  dir: string;
  pollMs: number;
  now: () => number;
}

export function createBatchInbox(deps: BatchInboxDeps) {
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
        const m = FILE.exec(name);
        if (!m || name.endsWith('_OUT.json')) continue;
        const path = join(deps.dir, name);
        const claimed = `${path}.processing`;
        try {
          await rename(path, claimed);
        } catch {
          continue; // another process took it
        }
        const base = name.slice(0, -'.json'.length);
        const outPath = join(deps.dir, `${base}_OUT.json`);
        try {
          await deps.batches.ingest(m[1], createReadStream(claimed), { outPath });
          deps.log.info({ file: name }, 'batch inbox: file accepted');
        } catch (err) {
          if (!(err instanceof TesseraError)) throw err;
          await writeRefusal(outPath, { batchId: m[2]!, seqNumber: Number(m[3]), issuerId: m[1] ?? '' }, err.code);
          deps.log.warn({ file: name, code: err.code }, 'batch inbox: file refused');
        }
        await rename(claimed, `${path}.done`);
      }
      return { rescheduleAt: deps.now() + deps.pollMs };
    },
  };
}
