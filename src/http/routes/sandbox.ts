import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Deps } from '../../deps.ts';
import { apiKeyHook } from '../cof-auth.ts';
import { assertCaller } from '../../services/network-tokens.ts';
import { CofError, IssuerEventBody, SandboxAuthorization, SandboxAuthorizationBody } from '../schemas/cof.ts';
import { IssuerStatsResponse } from '../schemas/batches.ts';

const security = [{ cofApiKey: [] }];
const tags = ['sandbox network'];
const errors = { 400: CofError, 401: CofError, 404: CofError };

/** The simulated card network (`/sandbox/v1`): an acquirer that checks cryptograms, and issuer events. */
export const sandboxRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', apiKeyHook(deps.services.auth));

    app.post(
      '/authorizations',
      {
        schema: {
          tags,
          summary: 'Authorize a payment with a network token and its cryptogram (single use; a replay is declined)',
          security,
          body: SandboxAuthorizationBody,
          response: { 200: SandboxAuthorization, ...errors },
        },
      },
      async (request) => {
        assertCaller(request.merchantId, request.body.merchantId);
        const { status, reason, authorizationId } = await deps.tsp.authorize(request.body);
        return { status, reason, authorizationId };
      },
    );

    app.post(
      '/issuer-events',
      {
        schema: {
          tags,
          summary: "Play an issuer-side event on every token of a card (by PAR): lost suspends them, found resumes them, re-issued updates cardExpiryDate",
          security,
          body: IssuerEventBody,
          response: { 200: Type.Object({ tokensAffected: Type.Integer() }), ...errors },
        },
      },
      async (request) => ({ tokensAffected: await deps.tsp.issuerEvent(request.body.par, request.body.event, request.body.cardExpiryDate) }),
    );

    app.get(
      '/stats',
      {
        schema: {
          tags,
          summary: 'Traffic per simulated issuer (BIN) over one-second windows: did the caller respect TESSERA_SANDBOX_ISSUER_TPS?',
          security,
          response: { 200: IssuerStatsResponse, ...errors },
        },
      },
      async () => ({ issuers: await deps.tsp.meter.stats() }),
    );
  };
