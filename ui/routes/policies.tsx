import { Hono } from 'hono';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { createPolicy, deletePolicy, getPolicy, listPolicies, previewPolicy, updatePolicy, type Direction, type PolicyInput, type PolicyPreview, type TriggerType } from '../../src/replication/policies';
import { listRegistries } from '../../src/replication/registries';
import { ConfirmPage } from '../pages/confirm';
import { NEW_POLICY_DRAFT, PoliciesPage, PolicyFormPage, policyDraftOf, policyPath, type PolicyDraft, type PolicyRowView } from '../pages/policies';
import { errorText, statusOf } from './page-errors';
import { adminUser, field, formOf, linesOf, noticeOf, render, view, type Form } from './request';

const LIST = '/replication/policies';
const NEW = '/replication/new-policy';

const draftOf = (form: Form): PolicyDraft => {
  const text = (name: keyof PolicyDraft) => field(form, name).trim();
  const checked = (name: keyof PolicyDraft) => field(form, name) === 'true';
  return {
    name: text('name'),
    direction: text('direction') || 'push',
    registry: text('registry'),
    project: text('project'),
    repositories: text('repositories'),
    excludeRepositories: text('excludeRepositories'),
    tags: text('tags'),
    excludeTags: text('excludeTags'),
    destination: text('destination'),
    override: checked('override'),
    deletions: checked('deletions'),
    triggerType: text('triggerType'),
    cron: text('cron'),
    replicateExisting: checked('replicateExisting'),
    enabled: checked('enabled'),
    concurrency: text('concurrency'),
    bandwidthKBps: text('bandwidthKBps'),
    description: text('description'),
  };
};

/** A number field: empty is none; anything else goes to the service, which names what is wrong. */
const numberOf = (text: string) => (text === '' ? undefined : Number(text));

/** The form as the service's input; the service checks every field as it does for the API. */
const inputOf = (d: PolicyDraft): Omit<PolicyInput, 'name'> => ({
  direction: d.direction as Direction,
  registry: d.registry,
  project: d.project,
  filters: { repositories: linesOf(d.repositories), excludeRepositories: linesOf(d.excludeRepositories), tags: linesOf(d.tags), excludeTags: linesOf(d.excludeTags) },
  destination: d.direction === 'push' ? d.destination || null : null,
  override: d.override,
  deletions: d.direction === 'push' && d.deletions,
  trigger: { type: d.triggerType as TriggerType, cron: d.triggerType === 'cron' ? d.cron : null },
  replicateExisting: d.replicateExisting,
  enabled: d.enabled,
  concurrency: numberOf(d.concurrency),
  bandwidthKBps: numberOf(d.bandwidthKBps) ?? null,
  description: d.description || null,
});

/** What the edit page shows above its form; the executions branch adds the runs here. */
export type PolicyExtras = (c: AppContext, policyName: string) => Promise<Child>;

