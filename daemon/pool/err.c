/* err.c -- thread-local error messages of the engine */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"

static __thread char msg[512];

int pm_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return -abs(err);
}

const char *pm_errmsg(void)
{
	return msg;
}
