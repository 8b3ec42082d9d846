/**
 * The English texts of the errors a person can meet in the API or the web interface, by key.
 * `{name}` placeholders are filled from the error's params. The web interface shows these in the
 * visitor's language: every key has an `err.<key>` message in each ui/locales file, with the same
 * placeholders (checked by test/unit/locales.test.ts).
 */
export const ERROR_TEXTS = {
  forbidden: 'not allowed',
  'auth.required': 'authentication required',
  'auth.signInFirst': 'sign in first',
  'auth.adminOnly': 'system administrators only',
  'auth.robotNotAllowed': 'robot accounts may not do this',
  'auth.invalidLogin': 'invalid username or password',
  'auth.throttled': 'too many failed logins for this user; try again later',
  'auth.addressThrottled': 'too many failed logins from this address; try again later',
  'auth.directoryUnavailable': 'the user directory cannot be reached; try again later',
  csrf: 'missing or wrong CSRF token; reload the page and try again',
  'form.tooLarge': 'form too large',
  'form.nothingToChange': 'nothing to change',
  'form.unknownRole': 'unknown role',
  'form.badEmail': 'email: invalid email address',
  'form.unknownKind': 'kind must be distribution, wharf or harbor',
  'form.badProjects': 'projects must be "*" or a list of project names',
  'form.badExpiry': 'expiresInDays must be a whole number from {min} to {max}',
  'session.usersOnly': 'only users can sign in to the web interface',
  'session.passwordOnly': 'sign in with your password, not a token',
  'session.unknownUser': 'unknown user',
  'user.badName': 'username must be 1-{max} characters with no colon, no control characters and no leading or trailing space',
  'user.reserved': 'the name {name} is reserved (robot accounts and the audit log use such names)',
  'user.exists': 'user {name} already exists',
  'user.notFound': 'user {name} not found',
  'user.selfLockout': 'you cannot remove your own admin rights or disable yourself',
  'user.deleteSelf': 'you cannot delete yourself',
  'user.directoryPassword': 'the password of a directory user is changed in the directory',
  'password.tooShort': 'password must be at least {min} characters',
  'password.tooLong': 'password must be at most {max} characters',
  'password.oldRequired': 'oldPassword is required to change your own password',
  'password.oldWrong': 'oldPassword is wrong',
  'password.notWithToken': 'a personal access token cannot change a password; use the password',
  'token.usersOnly': 'only users have personal access tokens',
  'token.noMinting': 'personal access tokens cannot create tokens; sign in with your password',
  'token.badName': 'token name must be 1-64 letters, digits, ".", "_" or "-"',
  'token.exists': 'token {name} already exists',
  'token.notFound': 'token {name} not found',
  'project.badName': 'project name must be 1-{max} characters of lowercase letters and digits, separated by ".", "_", "__" or "-"',
  'project.exists': 'project {name} already exists',
  'project.notFound': 'project {name} not found',
  'project.usersOnly': 'only users may create projects',
  'project.manageOnly': 'only a projectAdmin of this project or a system admin may do this',
  'project.membersOnly': 'only members of this project and system admins may see its members',
  'project.deleteNeedsAdmin': 'deleting a project needs the projectAdmin role',
  'project.defaultUndeletable': 'the default project {name} cannot be deleted',
  'project.notEmpty': 'project {name} still has {count} repositories; delete them first',
  'member.notFound': 'member {name} of project {project} not found',
  'member.lastAdmin': 'project {project} needs at least one projectAdmin; make another member projectAdmin first',
  'group.badName': 'group name must be 1-256 printable characters',
  'group.notFound': 'group {name} of project {project} not found',
  'robot.badName': 'robot name must be 1-64 lowercase letters and digits, separated by ".", "_" or "-"',
  'robot.noPermissions': 'permissions must name at least one of pull, push, delete',
  'robot.exists': 'robot {name} already exists',
  'robot.notFound': 'robot {name} not found',
  'robot.unknownProject': 'project {name} does not exist; a system robot can only be given existing projects',
  'robot.cannotCreateProjects': 'this robot may not create projects',
  'registry.badName': 'registry name must be 1-{max} characters of lowercase letters and digits, separated by ".", "_", "__" or "-"',
  'registry.badUrl': 'url must be an http:// or https:// address with a host and no user, query or fragment',
  'registry.badCa': 'caPem must hold one or more PEM certificates and nothing else',
  'registry.badUsername': 'username must be at most {max} characters with no colon and no control characters',
  'registry.badPassword': 'password must be at most {max} characters',
  'registry.nameFixed': 'the name of a registry cannot be changed',
  'registry.exists': 'registry {name} already exists',
  'registry.notFound': 'registry {name} not found',
  'registry.inUse': 'registry {name} is used by the replication policies {policies}; delete them first',
  'repository.badName': 'invalid repository name',
  'repository.notFound': 'repository {name} not found',
  'tag.notFound': 'tag {tag} of {repository} not found',
  'image.notFound': 'image {digest} of {repository} not found',
  'delete.roleNeeded': 'deleting needs the developer or projectAdmin role (or a robot with delete)',
  'delete.inIndex': '{digest} is part of the tagged index {index}; delete the index, or pass force=true',
  'delete.registryRefused': 'the registry refused to delete {digest} ({reason})',
  'replication.badName': 'policy name must be 1-{max} lowercase letters and digits, separated by ".", "_" or "-"',
  'replication.badDirection': 'direction must be push or pull',
  'replication.badTrigger': 'trigger.type must be manual, event or cron',
  'replication.cronMissing': 'a cron trigger needs trigger.cron, a cron expression',
  'replication.badCron': 'trigger.cron: invalid cron expression {cron} ({problem})',
  'replication.cronNotCron': 'trigger.cron is only for the cron trigger, not for {type}',
  'replication.pullEvent': 'a pull policy cannot have an event trigger: Wharf sees no events of other registries; use manual or cron',
  'replication.badGlob': '{field}: invalid glob {glob} ({problem})',
  'replication.badDestination': 'destination must be a repository namespace: lowercase path components separated by "/", at most {max} characters',
  'replication.destinationOnPull': 'destination is only for push policies; a pull policy copies into its project',
  'replication.deletionsOnPull': 'deletions are only replicated by push policies',
  'replication.badConcurrency': 'concurrency must be a whole number from 1 to {max}',
  'replication.badBandwidth': 'bandwidthKBps must be a positive whole number, or null for no limit',
  'replication.exists': 'replication policy {name} already exists',
  'replication.notFound': 'replication policy {name} not found',
  'replication.fixedField': '{field} of a policy cannot be changed; create a new policy instead',
  'replication.listingFailed': 'could not list the repositories of registry {registry} ({reason})',
  'page.notFound': 'page not found',
  'execution.notFound': 'execution {id} not found',
  'execution.finished': 'execution {id} has already finished',
  'execution.nothingToRetry': 'execution {id} has no failed or stopped tasks to retry',
  'execution.running': 'execution {id} is still running; stop it or wait for it to finish',
  'storage.readOnly': 'the registry is read-only for maintenance; try again later',
  'storage.readOnlyBecause': 'the registry is read-only for maintenance ({reason}); try again later',
  'storage.overQuota': 'project {project} is over its storage quota ({used} of {limit}); delete images to push again',
  'storage.tagImmutable': 'tag {tag} of {repository} is immutable',
  'immutability.tooMany': 'at most {max} immutability rules',
  'immutability.badGlob': '{field}: invalid glob {glob} ({problem})',
  'retention.badRules': 'rules must be a list of rules',
  'retention.tooManyRules': 'a retention policy has at most {max} rules',
  'retention.badRule': 'rules[{index}] must be an object {repositories, tags, keep, n?}',
  'retention.badGlob': 'rules[{index}].{field}: invalid glob {glob} ({problem})',
  'retention.badKeep': 'rules[{index}].keep must be one of {kinds}',
  'retention.badN': 'rules[{index}].n: {keep} needs n, a whole number from 1 to {max}',
  'retention.nForbidden': 'rules[{index}].n: a rule that keeps always takes no n',
  'retention.badUntagged': 'untagged must be keep or delete',
  'retention.badCron': 'cron: invalid cron expression {cron} ({problem})',
  'retention.cronWithoutRules': 'cron: a schedule needs at least one rule',
  'retention.noPolicy': 'project {project} has no retention policy; set one first',
  'retention.running': 'a retention run of project {project} has not finished yet',
  'readOnly.badReason': 'reason must be at most {max} printable characters',
  'quota.badLimit': 'limitBytes must be a whole number of bytes from 1 to {max}, or null for no limit',
  'storage.full': 'Wharf cannot write to its storage (disk full or failing); try again later',
  'gc.running': 'garbage collection {id} has not finished; wait for it before starting another',
  'gc.notSupervised': 'this Wharf instance does not supervise the registry, so it cannot run its garbage collection; run `{command}` on the registry\'s host',
  'gc.badCron': 'cron: invalid cron expression {cron} ({problem})',
  'gc.notFound': 'garbage collection run {id} not found',
  'webhook.badBody': 'the body must be a JSON object',
  'webhook.badName': 'name: 1 to {max} characters: letters, digits, and . _ - inside',
  'webhook.badUrl': 'url: {problem}',
  'webhook.urlPrivate': 'url: {problem}',
  'webhook.badEvents': 'events must be a non-empty list without repeats of: {events}',
  'webhook.badFormat': 'format must be cloudevents or default',
  'webhook.badSecret': 'secret: {min} to {max} characters, or null to remove it',
  'webhook.badEnabled': 'enabled must be true or false',
  'webhook.badAttempts': 'maxAttempts: a whole number from 1 to {max}, or null for the default',
  'webhook.badTimeout': 'timeoutMs: a whole number from {min} to {max}, or null for the default',
  'webhook.badDescription': 'description: at most {max} characters',
  'webhook.notFound': 'webhook {name} not found',
  'webhook.exists': 'a webhook named {name} already exists in this project',
  'webhook.tooMany': 'a project has at most {max} webhooks',
  'webhook.deliveryNotFound': 'delivery {id} not found',
  'webhook.deliveryPending': 'delivery {id} is still being sent; wait for it to finish',
} as const satisfies Record<string, string>;

