import { describe, expect, it } from 'vitest';
import { explainTakenRegistryPort, type ServiceProbe } from '../../src/registry/packaged-service';

const taken = 'registry exited during start (code 1): listen tcp 0.0.0.0:5000: bind: address already in use';
const probe = (systemd: boolean, active: boolean): ServiceProbe => ({ systemdRunning: () => systemd, packagedRegistryActive: () => active });

describe('a registry port taken by Debian\'s packaged registry', () => {
  it('names the service and how to disable it, in the same line', () => {
    const line = explainTakenRegistryPort(taken, probe(true, true));
    expect(line).toBe(`${taken}; Debian's docker-registry service holds that port: run \`systemctl disable --now docker-registry\` (or set WHARF_REGISTRY_LISTEN)`);
    expect(line).not.toContain('\n');
  });

  it('leaves the message alone without systemd, with the service inactive, or for another failure', () => {
    expect(explainTakenRegistryPort(taken, probe(false, true))).toBe(taken);
    expect(explainTakenRegistryPort(taken, probe(true, false))).toBe(taken);
    expect(explainTakenRegistryPort('registry exited during start (code 1): open /x: permission denied', probe(true, true))).toContain('permission denied');
    expect(explainTakenRegistryPort('registry exited during start (code 1): open /x: permission denied', probe(true, true))).not.toContain('systemctl');
  });
});
