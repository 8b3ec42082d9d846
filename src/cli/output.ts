/** Where a command writes its result lines (stdout; errors go to stderr through runCli). */
export interface Output {
  out(line: string): void;
}

export const stdout: Output = { out: (line) => process.stdout.write(line + '\n') };
