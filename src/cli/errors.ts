/** Wrong use of the command line: one line on stderr, exit code 2. */
export class UsageError extends Error {}

/** A command that could not do its job for a reason the operator can fix: one line, exit code 1. */
export class CommandError extends Error {}
