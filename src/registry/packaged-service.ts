import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** How to tell whether Debian's packaged registry service runs here; swappable for tests. */
export interface ServiceProbe {
  /** systemd is the init system (sd_booted: /run/systemd/system exists). */
  systemdRunning(): boolean;
  /** `systemctl is-active docker-registry` says active. */
  packagedRegistryActive(): boolean;
}

export const hostServiceProbe: ServiceProbe = {
  systemdRunning: () => existsSync('/run/systemd/system'),
  packagedRegistryActive: () => {
    try {
      return execFileSync('systemctl', ['is-active', 'docker-registry'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'active';
    } catch {
      return false;
    }
  },
};

/**
 * Installing Debian's docker-registry on a host with systemd starts the packaged registry on :5000,
 * where Wharf's supervised one would listen. When that is why the registry could not start, the
 * one line Wharf exits with names the service and how to turn it off.
 */
export function explainTakenRegistryPort(message: string, probe: ServiceProbe = hostServiceProbe): string {
  if (!/address already in use/.test(message) || !probe.systemdRunning() || !probe.packagedRegistryActive()) return message;
  return `${message}; Debian's docker-registry service holds that port: run \`systemctl disable --now docker-registry\` (or set WHARF_REGISTRY_LISTEN)`;
}
