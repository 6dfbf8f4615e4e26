/* errf — writes a formatted error message into a caller's buffer (err may be NULL). Shared by
 * the native modules that report errors as text (dp_loop, dp_neigh, ipsec). */
#ifndef SRCFIB_ERRF_H
#define SRCFIB_ERRF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void errf(char *err, size_t n, const char *fmt, ...)
{
	if (!err || !n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

#endif
