import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, RobotSecretOnce, Pager, PostForm, RoleName, Time, Warning } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';
import { ProjectTabs } from '../components/project-tabs';

export interface RepositoryRow {
  name: string;
  tagCount: number;
  pullCount: number;
  lastPushedAt: string | null;
  lastPulledAt: string | null;
}

export interface ProjectProps {
  v: View;
  project: { name: string; public: boolean; createdBy: string | null; createdAt: string };
  role: string | null;
  canManage: boolean;
  repositories: RepositoryRow[];
  repositoryTotal: number;
  /** Empty and not the default project: the delete button is offered. */
  deletable: boolean;
  page: number;
  pageSize: number;
  /** Null when the visitor may not see who belongs to the project (anonymous, non-members of a public project). */
  members: { username: string; role: string }[] | null;
  /** The member whose role the visitor may not change or remove (the project's last projectAdmin), as the service decides. */
  lockedMember: string | null;
  groups: { group: string; role: string }[];
  /** Whether a directory is configured: directory groups can then be given roles. */
  ldap: boolean;
  registryHost: string;
  /** Robot accounts: only for those who manage the project (null otherwise). */
  robots: RobotRow[] | null;
  /** A robot just created: its secret is shown this once. */
  createdRobot?: { name: string; secret: string } | null;
  error?: string | null;
  notice?: string | null;
  /** Shown after creating, when the registry still holds repositories under the name. */
  warning?: string | null;
  /** Storage usage and limit: for members and system admins (null otherwise). */
  quota?: { limitBytes: number | null; usedBytes: number } | null;
  /** System admins set or clear the limit. */
  canSetQuota?: boolean;
}

const UNITS = [
  ['MiB', 2 ** 20],
  ['GiB', 2 ** 30],
  ['TiB', 2 ** 40],
] as const;

/** Used against the limit as a native meter (no script, no inline style) and in words. */
const QuotaSection: FC<{ v: View; project: string; quota: { limitBytes: number | null; usedBytes: number }; canSet: boolean }> = ({ v, project, quota, canSet }) => {
  const { t } = v.i18n;
  const percent = quota.limitBytes ? Math.round((quota.usedBytes / quota.limitBytes) * 100) : null;
  const over = quota.limitBytes !== null && quota.usedBytes >= quota.limitBytes;
  return (
    <section class="card" id="quota">
      <h2>{t('quota.title')}</h2>
      {quota.limitBytes === null ? (
        <p data-quota="unlimited">{t('quota.usedNoLimit', { used: v.i18n.bytes(quota.usedBytes) })}</p>
      ) : (
        <>
          <p data-quota={over ? 'over' : 'under'}>
            {t('quota.used', { used: v.i18n.bytes(quota.usedBytes), limit: v.i18n.bytes(quota.limitBytes), percent: percent ?? 0 })}
            {over ? (
              <>
                {' '}
                <Badge kind="bad">{t('quota.over')}</Badge>
              </>
            ) : null}
          </p>
          <meter class="quota-bar" min={0} max={quota.limitBytes} high={quota.limitBytes * 0.9} value={Math.min(quota.usedBytes, quota.limitBytes)}>
            {percent}%
          </meter>
        </>
      )}
      {canSet ? (
        <PostForm v={v} action={`/projects/${encodeURIComponent(project)}/quota`} class="inline">
          <label>
            {t('quota.limit')}{' '}
            <input type="text" name="limit" inputmode="decimal" size={8} value={quota.limitBytes === null ? '' : String(+(quota.limitBytes / 2 ** 30).toFixed(3))} />
          </label>{' '}
          <select name="unit" aria-label={t('quota.unit')}>
            {UNITS.map(([u]) => (
              <option value={u} selected={u === 'GiB'}>
                {u}
              </option>
            ))}
          </select>{' '}
          <button type="submit">{t('quota.save')}</button>
          <p class="muted small-text">{t('quota.help')}</p>
        </PostForm>
      ) : null}
    </section>
  );
};

/** Bytes from the form's number and unit; empty means no limit. NaN (refused by the service) for anything else. */
export function quotaFromForm(limit: string, unit: string): number | null {
  const text = limit.trim();
  if (text === '') return null;
  const factor = UNITS.find(([u]) => u === unit)?.[1];
  if (!factor || !/^\d+(\.\d+)?$/.test(text)) return Number.NaN;
  return Math.round(Number(text) * factor);
}

export interface RobotRow {
  name: string;
  permissions: string[];
  disabled: boolean;
  expiresAt: string | null;
  createdBy: string | null;
  lastUsedAt: string | null;
}

const PERMISSIONS = ['pull', 'push', 'delete'] as const;

const ROLE_OPTIONS = ['guest', 'developer', 'projectAdmin'] as const;

