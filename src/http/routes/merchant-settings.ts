import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.ts';
import { merchantJwtHook } from '../merchant-auth.ts';
import { ErrorBody } from '../schemas/merchant.ts';
import { MerchantSettings, MerchantSettingsBody } from '../schemas/elements.ts';

const security = [{ merchantJwt: [] }];

/** `GET|PATCH /api/merchant/settings`: the publishable key and the origins allowed to use it. */
export const merchantSettingsRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    const { auth, elements } = deps.services;
    app.addHook('preHandler', merchantJwtHook(auth));

    app.get(
      '/merchant/settings',
      { schema: { tags: ['hosted fields'], summary: 'The publishable key and allowed origins of hosted card fields', security, response: { 200: MerchantSettings, 401: ErrorBody } } },
      async (request) => elements.settings(request.merchantId),
    );

    app.patch(
      '/merchant/settings',
      {
        schema: {
          tags: ['hosted fields'],
          summary: 'Set the origins whose pages may embed the card frame with the publishable key',
          security,
          body: MerchantSettingsBody,
          response: { 200: MerchantSettings, 400: ErrorBody, 401: ErrorBody },
        },
      },
      async (request) => elements.update(request.merchantId, request.body),
    );
  };