export type ErrorKey = keyof typeof ERROR_TEXTS;
export type ErrorParams = Readonly<Record<string, string | number>>;
type Status = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

/** Fills `{name}` placeholders of a template; an unknown placeholder stays as it is. */
export function fillTemplate(template: string, params: ErrorParams, format: (n: number) => string = String): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    if (value === undefined) return whole;
    return typeof value === 'number' ? format(value) : value;
  });
}

/**
 * The one error type: a stable code, the HTTP status it maps to, and a message safe to show.
 * Errors a person can meet also carry a key of ERROR_TEXTS and its params, so the web interface
 * can say the same thing in the visitor's language; the API answers with the English message.
 */
export class AppError extends Error {
  constructor(
    readonly status: Status,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly key?: ErrorKey,
    readonly params: ErrorParams = {},
  ) {
    super(message);
  }
}

/** An AppError whose message is ERROR_TEXTS[key] filled with params. */
export const fail = (status: Status, code: string, key: ErrorKey, params: ErrorParams = {}, headers: Record<string, string> = {}) =>
  new AppError(status, code, fillTemplate(ERROR_TEXTS[key], params), headers, key, params);

export const badRequest = (key: ErrorKey, params?: ErrorParams) => fail(400, 'invalid_request', key, params);
export const unauthorized = (key: ErrorKey = 'auth.required') =>
  fail(401, 'unauthorized', key, {}, { 'WWW-Authenticate': 'Basic realm="wharf", charset="UTF-8"' });
export const forbidden = (key: ErrorKey = 'forbidden', params?: ErrorParams) => fail(403, 'forbidden', key, params);
export const notFound = (key: ErrorKey, params?: ErrorParams) => fail(404, 'not_found', key, params);
export const conflict = (key: ErrorKey, params?: ErrorParams) => fail(409, 'conflict', key, params);
/** An error meant for operators and API clients only (token endpoint, CLI), with no localized text. */
export const invalidRequest = (message: string) => new AppError(400, 'invalid_request', message);
