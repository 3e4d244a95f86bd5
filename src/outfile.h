/* outfile.h: an output file written whole or not at all, never through a
 * planted file.
 *
 * Every file pgrace writes on request (run's --json, --junit and --html,
 * report -o, spec -o, init -o) goes through here: the text is written into
 * a fresh temporary beside the target, made by mkstemp (O_CREAT|O_EXCL, so
 * a file or symlink planted under any name is never followed or
 * overwritten), flushed to disk, then renamed over the target. A failed
 * write leaves the target as it was and no temporary. A target that exists
 * and is not a regular file (/dev/stdout, a FIFO) is written in place, as
 * there is nothing to rename over. */
#ifndef PGRACE_OUTFILE_H
#define PGRACE_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

struct outfile {
	FILE *f;          /* write here between open and close */
	const char *path; /* the target */
	char *tmp;        /* the temporary (NULL when written in place) */
};

/* Opens the temporary for path; false with errno set (nothing created). */
bool outfile_open(struct outfile *o, const char *path);
/* Ends the write: when ok, flushes, syncs and closes the temporary and
 * renames it over the target (mode 0666 less the umask); else, or when any
 * of that fails, removes it. True when the target now holds the whole
 * text; false with errno set. */
bool outfile_close(struct outfile *o, bool ok);

#endif
