/* pmfuse.c -- libpmfuse: policy strings, the sync and stats attributes */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "pmfuse.h"

#define FUSE_SUPER_MAGIC 0x65735546

/* --- errors -------------------------------------------------------------- */

static __thread char errbuf[512];

/* err -- record the message of a failure; returns -abs(code) */
__attribute__((format(printf, 2, 3))) static int err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return -abs(code);
}

const char *pmfuse_errmsg(void)
{
	return errbuf;
}

/* --- policy strings ------------------------------------------------------ */

static const char *const kind_names[PMFUSE_SYNC_KINDS] = {
	[PMFUSE_SYNC_FSYNC] = "fsync",         [PMFUSE_SYNC_PERIODIC] = "periodic",
	[PMFUSE_SYNC_CLOSE] = "close",         [PMFUSE_SYNC_IMMEDIATE] = "immediate",
	[PMFUSE_SYNC_NEVER] = "never",
};

/* parse_period -- "<digits>ms" or "<digits>s" in range into *ms */
static bool parse_period(const char *s, uint32_t *ms)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > PMFUSE_PERIOD_MAX_MS)
			return false;
	}
	if (p == s)
		return false;
	if (strcmp(p, "s") == 0)
		v *= 1000;
	else if (strcmp(p, "ms") != 0)
		return false;
	if (v < PMFUSE_PERIOD_MIN_MS || v > PMFUSE_PERIOD_MAX_MS)
		return false;
	*ms = (uint32_t)v;
	return true;
}

int pmfuse_sync_parse(const char *str, struct pmfuse_sync_policy *out)
{
	static const char periodic[] = "periodic=";
	uint32_t ms;

	if (!str || !out)
		return err(EINVAL, "pmfuse_sync_parse: NULL argument");
	for (int k = 0; k < PMFUSE_SYNC_KINDS; k++) {
		if (k != PMFUSE_SYNC_PERIODIC && strcmp(str, kind_names[k]) == 0) {
			out->kind = (enum pmfuse_sync_kind)k;
			out->period_ms = 0;
			return 0;
		}
	}
	if (strncmp(str, periodic, sizeof(periodic) - 1) == 0) {
		if (!parse_period(str + sizeof(periodic) - 1, &ms))
			return err(EINVAL,
				   "invalid policy \"%.64s\": the period is a whole number followed "
				   "by ms or s, from 1ms to 86400s",
				   str);
		out->kind = PMFUSE_SYNC_PERIODIC;
		out->period_ms = ms;
		return 0;
	}
	return err(EINVAL,
		   "invalid policy \"%.64s\": expected fsync, periodic=<N>ms, periodic=<N>s, "
		   "close, immediate or never",
		   str);
}

int pmfuse_sync_format(const struct pmfuse_sync_policy *p, char *buf, size_t size)
{
	int n;

	if (!p || (!buf && size))
		return err(EINVAL, "pmfuse_sync_format: NULL argument");
	if ((unsigned)p->kind >= PMFUSE_SYNC_KINDS)
		return err(EINVAL, "invalid policy kind %d", (int)p->kind);
	if (p->kind != PMFUSE_SYNC_PERIODIC)
		n = snprintf(buf, size, "%s", kind_names[p->kind]);
	else if (p->period_ms < PMFUSE_PERIOD_MIN_MS || p->period_ms > PMFUSE_PERIOD_MAX_MS)
		return err(EINVAL, "invalid period %" PRIu32 " ms: the range is 1ms to 86400s",
			   p->period_ms);
	else if (p->period_ms % 1000 == 0)
		n = snprintf(buf, size, "periodic=%" PRIu32 "s", p->period_ms / 1000);
	else
		n = snprintf(buf, size, "periodic=%" PRIu32 "ms", p->period_ms);
	if ((size_t)n >= size) {
		if (size)
			buf[0] = '\0';
		return err(ERANGE, "a buffer of %zu bytes is too small for a policy of %d", size,
			   n);
	}
	return n;
}

/* --- the attributes ------------------------------------------------------ */

/* a path or a descriptor, and how messages name it */
struct target {
	const char *path; /* NULL: fd */
	int fd;
	char name[PATH_MAX < 256 ? PATH_MAX : 256];
};

