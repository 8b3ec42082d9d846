import { readFileSync, rmSync } from 'node:fs';
import type { Log } from '../log';
import { writeSecretFile } from '../token/keys';
import { isSameProcess, processCommandLine, processStartTime } from './process';

/** Who runs the supervised registry of a data directory: the registry and its Wharf, each as pid plus start time. */
interface RegistryRecord {
  pid: number;
  startTime: string;
  configFile: string;
  wharfPid: number;
  wharfStartTime: string | null;
}

function readRecord(file: string): RegistryRecord | null {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<RegistryRecord>;
    if (typeof r.pid !== 'number' || typeof r.startTime !== 'string' || typeof r.configFile !== 'string' || typeof r.wharfPid !== 'number') return null;
    return { pid: r.pid, startTime: r.startTime, configFile: r.configFile, wharfPid: r.wharfPid, wharfStartTime: r.wharfStartTime ?? null };
  } catch {
    return null;
  }
}

/** Notes the registry just started for this data directory, so a later Wharf can stop it if this one dies first. */
export function recordRegistry(file: string, pid: number, configFile: string): void {
  const startTime = processStartTime(pid);
  if (!startTime) return;
  const record: RegistryRecord = { pid, startTime, configFile, wharfPid: process.pid, wharfStartTime: processStartTime(process.pid) };
  writeSecretFile(file, JSON.stringify(record) + '\n');
}

export function forgetRegistry(file: string): void {
  rmSync(file, { force: true });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // exited between the check and the signal
  }
}

const gone = (pid: number, startTime: string) => !isSameProcess(pid, startTime);

async function waitGone(pid: number, startTime: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (gone(pid, startTime)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return gone(pid, startTime);
}

/**
 * Stops a registry a previous Wharf started for this data directory and left running (it was
 * killed before it could stop it). Only a process that is still the recorded one (same start
 * time) and still runs our configuration file is signalled; one whose Wharf still lives is left
 * alone and the start refused.
 */
export async function stopStaleRegistry(file: string, configFile: string, log: Log): Promise<void> {
  const record = readRecord(file);
  if (!record) return;
  const ours = record.configFile === configFile && !gone(record.pid, record.startTime) && processCommandLine(record.pid).includes(configFile);
  if (!ours) {
    forgetRegistry(file);
    return;
  }
  if (record.wharfStartTime && isSameProcess(record.wharfPid, record.wharfStartTime))
    throw new Error(`the registry for this data directory (pid ${record.pid}) is supervised by a Wharf still running as pid ${record.wharfPid}; stop that one first`);
  signal(record.pid, 'SIGTERM');
  if (!(await waitGone(record.pid, record.startTime, 5000))) {
    signal(record.pid, 'SIGKILL');
    if (!(await waitGone(record.pid, record.startTime, 2000))) throw new Error(`a registry left running for this data directory (pid ${record.pid}) does not stop`);
  }
  forgetRegistry(file);
  log.warn({ pid: record.pid, wharfPid: record.wharfPid }, 'stopped a registry left running by a previous Wharf for this data directory');
}
