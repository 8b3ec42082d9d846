import { admin as adminCreds } from './wharf';
import { MANIFEST_ACCEPT } from '../../src/registry/media-types';

/** What the registry itself says, read with an admin token from Wharf: the ground truth for tag state. */
export async function registryView(wharfUrl: string, registry: string, creds = adminCreds) {
  const auth = { authorization: `Basic ${Buffer.from(creds).toString('base64')}` };
  const token = async (scope: string) =>
    ((await (await fetch(`${wharfUrl}/service/token?service=wharf-registry&scope=${encodeURIComponent(scope)}`, { headers: auth })).json()) as {
      token: string;
    }).token;
  const catalogToken = await token('registry:catalog:*');
  const cat = (await (await fetch(`http://${registry}/v2/_catalog?n=1000`, { headers: { authorization: `Bearer ${catalogToken}` } })).json()) as {
    repositories: string[];
  };
  const view: Record<string, Record<string, string>> = {};
  for (const repo of cat.repositories) {
    const t = await token(`repository:${repo}:pull`);
    const res = await fetch(`http://${registry}/v2/${repo}/tags/list`, { headers: { authorization: `Bearer ${t}` } });
    if (res.status !== 200) continue;
    const tags = ((await res.json()) as { tags: string[] | null }).tags ?? [];
    if (tags.length === 0) continue;
    view[repo] = {};
    for (const tag of tags) {
      const head = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
        method: 'HEAD',
        headers: {
          authorization: `Bearer ${t}`,
          accept: MANIFEST_ACCEPT,
        },
      });
      view[repo]![tag] = head.headers.get('docker-content-digest') ?? '';
    }
  }
  return view;
}

/** Wharf's tag state through its own API, in the same shape as registryView. */
export async function wharfView(wharfUrl: string, creds = adminCreds) {
  const get = async (p: string) =>
    (await (await fetch(`${wharfUrl}${p}`, { headers: { authorization: `Basic ${Buffer.from(creds).toString('base64')}` } })).json()) as {
      items: { name: string; digest: string }[];
    };
  const view: Record<string, Record<string, string>> = {};
  for (const r of (await get('/api/v1/repositories?pageSize=500')).items) {
    const t = await get(`/api/v1/repositories/${encodeURIComponent(r.name)}/tags?pageSize=500`);
    if (t.items.length === 0) continue;
    view[r.name] = Object.fromEntries(t.items.map((x) => [x.name, x.digest]));
  }
  return view;
}