static void target_path(struct target *t, const char *path)
{
	t->path = path;
	t->fd = -1;
	snprintf(t->name, sizeof(t->name), "%s", path);
}

static void target_fd(struct target *t, int fd)
{
	t->path = NULL;
	t->fd = fd;
	snprintf(t->name, sizeof(t->name), "file descriptor %d", fd);
}

static ssize_t t_getxattr(const struct target *t, const char *name, void *buf, size_t size)
{
	return t->path ? getxattr(t->path, name, buf, size) : fgetxattr(t->fd, name, buf, size);
}

static int t_setxattr(const struct target *t, const char *name, const void *buf, size_t size)
{
	return t->path ? setxattr(t->path, name, buf, size, 0)
		       : fsetxattr(t->fd, name, buf, size, 0);
}

static int t_statfs(const struct target *t, struct statfs *st)
{
	return t->path ? statfs(t->path, st) : fstatfs(t->fd, st);
}

static int t_stat(const struct target *t, struct stat *st)
{
	return t->path ? stat(t->path, st) : fstat(t->fd, st);
}

/* not_pmfuse -- the error of a target that has no such attribute: not on
 * pmfuse, or (on FUSE) not a regular file or directory */
static int not_pmfuse(const struct target *t)
{
	struct statfs sfs;
	struct stat st;

	if (t_statfs(t, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC && t_stat(t, &st) == 0 &&
	    !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return err(ENOTSUP, "%s: only regular files and directories have a sync policy",
			   t->name);
	return err(ENOTSUP, "%s is not on a pmfuse mount", t->name);
}

/* sys_err -- the message of a failed system call on t (errno e) */
static int sys_err(const struct target *t, int e, const char *what)
{
	if (e == ENODATA || e == ENOTSUP || e == EOPNOTSUPP)
		return not_pmfuse(t);
	return err(e, "%s: %s: %s", t->name, what, strerror(e));
}

/* check_fuse -- fail with -ENOTSUP unless t is on a FUSE file system: a
 * real user.pmfuse.sync attribute elsewhere must not pass for a policy */
static int check_fuse(const struct target *t)
{
	struct statfs sfs;

	if (t_statfs(t, &sfs) < 0)
		return err(errno, "%s: %s", t->name, strerror(errno));
	if (sfs.f_type != FUSE_SUPER_MAGIC)
		return err(ENOTSUP, "%s is not on a pmfuse mount", t->name);
	return 0;
}

static int get_policy(const struct target *t, struct pmfuse_sync_policy *out)
{
	char buf[PMFUSE_SYNC_STRMAX + 1];
	ssize_t n;
	int ret;

	if (!out)
		return err(EINVAL, "%s: NULL argument", t->name);
	ret = check_fuse(t);
	if (ret)
		return ret;
	n = t_getxattr(t, PMFUSE_XATTR_SYNC, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (errno == ERANGE)
			return err(EPROTO, "%s: the policy read from the daemon is too long",
				   t->name);
		return sys_err(t, errno, "getxattr " PMFUSE_XATTR_SYNC);
	}
	if (n > 0 && buf[n - 1] == '\0') /* a NUL-terminated value is fine too */
		n--;
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n || pmfuse_sync_parse(buf, out))
		return err(EPROTO, "%s: the daemon returned an invalid policy \"%s\"", t->name,
			   buf);
	return 0;
}

static int set_policy(const struct target *t, const struct pmfuse_sync_policy *p)
{
	struct pmfuse_sync_policy old;
	char buf[PMFUSE_SYNC_STRMAX];
	int n, ret;

	n = pmfuse_sync_format(p, buf, sizeof(buf));
	if (n < 0)
		return n;
	/* a pmfuse mount always has the attribute: probe before creating one */
	ret = get_policy(t, &old);
	if (ret)
		return ret;
	if (t_setxattr(t, PMFUSE_XATTR_SYNC, buf, (size_t)n) < 0) {
		if (errno == EINVAL)
			return err(EINVAL, "%s: the daemon rejected the policy \"%s\"", t->name,
				   buf);
		return sys_err(t, errno, "setxattr " PMFUSE_XATTR_SYNC);
	}
	return 0;
}

int pmfuse_sync_get(const char *path, struct pmfuse_sync_policy *out)
{
	struct target t;

	if (!path)
		return err(EINVAL, "pmfuse_sync_get: NULL path");
	target_path(&t, path);
	return get_policy(&t, out);
}

int pmfuse_sync_set(const char *path, const struct pmfuse_sync_policy *p)
{
	struct target t;

	if (!path)
		return err(EINVAL, "pmfuse_sync_set: NULL path");
	target_path(&t, path);
	return set_policy(&t, p);
}

int pmfuse_sync_fget(int fd, struct pmfuse_sync_policy *out)
{
	struct target t;

	target_fd(&t, fd);
	return get_policy(&t, out);
}

int pmfuse_sync_fset(int fd, const struct pmfuse_sync_policy *p)
{
	struct target t;

	target_fd(&t, fd);
	return set_policy(&t, p);
}

int pmfuse_sync_get_str(const char *path, char *buf, size_t size)
{
	struct pmfuse_sync_policy p;
	int ret = pmfuse_sync_get(path, &p);

	return ret ? ret : pmfuse_sync_format(&p, buf, size);
}

int pmfuse_sync_set_str(const char *path, const char *policy)
{
	struct pmfuse_sync_policy p;
	int ret = pmfuse_sync_parse(policy, &p);

	return ret ? ret : pmfuse_sync_set(path, &p);
}

int pmfuse_persist_fd(int fd)
{
	if (fsync(fd) < 0)
		return err(errno, "fsync of file descriptor %d: %s", fd, strerror(errno));
	return 0;
}

/* --- statistics: a strict parser of one flat JSON object ---------------- */

struct json {
	const char *p;
	const char *why; /* what is wrong, on failure */
};

static void ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool expect(struct json *j, char c)
{
	ws(j);
	if (*j->p != c) {
		j->why = c == ':' ? "expected ':'" : c == '{' ? "expected '{'" : "unexpected character";
		return false;
	}
	j->p++;
	return true;
}

/* json_string -- a string into buf (escapes decoded; \u only below 0x80) */
static bool json_string(struct json *j, char *buf, size_t size)
{
	size_t n = 0;

	ws(j);
	if (*j->p != '"')
		return j->why = "expected a string", false;
	for (j->p++; *j->p != '"'; j->p++) {
		char c = *j->p;

		if (c == '\0' || (unsigned char)c < 0x20)
			return j->why = "unterminated string", false;
		if (c == '\\') {
			static const char esc[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
			const char *e;

			c = *++j->p;
			if (c == 'u') {
				unsigned v = 0;

				for (int i = 0; i < 4; i++) {
					char h = *++j->p;

					if (h >= '0' && h <= '9')
						v = v * 16 + (unsigned)(h - '0');
					else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
						v = v * 16 + (unsigned)((h | 0x20) - 'a' + 10);
					else
						return j->why = "bad \\u escape", false;
				}
				c = v < 0x80 ? (char)v : '?';
			} else {
				for (e = esc; *e && *e != c; e += 2)
					;
				if (!*e || c == '\0')
					return j->why = "bad escape", false;
				c = e[1];
			}
		}
		if (n + 1 < size)
			buf[n++] = c;
		else if (size)
			return j->why = "string too long", false;
	}
	j->p++;
	if (size)
		buf[n] = '\0';
	return true;
}

/* json_u64 -- a non-negative integer without sign, fraction or exponent */
static bool json_u64(struct json *j, uint64_t *v)
{
	uint64_t x = 0;
	const char *s;

	ws(j);
	s = j->p;
	if (*s == '0' && s[1] >= '0' && s[1] <= '9')
		return j->why = "leading zero", false;
	for (; *j->p >= '0' && *j->p <= '9'; j->p++) {
		unsigned d = (unsigned)(*j->p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return j->why = "integer out of range", false;
		x = x * 10 + d;
	}
	if (j->p == s || *j->p == '.' || *j->p == 'e' || *j->p == 'E')
		return j->why = "expected a non-negative integer", false;
	*v = x;
	return true;
}

/* json_skip -- any JSON value (an unknown field) */
static bool json_skip(struct json *j, int depth)
{
	ws(j);
	if (depth > 16)
		return j->why = "nested too deeply", false;
	switch (*j->p) {
	case '"':
		return json_string(j, NULL, 0);
	case '{':
	case '[': {
		char close = *j->p == '{' ? '}' : ']';

		j->p++;
		ws(j);
		if (*j->p == close)
			return j->p++, true;
		for (;;) {
			if (close == '}' && (!json_string(j, NULL, 0) || !expect(j, ':')))
				return false;
			if (!json_skip(j, depth + 1))
				return false;
			ws(j);
			if (*j->p == close)
				return j->p++, true;
			if (!expect(j, ','))
				return false;
		}
	}
	default:
		break;
	}
	for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
		if (strncmp(j->p, w, strlen(w)) == 0)
			return j->p += strlen(w), true;
	if (*j->p == '-')
		j->p++;
	if (!(*j->p >= '0' && *j->p <= '9'))
		return j->why = "expected a value", false;
	while ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' || *j->p == 'e' || *j->p == 'E' ||
	       *j->p == '+' || *j->p == '-')
		j->p++;
	return true;
}

/* json_object -- "{" then, per member, field(key) until "}"; field
 * returns 1 for a known key (value parsed), 0 for an unknown one, -1 on
 * failure */
static bool json_object(struct json *j, int (*field)(struct json *, const char *, void *),
			void *arg)
{
	char key[64];

	if (!expect(j, '{'))
		return false;
	ws(j);
	if (*j->p == '}')
		return j->p++, true;
	for (;;) {
		int r;

		if (!json_string(j, key, sizeof(key)) || !expect(j, ':'))
			return false;
		r = field(j, key, arg);
		if (r < 0 || (r == 0 && !json_skip(j, 1)))
			return false;
		ws(j);
		if (*j->p == '}')
			return j->p++, true;
		if (!expect(j, ','))
			return false;
	}
}

#define STAT_U64(f) {#f, offsetof(struct pmfuse_stats, f)}
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
	STAT_U64(pool_size),     STAT_U64(free_bytes),      STAT_U64(inodes_total),
	STAT_U64(inodes_free),   STAT_U64(bytes_written),   STAT_U64(bytes_persisted),
	STAT_U64(flush_calls),   STAT_U64(drains),          STAT_U64(fsyncs),
	STAT_U64(dirty_bytes),   STAT_U64(periodic_flushes),
};
#define N_U64 (sizeof(stat_fields) / sizeof(stat_fields[0]))
/* bits of the "seen" mask: the integers, then these */
#define SEEN_GRAN (1u << N_U64)
#define SEEN_POLICY (1u << (N_U64 + 1))
#define SEEN_ALL ((1u << (N_U64 + 2)) - 1)

struct stats_parse {
	struct pmfuse_stats *st;
	unsigned seen;     /* top-level fields */
	unsigned seen_pol; /* policy_inodes members */
	const char *dup;   /* a duplicated field */
};

static int policy_field(struct json *j, const char *key, void *arg)
{
	struct stats_parse *sp = arg;

	for (unsigned k = 0; k < PMFUSE_SYNC_KINDS; k++) {
		if (strcmp(key, kind_names[k]) != 0)
			continue;
		if (sp->seen_pol & (1u << k))
			return j->why = "duplicate field in policy_inodes", -1;
		sp->seen_pol |= 1u << k;
		return json_u64(j, &sp->st->policy_inodes[k]) ? 1 : -1;
	}
	return 0;
}

static int stats_field(struct json *j, const char *key, void *arg)
{
	struct stats_parse *sp = arg;
	unsigned bit;

	for (unsigned i = 0; i < N_U64; i++) {
		if (strcmp(key, stat_fields[i].name) != 0)
			continue;
		if (sp->seen & (1u << i))
			return j->why = "duplicate field", -1;
		sp->seen |= 1u << i;
		return json_u64(j, (uint64_t *)((char *)sp->st + stat_fields[i].off)) ? 1 : -1;
	}
	if (strcmp(key, "granularity") == 0)
		bit = SEEN_GRAN;
	else if (strcmp(key, "policy_inodes") == 0)
		bit = SEEN_POLICY;
	else
		return 0;
	if (sp->seen & bit)
		return j->why = "duplicate field", -1;
	sp->seen |= bit;
	if (bit == SEEN_GRAN)
		return json_string(j, sp->st->granularity, sizeof(sp->st->granularity)) ? 1 : -1;
	if (!json_object(j, policy_field, sp))
		return -1;
	if (sp->seen_pol != (1u << PMFUSE_SYNC_KINDS) - 1)
		return j->why = "policy_inodes lacks a policy", -1;
	return 1;
}

/* missing_field -- the name of the first field not in seen */
static const char *missing_field(unsigned seen)
{
	for (unsigned i = 0; i < N_U64; i++)
		if (!(seen & (1u << i)))
			return stat_fields[i].name;
	return !(seen & SEEN_GRAN) ? "granularity" : "policy_inodes";
}

int pmfuse_stats_parse(const char *json, struct pmfuse_stats *out)
{
	struct pmfuse_stats st;
	struct stats_parse sp = {.st = &st};
	struct json j = {.p = json};
	size_t size;

	if (!json || !out)
		return err(EINVAL, "pmfuse_stats_parse: NULL argument");
	size = out->size;
	if (size < PMFUSE_STATS_SIZE_V1)
		return err(EINVAL, "struct pmfuse_stats: size is %zu, at least %zu expected "
				   "(set it to sizeof(struct pmfuse_stats))",
			   size, (size_t)PMFUSE_STATS_SIZE_V1);
	memset(&st, 0, sizeof(st));
	if (!json_object(&j, stats_field, &sp))
		return err(EINVAL, "malformed statistics at offset %td: %s", j.p - json, j.why);
	ws(&j);
	if (*j.p != '\0')
		return err(EINVAL, "malformed statistics at offset %td: text after the object",
			   j.p - json);
	if (sp.seen != SEEN_ALL)
		return err(EINVAL, "statistics lack the field \"%s\"", missing_field(sp.seen));
	if (size > sizeof(st))
		size = sizeof(st);
	st.size = out->size;
	memcpy(out, &st, size);
	return 0;
}

/* stats_err -- a failed getxattr of the statistics (errno e) */
static int stats_err(const struct target *t, int e)
{
	struct pmfuse_sync_policy p;

	if ((e == ENODATA || e == ENOTSUP || e == EOPNOTSUPP) && get_policy(t, &p) == 0)
		return err(EINVAL, "%s is on a pmfuse mount but is not its root", t->name);
	return sys_err(t, e, "getxattr " PMFUSE_XATTR_STATS);
}

int pmfuse_stats_get(const char *mountpoint, struct pmfuse_stats *out)
{
	struct target t;
	char *buf = NULL;
	ssize_t n;
	int ret;

	if (!mountpoint || !out)
		return err(EINVAL, "pmfuse_stats_get: NULL argument");
	if (out->size < PMFUSE_STATS_SIZE_V1)
		return err(EINVAL, "struct pmfuse_stats: size is %zu, at least %zu expected "
				   "(set it to sizeof(struct pmfuse_stats))",
			   out->size, (size_t)PMFUSE_STATS_SIZE_V1);
	target_path(&t, mountpoint);
	ret = check_fuse(&t);
	if (ret)
		return ret;
	/* the size may grow between the two calls: retry on ERANGE */
	for (int tries = 0; tries < 8; tries++) {
		n = getxattr(mountpoint, PMFUSE_XATTR_STATS, NULL, 0);
		if (n < 0)
			return stats_err(&t, errno);
		free(buf);
		buf = malloc((size_t)n + 1);
		if (!buf)
			return err(ENOMEM, "%s: out of memory", mountpoint);
		n = getxattr(mountpoint, PMFUSE_XATTR_STATS, buf, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			break;
	}
	if (n < 0) {
		ret = stats_err(&t, errno);
		goto out_free;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\0')
		n--;
	if (strlen(buf) != (size_t)n) {
		ret = err(EPROTO, "%s: statistics hold a NUL byte", mountpoint);
		goto out_free;
	}
	ret = pmfuse_stats_parse(buf, out);
	if (ret) {
		char msg[sizeof(errbuf)];

		snprintf(msg, sizeof(msg), "%s", errbuf);
		ret = err(EPROTO, "%s: %s", mountpoint, msg);
	}
out_free:
	free(buf);
	return ret;
}
