import type { Logger } from 'pino';
import { createHmac, createSecretKey } from 'node:crypto';
import { loadConfig, sqlitePath, type Config } from './config.ts';
import { createLogger } from './logger.ts';
import { openDatabase, migrateToLatest, type Db } from './storage/database.ts';
import { deriveKey, masterKeyFrom } from './vault/master-key.ts';
import { LocalKeyEncryptionKeys } from './vault/kek.ts';
import { Vault } from './vault/vault.ts';
import { SandboxAcquirer } from './sandbox/acquirer.ts';
import { Worker, type TaskHandler } from './jobs/worker.ts';
import { createAuthService } from './services/auth.ts';
import { createMerchantService } from './services/merchants.ts';
import { createCustomerService } from './services/customers.ts';
import { createTokenService, TASK_PURGE_EXPIRED, TASK_RELEASE_HOLD } from './services/tokens.ts';
import { SandboxTsp, TASK_TSP_EVENT } from './sandbox/tsp.ts';
import { MerchantEncrypter, ServiceKeyRing } from './vault/jwe.ts';
import { createNotificationService, standardWebhooks, TASK_DELIVER } from './services/notifications.ts';
import { createNetworkTokenService, TASK_CREATE_ASYNC } from './services/network-tokens.ts';
import { createNetworkTransactionService } from './services/network-transactions.ts';
import { createWebhookService, ecartPaySigner, ECART_PAY_SCHEME } from './services/webhooks.ts';
import { createOrderPaymentService, TASK_NETWORK_UPGRADE, TASK_RECONCILE_PAYMENTS } from './services/order-payments.ts';
import { createOrderService, TASK_REFUND } from './services/orders.ts';
import { createIdempotencyService, TASK_PURGE_IDEMPOTENCY } from './services/idempotency.ts';
import { createBatchService } from './services/batches.ts';
import { BatchScheduler } from './services/batch-scheduler.ts';
import { EC_RING, type EcPublicJwk } from './vault/jwe.ts';
import { IssuerEncrypter } from './vault/issuer-jwe.ts';
import { defaultJwePoolSize } from './vault/jwe-pool.ts';
import { createIssuerService } from './services/issuers.ts';
import { createIssuerCardService } from './services/issuer-cards.ts';
import { createIssuerTokenService } from './services/issuer-tokens.ts';
import { createClickToPayService, TASK_C2P_ENROL } from './services/click-to-pay.ts';
import { createBatchService as createIssuerBatchService, TASK_BATCH } from './services/issuer-batch.ts';
import { createBatchWorker } from './services/issuer-batch-worker.ts';
import { createBatchInbox, TASK_BATCH_INBOX } from './services/batch-inbox.ts';
import { createMetrics, jobQueueReader } from './observability/metrics.ts';
import { createAuditService } from './services/audit.ts';
import { createOperatorService } from './services/operators.ts';
import { createDashboardService } from './services/dashboard.ts';
import { createIssuerTimeline } from './sandbox/issuer-timeline.ts';
import { createElementsService } from './services/elements.ts';
import { createKeyRotationService, TASK_REENCRYPT, TASK_RETIRE_JWKS } from './services/key-rotation.ts';
import { enqueueJob } from './storage/repos/jobs.ts';

/**
 * The composition root: the only place that builds config, logger, database, vault, sandbox,
 * services and the worker. Everything else receives what it needs.
 */