/** One member or group with its role: change and remove forms for those who manage the project. */
const RoleRow: FC<{
  v: View;
  canManage: boolean;
  action: string;
  field: 'username' | 'group';
  name: string;
  role: string;
  idPrefix: string;
  /** The project's only projectAdmin, shown to someone who is not a system admin: role and membership stay. */
  locked?: boolean;
}> = ({ v, canManage, action, field, name, role, idPrefix, locked = false }) => {
  const { t } = v.i18n;
  return (
    <tr {...(field === 'group' ? { 'data-group': name } : {})}>
      <td>{name}</td>
      <td>
        {canManage && !locked ? (
          <PostForm v={v} action={action} class="row-form">
            <input type="hidden" name={field} value={name} />
            <label class="visually-hidden" for={`${idPrefix}-${name}`}>
              {t('project.role')}
            </label>
            <RoleSelect v={v} selected={role} id={`${idPrefix}-${name}`} />
            <button type="submit" class="secondary small">
              {t('project.changeRole')}
            </button>
          </PostForm>
        ) : (
          <RoleName v={v} role={role} />
        )}
      </td>
      {canManage && locked ? (
        <td class="muted">{t('project.lastAdmin')}</td>
      ) : canManage ? (
        <td>
          <PostForm v={v} action={`${action}/remove`} class="row-form">
            <input type="hidden" name={field} value={name} />
            <button type="submit" class="danger small">
              {t('project.removeMember')}
            </button>
          </PostForm>
        </td>
      ) : null}
    </tr>
  );
};

const RoleSelect: FC<{ v: View; selected?: string; id?: string }> = ({ v, selected, id }) => (
  <select name="role" id={id}>
    {ROLE_OPTIONS.map((r) => (
      <option value={r} selected={r === selected}>
        {v.i18n.t(`role.${r}`)}
      </option>
    ))}
  </select>
);

