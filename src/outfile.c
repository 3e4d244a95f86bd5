/* outfile.c: output files written whole through a temporary (see outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"

bool outfile_open(struct outfile *o, const char *path)
{
	struct stat st;
	memset(o, 0, sizeof *o);
	o->path = path;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		/* A device or a FIFO: written in place, never created. */
		int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return false;
		o->f = fdopen(fd, "w");
		if (!o->f) {
			int e = errno;
			close(fd);
			errno = e;
			return false;
		}
		return true;
	}
	char *copy = mem_strdup(path);
	size_t len = strlen(path) + 32;
	o->tmp = mem_calloc(len, 1);
	snprintf(o->tmp, len, "%s/.pgrace-out.XXXXXX", dirname(copy));
	free(copy);
	int fd = mkstemp(o->tmp); /* O_EXCL: a planted file or symlink is never followed */
	if (fd < 0)
		goto failed;
	o->f = fdopen(fd, "w");
	if (!o->f) {
		int e = errno;
		close(fd);
		unlink(o->tmp);
		errno = e;
		goto failed;
	}
	return true;
failed:
	free(o->tmp);
	o->tmp = NULL;
	return false;
}

bool outfile_close(struct outfile *o, bool ok)
{
	int e = 0;
	if (!o->f)
		return false;
	if (fflush(o->f) != 0 || (o->tmp && fsync(fileno(o->f)) != 0))
		e = errno;
	if (fclose(o->f) != 0 && !e)
		e = errno;
	o->f = NULL;
	if (o->tmp) {
		mode_t mask = umask(0);
		umask(mask);
		if (ok && !e && (chmod(o->tmp, 0666 & ~mask) != 0 || rename(o->tmp, o->path) != 0))
			e = errno;
		if (!ok || e)
			unlink(o->tmp); /* no partial file where the whole one was asked for */
		free(o->tmp);
		o->tmp = NULL;
	}
	errno = e;
	return ok && !e;
}
