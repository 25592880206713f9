import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';

/** A database handle or an open transaction: every repo function takes either. */
export type Executor = Kysely<Database> | Transaction<Database>;
