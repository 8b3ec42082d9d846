export const COMMANDS = ['serve', 'user', 'import-htpasswd', 'backup', 'restore', 'migrate-db', 'reconcile', 'gc', 'signing-key', 'notification-secret'] as const;

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
  gc [--dry-run] [--delete-untagged]
                                 garbage-collect the registry on this host: pushes are refused
                                 meanwhile; --delete-untagged deletes untagged images first
  signing-key status             the token signing certificates (active, next, previous) and their
                                 SHA-256 fingerprints; never the private keys
  signing-key stage [--key FILE --cert FILE]
                                 make the next key pair (or copy your own in) and trust it in the
                                 registry's bundle ($WHARF_DATA_DIR/token-bundle.crt)
  signing-key activate [--force] sign with the next key; the old certificate stays trusted as the
                                 previous one
  signing-key retire [--force]   stop trusting the previous certificate; refused until
                                 token.expiresIn plus a minute after activate, unless --force
  notification-secret stage      make a next notification secret: accepted beside the current one,
                                 and the one the registry configuration carries
  notification-secret activate   the next secret becomes the only one accepted

Options:
  -h, --help                     show this text

Every command reads config/wharf.yaml (or WHARF_CONFIG) and the WHARF_* environment variables,
so run it with the same configuration as the server. Exit codes: 0 success, 1 failure,
2 usage or configuration error. Set WHARF_LOG_LEVEL to see log lines (on stderr).
Running instances read rotated keys and secrets within two seconds, or at once on SIGHUP; a
supervised registry is restarted when its bundle or configuration changed (see README,
"Rotating keys").
`;
