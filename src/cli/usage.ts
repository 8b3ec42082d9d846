export const COMMANDS = ['serve', 'user', 'import-htpasswd', 'backup', 'restore', 'migrate-db', 'reconcile'] as const;

export const USAGE = `Usage: wharf <command> [options]

Commands:
  serve                          run Wharf (same as npm start): HTTP server, supervised registry
  user create NAME [--admin] [--email E] [--password-stdin]
                                 create a local user; without --password-stdin a password is
                                 generated and printed once
  user passwd NAME [--password-stdin]
                                 set a new password (generated and printed once without
                                 --password-stdin); revokes the user's refresh tokens
  user disable NAME              disable a user: no more logins, refresh tokens revoked
  user enable NAME               enable a user again
  user list [--json]             list users (never their password hashes)
  import-htpasswd FILE           create users from an htpasswd file; bcrypt hashes (htpasswd -B) are
                                 kept, other hash kinds and existing users are skipped and reported
  backup DIR                     online backup of the database (SQLite: wharf.db; PostgreSQL: wharf.dump
                                 by pg_dump), signing key and secrets into DIR (restore: WHARF_DATA_DIR=DIR);
                                 the registry's blob storage is not included
  restore DIR                    PostgreSQL: load DIR/wharf.dump into the empty database of database.url
  migrate-db --to URL            copy the SQLite database into an empty PostgreSQL database (stop Wharf first)
  reconcile                      read the registry once and repair Wharf's tag state

Options:
  -h, --help                     show this text

Every command reads config/wharf.yaml (or WHARF_CONFIG) and the WHARF_* environment variables,
so run it with the same configuration as the server. Exit codes: 0 success, 1 failure,
2 usage or configuration error. Set WHARF_LOG_LEVEL to see log lines (on stderr).
`;
