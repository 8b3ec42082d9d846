import { CloudEvent, HTTP } from 'cloudevents';

/** What a webhook can subscribe to (API.md "Webhooks"), and each one's CloudEvents type. */
export const WEBHOOK_EVENTS = ['push', 'pull', 'delete', 'replication', 'retention', 'quota'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export const EVENT_TYPES: Record<WebhookEvent, string> = {
  push: 'org.wharf.artifact.pushed',
  pull: 'org.wharf.artifact.pulled',
  delete: 'org.wharf.artifact.deleted',
  replication: 'org.wharf.replication.completed',
  retention: 'org.wharf.retention.completed',
  quota: 'org.wharf.quota.exceeded',
};

/** The type of the event a "test" delivery sends (never subscribed to: sent on request only). */
export const PING_TYPE = 'org.wharf.webhook.ping';

/** One event as Wharf produced it, before it is shaped for a webhook's format. */
export interface WharfEvent {
  /** Stable: the same on every attempt and on a redelivery, so receivers can drop repeats. */
  id: string;
  type: string;
  /** RFC 3339. */
  time: string;
  /** The repository (or the project, for project-wide events). */
  subject: string;
  data: Record<string, unknown>;
}

/**
 * The HTTP body of an event in a webhook's format: CloudEvents 1.0 structured JSON, or (`default`)
 * the same `data` object alone. Fixed when the delivery is made.
 */
export function renderBody(format: 'cloudevents' | 'default', event: WharfEvent, source: string): string {
  if (format === 'default') return JSON.stringify(event.data);
  const ce = new CloudEvent({ specversion: '1.0', id: event.id, type: event.type, source, subject: event.subject, time: event.time, datacontenttype: 'application/json', data: event.data });
  return HTTP.structured(ce).body as string;
}

/** The content type a delivery's body is sent with. */
export const contentTypeOf = (format: 'cloudevents' | 'default'): string =>
  format === 'cloudevents' ? 'application/cloudevents+json; charset=utf-8' : 'application/json';
