import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, RobotSecretOnce, PostForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

const PERMISSIONS = ['pull', 'push', 'delete'] as const;

export interface SystemRobotRow {
  name: string;
  permissions: string[];
  projects: '*' | string[];
  createProjects: boolean;
  disabled: boolean;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface SystemRobotDraft {
  name: string;
  permissions: string[];
  projects: string;
  allProjects: boolean;
  createProjects: boolean;
  expiresInDays: string;
}

export interface SystemRobotsProps {
  v: View;
  items: SystemRobotRow[];
  created?: { name: string; secret: string };
  registryHost: string;
  error?: string | null;
  notice?: string | null;
  draft?: SystemRobotDraft;
}

/** Robots of the whole system (a `wharf` replication target signs in with one): list, create, disable, delete. */
export const SystemRobotsPage: FC<SystemRobotsProps> = ({ v, items, created, registryHost, error, notice, draft }) => {
  const { t } = v.i18n;
  const perms = draft?.permissions ?? ['pull'];
  return (
    <Layout v={v} title={t('systemRobots.title')} nav="robots">
      <h1>{t('systemRobots.title')}</h1>
      <p class="muted">{t('systemRobots.help')}</p>
      <ErrorBox message={error} />
      <Notice message={notice} />
      {created ? <RobotSecretOnce v={v} robot={created} registryHost={registryHost} /> : null}
      <ListTable
        items={items}
        empty={t('robots.none')}
        head={
          <>
            <th>{t('robots.account')}</th>
            <th>{t('robots.permissions')}</th>
            <th>{t('systemRobots.projects')}</th>
            <th>{t('account.expires')}</th>
            <th>{t('account.lastUsed')}</th>
            <th>{t('common.actions')}</th>
          </>
        }
        row={(r) => (
          <tr data-robot={r.name}>
            <td>
              <code>{r.name}</code> {r.disabled ? <Badge kind="disabled">{t('users.disabled')}</Badge> : null}
            </td>
            <td>{r.permissions.map((p) => t(`robots.perm.${p as (typeof PERMISSIONS)[number]}`)).join(', ')}</td>
            <td class="wrap">
              {r.projects === '*' ? t('systemRobots.allProjects') : r.projects.join(', ') || <span class="muted">{t('common.none')}</span>}
              {r.createProjects ? (
                <>
                  {' '}
                  <Badge kind="admin">{t('systemRobots.createsProjects')}</Badge>
                </>
              ) : null}
            </td>
            <td>{r.expiresAt ? <Time v={v} iso={r.expiresAt} /> : <span class="muted">{t('account.noExpiry')}</span>}</td>
            <td>
              <Time v={v} iso={r.lastUsedAt} />
            </td>
            <td class="actions">
              <PostForm v={v} action="/robots/update" class="row-form">
                <input type="hidden" name="robot" value={r.name} />
                <input type="hidden" name="disabled" value={r.disabled ? 'false' : 'true'} />
                <button type="submit" class="secondary small">
                  {r.disabled ? t('users.enable') : t('users.disable')}
                </button>
              </PostForm>
              <PostForm v={v} action="/robots/delete" class="row-form">
                <input type="hidden" name="robot" value={r.name} />
                <button type="submit" class="danger small">
                  {t('robots.delete')}
                </button>
              </PostForm>
            </td>
          </tr>
        )}
      />
      <section class="card">
        <h2>{t('robots.new')}</h2>
        <PostForm v={v} action="/robots">
          <div class="form-grid">
            <label>
              {t('robots.name')}
              <input name="name" required maxlength={64} autocomplete="off" value={draft?.name ?? ''} />
            </label>
            <fieldset class="perms">
              <legend>{t('robots.permissions')}</legend>
              {PERMISSIONS.map((p) => (
                <label class="check">
                  <input type="checkbox" name="permissions" value={p} checked={perms.includes(p)} />
                  {t(`robots.perm.${p}`)}
                </label>
              ))}
            </fieldset>
            <label>
              {t('account.expiresInDays')}
              <input name="expiresInDays" type="number" min={1} max={3650} placeholder={t('account.noExpiry')} value={draft?.expiresInDays ?? ''} />
            </label>
            <label class="check">
              <input type="checkbox" name="allProjects" value="true" checked={draft?.allProjects ?? false} />
              {t('systemRobots.allProjects')}
            </label>
            <label class="check">
              <input type="checkbox" name="createProjects" value="true" checked={draft?.createProjects ?? false} />
              {t('systemRobots.createProjects')}
            </label>
            <label class="wide">
              {t('systemRobots.projectList')}
              <textarea name="projects" rows={3}>
                {draft?.projects ?? ''}
              </textarea>
            </label>
          </div>
          <div class="form-buttons">
            <button type="submit">{t('robots.create')}</button>
          </div>
        </PostForm>
      </section>
    </Layout>
  );
};
