import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ctxOf, type AppEnv } from '../http/env';
import { WEBHOOK_EVENTS } from '../webhooks/events';
import { MAX_ATTEMPTS_LIMIT } from '../webhooks/send';
import {
  createWebhook,
  deleteWebhook,
  getDelivery,
  getWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
  testWebhook,
  updateWebhook,
  WEBHOOK_DESCRIPTION_MAX,
  WEBHOOK_NAME_MAX,
  WEBHOOK_SECRET_MAX,
  WEBHOOK_SECRET_MIN,
  WEBHOOK_TIMEOUT_MAX_MS,
  WEBHOOK_TIMEOUT_MIN_MS,
  WEBHOOK_URL_MAX,
} from '../webhooks/service';
import { authRequired, json, jsonBody, pick, requireUser, ROW_ID_MAX } from './route-kit';

const tags = ['webhooks'];

const Events = z.array(z.enum(WEBHOOK_EVENTS)).openapi({ description: 'What the webhook is sent; at least one', example: ['push', 'delete'] });

const InputFields = {
  url: z.string().max(WEBHOOK_URL_MAX).openapi({ description: 'http(s); no private, loopback or link-local address unless webhooks.allowPrivateTargets', example: 'https://ci.example.com/hooks/wharf' }),
  events: Events,
  format: z.enum(['cloudevents', 'default']).optional().openapi({ description: 'cloudevents (default): CloudEvents 1.0 structured JSON; default: the data object alone' }),
  secret: z.string().max(WEBHOOK_SECRET_MAX).nullable().optional().openapi({ description: `${WEBHOOK_SECRET_MIN} to ${WEBHOOK_SECRET_MAX} characters: deliveries carry X-Wharf-Signature: sha256=<HMAC-SHA256 of the body>. Never shown again; null removes it` }),
  enabled: z.boolean().optional(),
  maxAttempts: z.number().int().nullable().optional().openapi({ description: `Tries of one delivery, 1 to ${MAX_ATTEMPTS_LIMIT}; null: webhooks.maxAttempts` }),
  timeoutMs: z.number().int().nullable().optional().openapi({ description: `Wait for an answer, ${WEBHOOK_TIMEOUT_MIN_MS} to ${WEBHOOK_TIMEOUT_MAX_MS} ms; null: webhooks.timeoutMs` }),
  description: z.string().max(WEBHOOK_DESCRIPTION_MAX).nullable().optional(),
};

const CreateSchema = z.object({ name: z.string().max(WEBHOOK_NAME_MAX).openapi({ example: 'ci' }), ...InputFields }).strict().openapi('WebhookInput');
const UpdateSchema = z
  .object({ name: z.string().max(WEBHOOK_NAME_MAX).optional(), ...InputFields, url: InputFields.url.optional(), events: Events.optional() })
  .strict()
  .openapi('WebhookUpdate');

const WebhookSchema = z
  .object({
    name: z.string(),
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENTS)),
    format: z.enum(['cloudevents', 'default']),
    hasSecret: z.boolean(),
    enabled: z.boolean(),
    maxAttempts: z.number().int().nullable(),
    timeoutMs: z.number().int().nullable(),
    description: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Webhook');

const DeliverySchema = z
  .object({
    id: z.number().int(),
    event: z.string().openapi({ description: 'The CloudEvents type', example: 'org.wharf.artifact.pushed' }),
    eventId: z.string().openapi({ description: 'The same on every attempt and redelivery' }),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.number().int(),
    responseStatus: z.number().int().nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    lastAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
  })
  .openapi('WebhookDelivery');

/** POSTs that take no input accept an empty JSON object (or no body). */
const NoInput = { required: false, content: { 'application/json': { schema: z.object({}).strict().openapi('WebhookNoInput') } } };

const ProjectParam = z.object({ project: z.string().min(1).max(300).openapi({ example: 'team' }) });
const WebhookParam = ProjectParam.extend({ name: z.string().min(1).max(300) });
const DeliveryParam = WebhookParam.extend({ id: z.coerce.number().int().min(1).max(ROW_ID_MAX) });
const DeliveryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).max(ROW_ID_MAX).optional().openapi({ description: 'A delivery id: older ones only (paging)' }),
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
});