export const ProjectPage: FC<ProjectProps> = (props) => {
  const { v, project, role, canManage, repositories, repositoryTotal, deletable, page, pageSize, members, lockedMember, groups, ldap, registryHost, robots, createdRobot, error, notice, warning, quota, canSetQuota } =
    props;
  const { t } = v.i18n;
  const base = `/projects/${encodeURIComponent(project.name)}`;
  return (
    <Layout v={v} title={project.name} nav="projects">
      <p class="crumbs">
        <a href="/projects">{t('nav.projects')}</a> /
      </p>
      <div class="page-head">
        <h1>
          {project.name}{' '}
          {project.public ? <Badge kind="public">{t('projects.public')}</Badge> : <Badge kind="private">{t('projects.private')}</Badge>}
        </h1>
        <p class="muted">
          {t('project.yourRole')}: {role || !v.principal.admin ? <RoleName v={v} role={role} /> : t('users.admin')} · {project.createdBy ? <>{t('projects.createdBy')}: {project.createdBy} · </> : null}<Time v={v} iso={project.createdAt} />
        </p>
      </div>
      <ProjectTabs v={v} project={project.name} here="overview" />
      <ErrorBox message={error} />
      <Notice message={notice} />
      <Warning message={warning} />
      {quota ? <QuotaSection v={v} project={project.name} quota={quota} canSet={canSetQuota ?? false} /> : null}

      <section>
        <h2>{t('project.repositories')}</h2>
        <ListTable
          items={repositories}
          empty={
            <>
              {t('project.noRepositories')} <code>{`docker push ${registryHost}/${project.name}/IMAGE:TAG`}</code>
            </>
          }
          head={
            <>
              <th>{t('repository.name')}</th>
              <th class="num">{t('repository.tags')}</th>
              <th class="num">{t('repository.pulls')}</th>
              <th>{t('repository.lastPush')}</th>
              <th>{t('repository.lastPull')}</th>
            </>
          }
          row={(r) => (
            <tr>
              <td>
                <a href={`/repositories/${r.name.split('/').map(encodeURIComponent).join('/')}`}>{r.name}</a>
              </td>
              <td class="num">{v.i18n.number(r.tagCount)}</td>
              <td class="num">{v.i18n.number(r.pullCount)}</td>
              <td>
                <Time v={v} iso={r.lastPushedAt} />
              </td>
              <td>
                <Time v={v} iso={r.lastPulledAt} />
              </td>
            </tr>
          )}
        />
        <Pager v={v} path={base} query={{}} page={page} pageSize={pageSize} total={repositoryTotal} />
      </section>

      {members ? (
        <section>
          <h2>{t('project.members')}</h2>
          <ListTable
            items={members}
            empty={t('project.noMembers')}
            head={
              <>
                <th>{t('project.member')}</th>
                <th>{t('project.role')}</th>
                {canManage ? <th>{t('common.actions')}</th> : null}
              </>
            }
            row={(m) => (
              <RoleRow
                v={v}
                canManage={canManage}
                action={`${base}/members`}
                field="username"
                name={m.username}
                role={m.role}
                idPrefix="role"
                locked={lockedMember === m.username}
              />
            )}
          />
          {groups.length > 0 ? (
            <>
              <h3>{t('project.groups')}</h3>
              <ListTable
                items={groups}
                head={
                  <>
                    <th>{t('project.group')}</th>
                    <th>{t('project.role')}</th>
                    {canManage ? <th>{t('common.actions')}</th> : null}
                  </>
                }
                row={(g) => <RoleRow v={v} canManage={canManage} action={`${base}/groups`} field="group" name={g.group} role={g.role} idPrefix="group-role" />}
              />
            </>
          ) : null}
          {canManage ? (
            <div class="card">
              <h3>{t('project.addMember')}</h3>
              <PostForm v={v} action={`${base}/members`} class="inline-form">
                <label>
                  {t('login.username')}
                  <input name="username" required maxlength={64} autocomplete="off" />
                </label>
                <label>
                  {t('project.role')}
                  <RoleSelect v={v} selected="developer" />
                </label>
                <button type="submit">{t('project.addMemberButton')}</button>
              </PostForm>
            </div>
          ) : null}
          {canManage && ldap ? (
            <div class="card">
              <h3>{t('project.addGroup')}</h3>
              <PostForm v={v} action={`${base}/groups`} class="inline-form">
                <label>
                  {t('project.group')}
                  <input name="group" required maxlength={256} autocomplete="off" />
                </label>
                <label>
                  {t('project.role')}
                  <RoleSelect v={v} selected="guest" />
                </label>
                <button type="submit">{t('project.addGroupButton')}</button>
              </PostForm>
            </div>
          ) : null}
        </section>
      ) : null}

      {canManage && robots ? (
        <section>
          <h2>{t('robots.title')}</h2>
          <p class="muted">{t('robots.help')}</p>
          {createdRobot ? <RobotSecretOnce v={v} robot={createdRobot} registryHost={registryHost} /> : null}
          <ListTable
            items={robots}
            empty={t('robots.none')}
            head={
              <>
                <th>{t('robots.account')}</th>
                <th>{t('robots.permissions')}</th>
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
                <td>{r.expiresAt ? <Time v={v} iso={r.expiresAt} /> : <span class="muted">{t('account.noExpiry')}</span>}</td>
                <td>
                  <Time v={v} iso={r.lastUsedAt} />
                </td>
                <td class="actions">
                  <PostForm v={v} action={`${base}/robots/update`} class="row-form">
                    <input type="hidden" name="robot" value={r.name} />
                    <input type="hidden" name="disabled" value={r.disabled ? 'false' : 'true'} />
                    <button type="submit" class="secondary small">
                      {r.disabled ? t('users.enable') : t('users.disable')}
                    </button>
                  </PostForm>
                  <PostForm v={v} action={`${base}/robots/delete`} class="row-form">
                    <input type="hidden" name="robot" value={r.name} />
                    <button type="submit" class="danger small">
                      {t('robots.delete')}
                    </button>
                  </PostForm>
                </td>
              </tr>
            )}
          />
          <div class="card">
            <h3>{t('robots.new')}</h3>
            <PostForm v={v} action={`${base}/robots`} class="inline-form">
              <label>
                {t('robots.name')}
                <input name="name" required maxlength={64} autocomplete="off" />
              </label>
              <fieldset class="perms">
                <legend>{t('robots.permissions')}</legend>
                {PERMISSIONS.map((p) => (
                  <label class="check">
                    <input type="checkbox" name="permissions" value={p} checked={p === 'pull'} />
                    {t(`robots.perm.${p}`)}
                  </label>
                ))}
              </fieldset>
              <label>
                {t('account.expiresInDays')}
                <input name="expiresInDays" type="number" min={1} max={3650} placeholder={t('account.noExpiry')} />
              </label>
              <button type="submit">{t('robots.create')}</button>
            </PostForm>
          </div>
        </section>
      ) : null}

      {canManage ? (
        <section class="card">
          <h2>{t('project.settings')}</h2>
          <PostForm v={v} action={`${base}/visibility`} class="inline-form">
            <input type="hidden" name="public" value={project.public ? 'false' : 'true'} />
            <span>{project.public ? t('project.isPublic') : t('project.isPrivate')}</span>
            <button type="submit" class="secondary">
              {project.public ? t('project.makePrivate') : t('project.makePublic')}
            </button>
          </PostForm>
          <p class="inline-form">
            <span>{t('project.deleteHelp')}</span>
            {deletable ? (
              <a href={`${base}/delete`} class="button danger">
                {t('project.delete')}
              </a>
            ) : null}
          </p>
        </section>
      ) : null}
    </Layout>
  );
};
