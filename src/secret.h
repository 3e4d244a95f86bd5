/* secret.h: the run's passwords, kept out of everything it shows or hands on.
 *
 * Every password pgrace learns (from a DSN, PGPASSWORD, or what libpq read
 * for a connection, a passfile's included) is registered here; anything a
 * child process or a server says passes through secret_scrub before it is
 * shown or written, which replaces each spelling of a password the text may
 * hold (raw, percent-encoded, quoted, backslash-, HTML- or JSON-escaped) with
 * "***". Commands get a connection without any password in their
 * environment or arguments: a 0600 PGPASSFILE in a 0700 folder of the run's
 * own (secret_passfile), removed at exit (secret_cleanup). Thread-safe. */
#ifndef PGRACE_SECRET_H
#define PGRACE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_MASK "***"

/* Registers password (NULL or "" ignored; a copy is kept until exit). */
void secret_add(const char *password);
/* Registers the password a conninfo string or URI gives, if it parses. */
void secret_add_dsn(const char *dsn);
/* What every subcommand says of a --dsn that does not parse (libpq's own
 * message may quote the password, so it is never shown). */
#define SECRET_DSN_INVALID "--dsn: not a valid conninfo string or postgresql:// URI"
/* The one DSN check of every subcommand: false when arg does not parse as a
 * conninfo string or URI; else registers its password, replaces *copy
 * (freed first) with a malloc'd copy of arg, and masks the password in arg
 * itself (argv, so `ps` shows none; see db_mask_password). */
bool secret_take_dsn(char *arg, char **copy);
/* Replaces, in the NUL-terminated s of capacity cap, every spelling of a
 * registered password with SECRET_MASK; cut: s is the tail of a longer text,
 * so a password's last part at its start is masked too. */
void secret_scrub(char *s, size_t cap, bool cut);
/* secret_scrub of text against the one password pw (for tests and callers
 * with a password of their own); the same rules. */
void secret_scrub_with(char *s, size_t cap, bool cut, const char *pw);
/* The path of a passfile (mode 0600, in a 0700 folder made once per process
 * under $TMPDIR or /tmp) with the one line host:port:db:user:password for
 * these, escaped as libpq reads it ("*" for an empty field); rewritten on
 * each call. NULL when password is empty or the file cannot be written (err
 * says why). The returned string lives until the next call. */
const char *secret_passfile(const char *host, const char *port, const char *db, const char *user,
			    const char *password, char *err, size_t errlen);
/* Removes the passfile and its folder (idempotent; also run at exit). */
void secret_cleanup(void);

#endif
