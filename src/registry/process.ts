import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * What Linux's /proc says about a process. A pid alone names nothing once its process is gone
 * (pids are reused), so a process is identified by pid plus start time.
 */

/** The process's start time (clock ticks since boot), or null when it is gone, a zombie, or /proc cannot tell. */
export function processStartTime(pid: number): string | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may contain spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** The process's argv, or an empty list when it is gone or unreadable. */
export function processCommandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether the process is the one that had this start time. */
export function isSameProcess(pid: number, startTime: string): boolean {
  return processStartTime(pid) === startTime;
}

/**
 * Whether the process holds a listening TCP socket on `port`; null when this system has no
 * /proc to ask (the caller then falls back to what it can check). A process that is gone or
 * a zombie holds nothing.
 */
export function listensOnPort(pid: number, port: number): boolean | null {
  if (!existsSync('/proc/self/net/tcp')) return null;
  if (processStartTime(pid) === null) return false;
  const listening = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      // cols: sl, local_address (hex ip:port), rem_address, st (0A = LISTEN), …, inode at index 9.
      if (cols.length < 10 || cols[3] !== '0A') continue;
      if (parseInt(cols[1]!.split(':')[1] ?? '', 16) === port) listening.add(cols[9]!);
    }
  }
  if (listening.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode && listening.has(inode)) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}
