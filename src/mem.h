/* mem.h: allocation that cannot fail quietly: out of memory aborts (a
 * failure that can never be handled, as libuv treats it), so callers need no
 * NULL checks. */
#ifndef PGRACE_MEM_H
#define PGRACE_MEM_H

#include <stddef.h>

/* malloc(n), never NULL (n = 0 allocates one byte). */
void *mem_malloc(size_t n);
/* calloc(n, size), never NULL. */
void *mem_calloc(size_t n, size_t size);
/* realloc(p, n), never NULL (n = 0 keeps one byte). */
void *mem_realloc(void *p, size_t n);
/* strdup(s), never NULL; NULL s gives "". */
char *mem_strdup(const char *s);

#endif
