/* fuzz-options.c -- libFuzzer harness: the daemon's command line
 * (daemon/options.c, through libfuse's option parser) and the value
 * parsers behind it: sync policies and sizes. Input: NUL-separated
 * arguments after "pmfuse"; the whole input is also given to the value
 * parsers as it is. Bad input must be refused, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "parse.h"
#include "policy.h"

#define MAX_ARGS 32

static void quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[MAX_ARGS + 2], err[512], buf[64];
	struct pm_options o;
	struct pm_sync p;
	uint64_t bytes;
	int argc = 1;

	if (!copy)
		return 0;
	fuse_set_log_func(quiet);
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* the value parsers: length-bounded (sync) and NUL-terminated (size) */
	if (pm_sync_parse((const char *)data, size, &p) == 0) {
		int n = pm_sync_format(&p, buf, sizeof(buf));
		struct pm_sync q;
		/* what is printed parses back to the same policy */
		if (n < 0 || pm_sync_parse(buf, (size_t)n, &q) != 0 || q.kind != p.kind ||
		    q.period_ms != p.period_ms)
			abort();
	}
	if (pm_parse_size(copy, &bytes) == 0)
		pm_format_size(bytes, buf, sizeof(buf));

	argv[0] = "pmfuse";
	for (size_t at = 0; at <= size && argc < MAX_ARGS; argc++) {
		argv[argc] = copy + at;
		at += strlen(copy + at) + 1;
	}
	argv[argc] = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	int ret = pm_options_parse(&args, &o, err, sizeof(err));
	if (ret < 0 && strlen(err) >= sizeof(err))
		abort();
	if (ret == 0 && (!o.pool || !o.mountpoint || o.spin_us > 1000000 || !(o.timeout >= 0)))
		abort(); /* accepted what it should have refused */
	pm_options_free(&o);
	fuse_opt_free_args(&args);
	free(copy);
	return 0;
}