export function webhookRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  const manage = 'projectAdmin or system admin';

  app.openapi(
    createRoute({ method: 'get', path: '/projects/{project}/webhooks', tags, summary: `A project's webhooks (${manage})`, security: authRequired, request: { params: ProjectParam }, responses: { 200: json(z.object({ items: z.array(WebhookSchema) }).openapi('WebhookList')), ...pick(401, 403, 404) } }),
    async (c) => {
      requireUser(c);
      return c.json({ items: await listWebhooks(ctxOf(c), c.req.valid('param').project) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/projects/{project}/webhooks', tags, summary: `Create a webhook (${manage}); the secret is never returned`, security: authRequired, request: { params: ProjectParam, body: jsonBody(CreateSchema) }, responses: { 201: json(WebhookSchema, 'Created'), ...pick(400, 401, 403, 404, 409) } }),
    async (c) => {
      requireUser(c);
      return c.json(await createWebhook(ctxOf(c), c.req.valid('param').project, c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/projects/{project}/webhooks/{name}', tags, summary: 'One webhook', security: authRequired, request: { params: WebhookParam }, responses: { 200: json(WebhookSchema), ...pick(401, 403, 404) } }),
    async (c) => {
      requireUser(c);
      const { project, name } = c.req.valid('param');
      return c.json(await getWebhook(ctxOf(c), project, name), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'patch', path: '/projects/{project}/webhooks/{name}', tags, summary: 'Change a webhook: the fields given', security: authRequired, request: { params: WebhookParam, body: jsonBody(UpdateSchema) }, responses: { 200: json(WebhookSchema), ...pick(400, 401, 403, 404, 409) } }),
    async (c) => {
      requireUser(c);
      const { project, name } = c.req.valid('param');
      return c.json(await updateWebhook(ctxOf(c), project, name, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'delete', path: '/projects/{project}/webhooks/{name}', tags, summary: 'Delete a webhook and its deliveries', security: authRequired, request: { params: WebhookParam }, responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404) } }),
    async (c) => {
      requireUser(c);
      const { project, name } = c.req.valid('param');
      await deleteWebhook(ctxOf(c), project, name);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/projects/{project}/webhooks/{name}/test', tags, summary: `Send the webhook a test event (${'org.wharf.webhook.ping'}) now`, security: authRequired, request: { params: WebhookParam, body: NoInput }, responses: { 202: json(DeliverySchema, 'Queued'), ...pick(401, 403, 404) } }),
    async (c) => {
      requireUser(c);
      const { project, name } = c.req.valid('param');
      return c.json(await testWebhook(ctxOf(c), project, name), 202);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/projects/{project}/webhooks/{name}/deliveries', tags, summary: "A webhook's deliveries, newest first", security: authRequired, request: { params: WebhookParam, query: DeliveryQuery }, responses: { 200: json(z.object({ items: z.array(DeliverySchema) }).openapi('WebhookDeliveryList')), ...pick(400, 401, 403, 404) } }),
    async (c) => {
      requireUser(c);
      const { project, name } = c.req.valid('param');
      const q = c.req.valid('query');
      return c.json({ items: await listDeliveries(ctxOf(c), project, name, { limit: q.limit, ...(q.before ? { before: q.before } : {}), ...(q.status ? { status: q.status } : {}) }) }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/projects/{project}/webhooks/{name}/deliveries/{id}', tags, summary: 'One delivery with the body it sends', security: authRequired, request: { params: DeliveryParam }, responses: { 200: json(DeliverySchema.extend({ body: z.string() }).openapi('WebhookDeliveryDetail')), ...pick(400, 401, 403, 404) } }),
    async (c) => {
      requireUser(c);
      const { project, name, id } = c.req.valid('param');
      return c.json(await getDelivery(ctxOf(c), project, name, id), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/projects/{project}/webhooks/{name}/deliveries/{id}/redeliver', tags, summary: 'Send a finished delivery again (same event id and body)', security: authRequired, request: { params: DeliveryParam, body: NoInput }, responses: { 202: json(DeliverySchema, 'Queued'), ...pick(400, 401, 403, 404, 409) } }),
    async (c) => {
      requireUser(c);
      const { project, name, id } = c.req.valid('param');
      return c.json(await redeliver(ctxOf(c), project, name, id), 202);
    },
  );

  return app;
}