export async function buildDeps(options: { env?: NodeJS.ProcessEnv; logger?: Logger; config?: Config } = {}) {
  const config = options.config ?? loadConfig(options.env);
  const log = options.logger ?? createLogger(config.logLevel);
  // The KMS holding the master key (KEK) versions: the local env/file one (docs/keys.md).
  const kek = new LocalKeyEncryptionKeys({
    configured: config.masterKey,
    dataDir: config.dataDir,
    env: config.env,
    warn: (m) => log.warn(m),
  });
  const db: Db = openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: sqlitePath(config), poolSize: config.pgPoolSize });
  await migrateToLatest(db);
  // Prometheus metrics on a registry of this instance's own (`GET /metrics`).
  const metrics = createMetrics({ jobQueue: jobQueueReader(db) });

  const now = () => Date.now();
  const vault = new Vault(db.kysely, kek, { activeVersionTtlMs: config.keyVersionTtlMs });
  // Purpose-bound keys derive from the root secret, which survives master-key rotations unchanged.
  const master = masterKeyFrom(await vault.rootSecret(now()));
  // Every access to card data is recorded in a hash chain keyed by the master key (docs/security.md).
  const audit = createAuditService({ db, keys: [{ id: master.id, key: createSecretKey(deriveKey(master, 'audit-chain')) }], now });
  // A KeyObject made once: a raw Buffer key costs a KeyObject per HMAC (~20 µs), on every payment.
  const sandboxKey = createSecretKey(deriveKey(master, 'sandbox-fingerprint'));
  const { min, max } = config.sandboxLatency;
  const acquirer = new SandboxAcquirer(db.kysely, {
    engine: db.engine,
    fingerprint: (pan) => createHmac('sha256', sandboxKey).update(pan).digest('hex'),
    latency: max > 0 ? () => min + Math.random() * (max - min) : undefined,
  });

  const handlers = new Map<string, TaskHandler>();
  const worker = new Worker(db, log, handlers, {
    pollMs: config.workerPollMs,
    retryBaseMs: config.retryBaseMs,
    concurrency: config.workerConcurrency,
    lockMs: config.jobLockMs,
  });
  const nudge = () => worker.nudge();

  const auth = createAuthService({ db, jwtKey: deriveKey(master, 'merchant-jwt'), now });
  const elements = createElementsService({ db, now, livemode: config.env === 'production' });
  const merchants = createMerchantService({ db, vault, audit, now, elements });
  const customers = createCustomerService({ db, vault, now, pendingCvcMs: config.tempTokenTtlMs });
  const tokens = createTokenService({
    db,
    vault,
    audit,
    acquirer,
    customers,
    log,
    now,
    nudge: () => worker.nudge(),
    metrics: metrics.service,
    tempTokenTtlMs: config.tempTokenTtlMs,
    purgeIntervalMs: config.purgeIntervalMs,
    retryMaxAttempts: config.retryMaxAttempts,
    events: {
      emit: async (trx, merchantId, event, data) => webhooks.emit(trx, await webhooks.subscriptions(merchantId, trx), merchantId, event, data),
      listens: (merchantId, event) => webhooks.listens(merchantId, event),
    },
  });

  handlers.set(TASK_RELEASE_HOLD, (payload, job) => tokens.releaseValidationHold(payload, job));
  handlers.set(TASK_PURGE_EXPIRED, () => tokens.purgeExpired());

  // Network tokenization (`/cof/v1`): Tessera's JWE keys, the simulated networks, notifications.
  const keys = new ServiceKeyRing(db.kysely, deriveKey(master, 'service-keys'), master.id, undefined, { graceMs: config.jwksGraceMs });
  await keys.ensureKey();
  // Per-second sandbox issuer traffic for the operator dashboard's chart.
  const issuerTimeline = createIssuerTimeline(db);
  const tsp = new SandboxTsp(db, {
    key: deriveKey(master, 'sandbox-tsp'),
    parKey: deriveKey(master, 'par'),
    now,
    nudge,
    latency: max > 0 ? () => min + Math.random() * (max - min) : undefined,
    issuerTps: config.sandboxIssuerTps,
    suspendLaterMs: config.sandboxSuspendLaterMs,
    onIssuerCall: (bin, admitted) => {
      metrics.service.issuerCall(bin, admitted);
      issuerTimeline.record(bin, admitted);
    },
  });
  const notifications = createNotificationService({
    db,
    vault,
    log,
    now,
    nudge,
    retryBaseMs: config.retryBaseMs,
    maxAttempts: config.retryMaxAttempts,
    timeoutMs: config.notifyTimeoutMs,
    perDestination: config.notifyPerDestination,
    signers: { 'standard-webhooks': standardWebhooks, [ECART_PAY_SCHEME]: ecartPaySigner },
    metrics: metrics.service,
  });
  const networkTokens = createNetworkTokenService({ db, vault, audit, keys, tsp, notifications, log, now, nudge, metrics: metrics.service });
  const networkTransactions = createNetworkTransactionService({ db, audit, tsp, encrypter: new MerchantEncrypter(), now });
  tsp.onLifecycleEvent((event) => networkTokens.onTspEvent(event));
  handlers.set(TASK_DELIVER, (payload, job) => notifications.deliver(payload, job));
  handlers.set(TASK_CREATE_ASYNC, (payload, job) => networkTokens.processAsync(payload, job));
  handlers.set(TASK_TSP_EVENT, (payload) => tsp.handleEvent(payload));

  // Orders, merchant webhooks and idempotency keys (`/api/orders`, `/api/webhooks`, `Idempotency-Key`).
  const webhooks = createWebhookService({ db, notifications, now, maxAttempts: config.retryMaxAttempts });
  const orderPayments = createOrderPaymentService({ db, vault, audit, acquirer, tsp, network: tsp, networkTokens, log, now });
  const orders = createOrderService({ db, vault, audit, acquirer, payments: orderPayments, webhooks, customers, now, nudge, publicUrl: config.publicUrl });
  const idempotency = createIdempotencyService({ db, vault, hmacKey: deriveKey(master, 'idempotency'), log, now, lockMs: config.idempotencyLockMs });
  handlers.set(TASK_RECONCILE_PAYMENTS, () => orderPayments.reconcileStale());
  handlers.set(TASK_NETWORK_UPGRADE, (payload, job) => orderPayments.upgrade(payload, job));
  handlers.set(TASK_REFUND, (payload) => orders.resumeRefund(payload));
  handlers.set(TASK_PURGE_IDEMPOTENCY, () => idempotency.purgeExpired());
  // Bulk tokenization (`/cof/v1/batches`): the scheduler runs wherever the worker runs.
  const batchScheduler = new BatchScheduler(
    { db, vault, audit, networkTokens, notifications, log, now, nudge },
    {
      issuerTps: config.batchIssuerTps,
      share: config.batchSharePct / 100,
      concurrency: config.batchConcurrency,
      leaseMs: config.batchLeaseMs,
      maxAttempts: 10,
      retryBaseMs: config.retryBaseMs,
    },
  );
  worker.attach(batchScheduler);
  const batches = createBatchService({ db, vault, audit, keys, notifications, log, now, nudge, nudgeBatches: () => batchScheduler.nudge() });
  // The issuer face (`/authz/v1`, `/banking/v1`): EC keys, issuers, cards, tokens, Click to Pay.
  // Issuers send one ECDH-ES JWE per card (a batch file: one per record): decrypted on worker threads.
  const issuerKeys = new ServiceKeyRing<EcPublicJwk>(db.kysely, deriveKey(master, 'service-keys'), master.id, EC_RING, { graceMs: config.jwksGraceMs, threads: defaultJwePoolSize() });
  await issuerKeys.ensureKey();
  const issuers = createIssuerService({ db, vault, notifications, jwtKey: deriveKey(master, 'issuer-jwt'), now, defaultRecordsPerSecond: config.batchRecordsPerS });
  notifications.addSecretSource((tenantId) => issuers.secretOf(tenantId));
  const issuerCards = createIssuerCardService({ db, vault, audit, keys: issuerKeys, now });
  const issuerTokens = createIssuerTokenService({ db, audit, tsp, issuers, cards: issuerCards, encrypter: new IssuerEncrypter(), now, nudge });
  const clickToPay = createClickToPayService({ db, issuers, cards: issuerCards, tokens: issuerTokens, now, nudge });
  tsp.onLifecycleEvent((event) => issuerTokens.onTspEvent(event));
  handlers.set(TASK_C2P_ENROL, (payload, job) => clickToPay.process(payload, job));
  const issuerBatches = createIssuerBatchService({ db, vault, issuers, now, nudge });
  const batchWorker = createBatchWorker({ db, vault, audit, cards: issuerCards, clickToPay, now });
  handlers.set(TASK_BATCH, (payload) => batchWorker.process(payload));
  if (config.batchInbox) {
    const inbox = createBatchInbox({ db, batches: issuerBatches, log, dir: config.batchInbox, pollMs: config.batchInboxPollMs, now });
    handlers.set(TASK_BATCH_INBOX, () => inbox.scan());
    await inbox.ensureJob();
  }
  // Key management (docs/keys.md): master-key re-wrapping and background data re-encryption.
  const keyRotation = createKeyRotationService({ db, vault, log, now, nudge, batchSize: config.keyRotationBatch });
  handlers.set(TASK_REENCRYPT, (payload, job) => keyRotation.process(payload, job));
  // Rotated-out JWKS keys are retired once their grace period is over (checked at least every minute).
  handlers.set(TASK_RETIRE_JWKS, async () => {
    const retired = [...(await keys.retireExpired(now())), ...(await issuerKeys.retireExpired(now()))];
    if (retired.length > 0) log.info({ kids: retired }, 'JWKS keys retired after their grace period');
    return { rescheduleAt: now() + Math.min(60_000, config.jwksGraceMs) };
  });
  const scheduleKeyJobs = () => enqueueJob(db.kysely, { task: TASK_RETIRE_JWKS, payload: {}, uniqueKey: TASK_RETIRE_JWKS }, now());
  const issuerFace = { issuers, issuerCards, issuerTokens, clickToPay, issuerBatches };
  // The operator dashboard (`/dashboard`): operators, sessions and the cross-tenant reads.
  const operators = createOperatorService({ db, now, csrfKey: createSecretKey(deriveKey(master, 'dashboard-csrf')), sessionTtlMs: config.dashboardSessionTtlMs });
  const dashboard = createDashboardService({ db, now, notifications, webhooks, networkTokens, meter: tsp.meter, timeline: issuerTimeline });

  return {
    config,
    log,
    db,
    vault,
    acquirer,
    tsp,
    keys,
    issuerKeys,
    worker,
    metrics,
    batchScheduler,
    audit,
    /** Schedules the recurring JWKS retirement job (serve and worker processes call it). */
    scheduleKeyJobs,
    services: { auth, merchants, elements, customers, tokens, notifications, networkTokens, networkTransactions, batches, orders, webhooks, orderPayments, idempotency, keyRotation, ...issuerFace, operators, dashboard },
    async close() {
      await worker.stop();
      await notifications.close();
      await issuerKeys.close();
      await db.close();
    },
  };
}

export type Deps = Awaited<ReturnType<typeof buildDeps>>;