/** Replication policies, for system admins: list, create and edit with the filter preview, enable/disable, delete. */
export function policyPages(extras: { policyPanel?: PolicyExtras; lastStatuses?: (c: AppContext, names: string[]) => Promise<Map<string, string>> } = {}): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const gone = (err: unknown) => err instanceof AppError && err.key === 'replication.notFound';
  const registryNames = async (c: AppContext) => (await listRegistries(ctxOf(c))).map((r) => r.name);

  const listPage = async (c: AppContext, extra: { error?: string; status?: ContentfulStatusCode } = {}) => {
    const v = view(c, extra.error ? LIST : undefined);
    const { items } = await listPolicies(ctxOf(c));
    const statuses = extras.lastStatuses ? await extras.lastStatuses(c, items.map((p) => p.name)) : new Map<string, string>();
    const rows: PolicyRowView[] = items.map((p) => ({ ...p, lastStatus: statuses.get(p.name) ?? null }));
    return render(c, <PoliciesPage v={v} items={rows} error={extra.error} notice={noticeOf(c, v)} />, extra.status);
  };

  const newPage = async (c: AppContext, extra: { draft?: PolicyDraft; preview?: PolicyPreview; error?: string; status?: ContentfulStatusCode } = {}) => {
    const v = view(c, extra.error || extra.preview ? NEW : undefined);
    const registries = await registryNames(c);
    const draft = extra.draft ?? { ...NEW_POLICY_DRAFT, registry: registries[0] ?? '', project: c.req.query('project') ?? '' };
    return render(c, <PolicyFormPage v={v} policy={null} draft={draft} registries={registries} preview={extra.preview} error={extra.error} />, extra.status);
  };

  const editPage = async (c: AppContext, name: string, extra: { draft?: PolicyDraft; preview?: PolicyPreview; error?: string; status?: ContentfulStatusCode } = {}) => {
    const policy = await getPolicy(ctxOf(c), name);
    const v = view(c, extra.error || extra.preview ? policyPath(name) : undefined);
    const panel = extras.policyPanel ? await extras.policyPanel(c, name) : null;
    return render(
      c,
      <PolicyFormPage
        v={v}
        policy={policy}
        draft={extra.draft ?? policyDraftOf(policy)}
        registries={await registryNames(c)}
        preview={extra.preview}
        error={extra.error}
        notice={noticeOf(c, v)}
      >
        {panel}
      </PolicyFormPage>,
      extra.status,
    );
  };

  ui.get(LIST, (c) => {
    adminUser(c);
    return listPage(c);
  });

  ui.get(NEW, (c) => {
    adminUser(c);
    return newPage(c);
  });

  ui.post(LIST, async (c) => {
    adminUser(c);
    const form = await formOf(c);
    const draft = draftOf(form);
    try {
      if (field(form, 'intent') === 'preview') return await newPage(c, { draft, preview: await previewPolicy(ctxOf(c), inputOf(draft)) });
      await createPolicy(ctxOf(c), { name: draft.name, ...inputOf(draft) });
    } catch (err) {
      return newPage(c, { draft, error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect(`${policyPath(draft.name)}?done=policyCreated`, 303);
  });

  ui.get(`${LIST}/:name`, (c) => {
    adminUser(c);
    return editPage(c, c.req.param('name'));
  });

  ui.post(`${LIST}/:name`, async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    const form = await formOf(c);
    const current = await getPolicy(ctxOf(c), name);
    // Name and direction are fixed; the form does not send them.
    const draft = { ...draftOf(form), name, direction: current.direction };
    try {
      if (field(form, 'intent') === 'preview') return await editPage(c, name, { draft, preview: await previewPolicy(ctxOf(c), { name, ...inputOf(draft) }) });
      await updatePolicy(ctxOf(c), name, inputOf(draft));
    } catch (err) {
      if (gone(err)) throw err;
      return editPage(c, name, { draft, error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect(`${policyPath(name)}?done=policyUpdated`, 303);
  });

  ui.post(`${LIST}/:name/enabled`, async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    const form = await formOf(c);
    try {
      await updatePolicy(ctxOf(c), name, { enabled: field(form, 'enabled') === 'true' });
    } catch (err) {
      if (gone(err)) throw err;
      return editPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect(`${policyPath(name)}?done=policyUpdated`, 303);
  });

  /** The second step before a policy is deleted. */
  ui.get(`${LIST}/:name/delete`, async (c) => {
    adminUser(c);
    const policy = await getPolicy(ctxOf(c), c.req.param('name'));
    const v = view(c);
    const { t } = v.i18n;
    const base = policyPath(policy.name);
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="replication"
        title={t('delete.policyTitle')}
        facts={[
          [t('policies.name'), policy.name],
          [t('policies.registry'), policy.registry],
          [t('policies.project'), policy.project],
        ]}
        warning={t('delete.policyWarning')}
        action={`${base}/delete`}
        fields={{}}
        button={t('delete.confirmPolicy')}
        back={base}
      />,
    );
  });

  ui.post(`${LIST}/:name/delete`, async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    try {
      await deletePolicy(ctxOf(c), name);
    } catch (err) {
      if (gone(err)) throw err;
      return listPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect(`${LIST}?done=policyDeleted`, 303);
  });

  return ui;
}
