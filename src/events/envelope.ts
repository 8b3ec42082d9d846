import { z } from 'zod';
import { isValidRepositoryName } from '../access/roles';
import { MANIFEST_MEDIA_TYPES } from '../registry/media-types';

/** The registry's notification envelope, checked field by field; unknown fields are ignored. */

export const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
/** The digests the registry accepts in a request path: anything else it refuses, so Wharf refuses it first. */
export const REGISTRY_DIGEST_RE = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

const eventSchema = z.object({
  id: z.string().min(1).max(200),
  timestamp: z.string().max(64).optional(),
  action: z.enum(['push', 'pull', 'mount', 'delete']),
  target: z.object({
    mediaType: z.string().max(255).optional(),
    size: z.number().int().nonnegative().optional(),
    digest: z.string().regex(DIGEST_RE, 'invalid digest').optional(),
    repository: z.string().refine(isValidRepositoryName, 'invalid repository name'),
    url: z.string().max(4096).optional(),
    tag: z.string().regex(TAG_RE, 'invalid tag').optional(),
    fromRepository: z.string().max(255).optional(),
  }),
  request: z
    .object({
      addr: z.string().max(128).optional(),
      host: z.string().max(255).optional(),
      method: z.string().max(16).optional(),
      useragent: z.string().max(2048).optional(),
    })
    .optional(),
  actor: z.object({ name: z.string().max(256).optional() }).optional(),
});

export type RegistryEvent = z.infer<typeof eventSchema>;

export interface ParsedEnvelope {
  events: RegistryEvent[];
  rejected: { id?: string; reason: string }[];
  /** Blob events and the like: valid but of no interest. */
  ignored: number;
}

function describe(err: z.ZodError): string {
  const issue = err.issues[0]!;
  return `${issue.path.join('.') || 'event'}: ${issue.message}`;
}

/** Splits an envelope into events to apply, events to ignore and events to reject, with reasons. */
export function parseEnvelope(body: unknown): ParsedEnvelope {
  const out: ParsedEnvelope = { events: [], rejected: [], ignored: 0 };
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { events?: unknown }).events)) {
    out.rejected.push({ reason: 'body is not an envelope {"events":[...]}' });
    return out;
  }
  for (const raw of (body as { events: unknown[] }).events) {
    const id = typeof (raw as { id?: unknown })?.id === 'string' ? ((raw as { id: string }).id.slice(0, 200)) : undefined;
    const parsed = eventSchema.safeParse(raw);
    if (!parsed.success) {
      out.rejected.push({ id, reason: describe(parsed.error) });
      continue;
    }
    const e = parsed.data;
    const mediaType = e.target.mediaType ?? '';
    if ((e.action === 'push' || e.action === 'pull') && mediaType !== '' && !MANIFEST_MEDIA_TYPES.has(mediaType)) {
      out.ignored++;
      continue;
    }
    if (e.action === 'mount') {
      out.ignored++;
      continue;
    }
    if ((e.action === 'push' || e.action === 'pull') && !e.target.digest) {
      out.rejected.push({ id, reason: `${e.action} event without target.digest` });
      continue;
    }
    if (e.action === 'delete' && !e.target.digest && !e.target.tag) {
      out.rejected.push({ id, reason: 'delete event with neither digest nor tag' });
      continue;
    }
    out.events.push(e);
  }
  return out;
}

/** `1.2.3.4:5678` or `[::1]:5678` → the address without the port. */
export function addressOf(addr: string | undefined): string | null {
  if (!addr) return null;
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(addr);
  if (v6) return v6[1]!;
  const v4 = /^([^:]+):\d+$/.exec(addr);
  return (v4 ? v4[1]! : addr).slice(0, 64);
}
