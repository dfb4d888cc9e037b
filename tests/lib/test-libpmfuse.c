/* test-libpmfuse.c -- the pure functions of libpmfuse: policy strings
 * (parse, format, round trips, errors) and the statistics parser */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "pmfuse.h"

static void accept(const char *s, enum pmfuse_sync_kind kind, uint32_t ms, const char *canon)
{
	struct pmfuse_sync_policy p = {.kind = 99, .period_ms = 77};
	char buf[PMFUSE_SYNC_STRMAX];
	int ret = pmfuse_sync_parse(s, &p);

	if (ret)
		g_error("pmfuse_sync_parse(\"%s\") = %d (%s), expected success", s, ret,
			pmfuse_errmsg());
	g_assert_cmpint(p.kind, ==, kind);
	g_assert_cmpuint(p.period_ms, ==, ms);
	ret = pmfuse_sync_format(&p, buf, sizeof(buf));
	g_assert_cmpint(ret, ==, (int)strlen(canon));
	g_assert_cmpstr(buf, ==, canon);
}

static void reject(const char *s)
{
	struct pmfuse_sync_policy p = {.kind = PMFUSE_SYNC_CLOSE, .period_ms = 12345};
	int ret = pmfuse_sync_parse(s, &p);

	if (ret != -EINVAL)
		g_error("pmfuse_sync_parse(\"%s\") = %d, expected -EINVAL", s, ret);
	g_assert_cmpint(p.kind, ==, PMFUSE_SYNC_CLOSE); /* untouched */
	g_assert_cmpuint(p.period_ms, ==, 12345);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "invalid policy"));
}

static void test_parse_names(void)
{
	accept("fsync", PMFUSE_SYNC_FSYNC, 0, "fsync");
	accept("close", PMFUSE_SYNC_CLOSE, 0, "close");
	accept("immediate", PMFUSE_SYNC_IMMEDIATE, 0, "immediate");
	accept("never", PMFUSE_SYNC_NEVER, 0, "never");
}

static void test_parse_periodic(void)
{
	accept("periodic=500ms", PMFUSE_SYNC_PERIODIC, 500, "periodic=500ms");
	accept("periodic=5s", PMFUSE_SYNC_PERIODIC, 5000, "periodic=5s");
	accept("periodic=1ms", PMFUSE_SYNC_PERIODIC, 1, "periodic=1ms");
	accept("periodic=86400s", PMFUSE_SYNC_PERIODIC, 86400000, "periodic=86400s");
	accept("periodic=86400000ms", PMFUSE_SYNC_PERIODIC, 86400000, "periodic=86400s");
	accept("periodic=2000ms", PMFUSE_SYNC_PERIODIC, 2000, "periodic=2s"); /* canonical */
	accept("periodic=1001ms", PMFUSE_SYNC_PERIODIC, 1001, "periodic=1001ms");
	accept("periodic=86399999ms", PMFUSE_SYNC_PERIODIC, 86399999, "periodic=86399999ms");
	accept("periodic=0100ms", PMFUSE_SYNC_PERIODIC, 100, "periodic=100ms");
}

static void test_parse_rejects(void)
{
	static const char *const bad[] = {
		"", "FSYNC", "Fsync", " fsync", "fsync ", "fsync\n", "fsyncx", "sync", "periodic",
		"periodic=", "periodic=ms", "periodic=s", "periodic=5", "periodic=5m", "periodic=5S",
		"periodic=5 s", "periodic= 5s", "periodic=-5s", "periodic=+5s", "periodic=5.5s",
		"periodic=0ms", "periodic=0s", "periodic=86401s", "periodic=86400001ms",
		"periodic=99999999999999999999999ms", "periodic=4294967297ms", "periodic=5sms",
		"periodic=5mss", "periodic:5s", "close=1s", "never,fsync", "periodic=1h",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		reject(bad[i]);
	g_assert_cmpint(pmfuse_sync_parse(NULL, &(struct pmfuse_sync_policy){0}), ==, -EINVAL);
	g_assert_cmpint(pmfuse_sync_parse("fsync", NULL), ==, -EINVAL);
}

/* every period of a sample, through format and parse and back */
static void test_round_trip(void)
{
	uint32_t samples[] = {1, 2, 9, 10, 999, 1000, 1001, 59999, 60000, 3600000, 86399000,
			      86400000};

	for (uint32_t ms = 1; ms <= 5000; ms++) {
		struct pmfuse_sync_policy p = {PMFUSE_SYNC_PERIODIC, ms}, q;
		char buf[PMFUSE_SYNC_STRMAX];

		g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), >, 0);
		g_assert_cmpint(pmfuse_sync_parse(buf, &q), ==, 0);
		g_assert_cmpint(q.kind, ==, PMFUSE_SYNC_PERIODIC);
		g_assert_cmpuint(q.period_ms, ==, ms);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(samples); i++) {
		struct pmfuse_sync_policy p = {PMFUSE_SYNC_PERIODIC, samples[i]}, q;
		char buf[PMFUSE_SYNC_STRMAX];

		g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), >, 0);
		g_assert_cmpint(pmfuse_sync_parse(buf, &q), ==, 0);
		g_assert_cmpuint(q.period_ms, ==, samples[i]);
	}
	for (int k = 0; k < PMFUSE_SYNC_KINDS; k++) {
		struct pmfuse_sync_policy p = {(enum pmfuse_sync_kind)k, 1500}, q;
		char buf[PMFUSE_SYNC_STRMAX];

		g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), >, 0);
		g_assert_cmpint(pmfuse_sync_parse(buf, &q), ==, 0);
		g_assert_cmpint(q.kind, ==, k);
	}
}

static void test_format_errors(void)
{
	struct pmfuse_sync_policy p = {PMFUSE_SYNC_PERIODIC, 86399999};
	char buf[PMFUSE_SYNC_STRMAX];
	size_t len = strlen("periodic=86399999ms");

	/* the longest string fits PMFUSE_SYNC_STRMAX */
	g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), ==, (int)len);
	/* exactly enough, one byte short, nothing */
	g_assert_cmpint(pmfuse_sync_format(&p, buf, len + 1), ==, (int)len);
	g_assert_cmpint(pmfuse_sync_format(&p, buf, len), ==, -ERANGE);
	g_assert_cmpstr(buf, ==, "");
	g_assert_cmpint(pmfuse_sync_format(&p, NULL, 0), ==, -ERANGE);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "too small"));
	p = (struct pmfuse_sync_policy){PMFUSE_SYNC_NEVER, 0};
	g_assert_cmpint(pmfuse_sync_format(&p, buf, 6), ==, 5);
	g_assert_cmpint(pmfuse_sync_format(&p, buf, 5), ==, -ERANGE);
	/* invalid policies */
	p = (struct pmfuse_sync_policy){PMFUSE_SYNC_PERIODIC, 0};
	g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), ==, -EINVAL);
	p.period_ms = PMFUSE_PERIOD_MAX_MS + 1;
	g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), ==, -EINVAL);
	p = (struct pmfuse_sync_policy){(enum pmfuse_sync_kind)PMFUSE_SYNC_KINDS, 0};
	g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), ==, -EINVAL);
	p = (struct pmfuse_sync_policy){(enum pmfuse_sync_kind)-1, 0};
	g_assert_cmpint(pmfuse_sync_format(&p, buf, sizeof(buf)), ==, -EINVAL);
	g_assert_cmpint(pmfuse_sync_format(NULL, buf, sizeof(buf)), ==, -EINVAL);
}

/* --- statistics --------------------------------------------------------------- */

#define STATS_JSON                                                                           \
	"{\"pool_size\":1073741824,\"free_bytes\":1000000000,\"inodes_total\":131072,"       \
	"\"inodes_free\":131000,\"bytes_written\":12345,\"bytes_persisted\":4096,"           \
	"\"flush_calls\":7,\"drains\":3,\"fsyncs\":2,\"dirty_bytes\":8249,"                   \
	"\"periodic_flushes\":0,\"granularity\":\"PAGE\","                                   \
	"\"policy_inodes\":{\"fsync\":70,\"periodic\":1,\"close\":2,\"immediate\":3,"        \
	"\"never\":18446744073709551615}}"

static void assert_sample(const struct pmfuse_stats *s)
{
	g_assert_cmpuint(s->pool_size, ==, 1073741824);
	g_assert_cmpuint(s->free_bytes, ==, 1000000000);
	g_assert_cmpuint(s->inodes_total, ==, 131072);
	g_assert_cmpuint(s->inodes_free, ==, 131000);
	g_assert_cmpuint(s->bytes_written, ==, 12345);
	g_assert_cmpuint(s->bytes_persisted, ==, 4096);
	g_assert_cmpuint(s->flush_calls, ==, 7);
	g_assert_cmpuint(s->drains, ==, 3);
	g_assert_cmpuint(s->fsyncs, ==, 2);
	g_assert_cmpuint(s->dirty_bytes, ==, 8249);
	g_assert_cmpuint(s->periodic_flushes, ==, 0);
	g_assert_cmpstr(s->granularity, ==, "PAGE");
	g_assert_cmpuint(s->policy_inodes[PMFUSE_SYNC_FSYNC], ==, 70);
	g_assert_cmpuint(s->policy_inodes[PMFUSE_SYNC_PERIODIC], ==, 1);
	g_assert_cmpuint(s->policy_inodes[PMFUSE_SYNC_CLOSE], ==, 2);
	g_assert_cmpuint(s->policy_inodes[PMFUSE_SYNC_IMMEDIATE], ==, 3);
	g_assert_cmpuint(s->policy_inodes[PMFUSE_SYNC_NEVER], ==, UINT64_MAX);
}

static void test_stats_parse(void)
{
	struct pmfuse_stats s = {.size = sizeof(s)};

	g_assert_cmpint(pmfuse_stats_parse(STATS_JSON, &s), ==, 0);
	assert_sample(&s);
	g_assert_cmpuint(s.size, ==, sizeof(s));
}

/* fields in another order, whitespace, escapes, unknown fields of every kind */
static void test_stats_tolerant(void)
{
	static const char json[] =
		" {\n \"future\": {\"a\": [1, -2.5e3, true, false, null, \"x\\\"}\"], \"b\": {}},"
		"\"policy_inodes\" : { \"never\":18446744073709551615, \"zzz\": 9, \"immediate\":3,"
		"\"close\":2,\"periodic\":1,\"fsync\":70},"
		"\"granularity\":\"P\\u0041GE\", \"periodic_flushes\":0,\"dirty_bytes\":8249,"
		"\"fsyncs\":2,\"drains\":3,\"flush_calls\":7,\"bytes_persisted\":4096,"
		"\"bytes_written\":12345,\"inodes_free\":131000,\"inodes_total\":131072,"
		"\"free_bytes\":1000000000,\"pool_size\":1073741824, \"neg\": -1, \"s\": \"\","
		"\"arr\": [] }\n";
	struct pmfuse_stats s = {.size = sizeof(s)};

	g_assert_cmpint(pmfuse_stats_parse(json, &s), ==, 0);
	assert_sample(&s);
}

static void stats_reject(const char *json, const char *why)
{
	struct pmfuse_stats s = {.size = sizeof(s), .pool_size = 42};
	int ret = pmfuse_stats_parse(json, &s);

	if (ret != -EINVAL)
		g_error("pmfuse_stats_parse(%s) = %d, expected -EINVAL", json, ret);
	g_assert_cmpuint(s.pool_size, ==, 42); /* untouched */
	if (!strstr(pmfuse_errmsg(), why))
		g_error("pmfuse_stats_parse(%s): message \"%s\" lacks \"%s\"", json, pmfuse_errmsg(),
			why);
}

/* STATS_JSON with the first occurrence of from replaced by to */
static char *edit(const char *from, const char *to)
{
	const char *at = strstr(STATS_JSON, from);

	g_assert_nonnull(at);
	return g_strdup_printf("%.*s%s%s", (int)(at - STATS_JSON), STATS_JSON, to,
			       at + strlen(from));
}

static void test_stats_rejects(void)
{
	static const struct {
		const char *from, *to, *why;
	} edits[] = {
		{"\"drains\":3,", "", "lack the field \"drains\""},
		{"\"granularity\":\"PAGE\",", "", "lack the field \"granularity\""},
		{",\"policy_inodes\":{\"fsync\":70,\"periodic\":1,\"close\":2,\"immediate\":3,"
		 "\"never\":18446744073709551615}",
		 "", "lack the field \"policy_inodes\""},
		{"\"close\":2,", "", "policy_inodes lacks"},
		{"\"drains\":3", "\"drains\":-3", "non-negative integer"},
		{"\"drains\":3", "\"drains\":3.0", "non-negative integer"},
		{"\"drains\":3", "\"drains\":3e2", "non-negative integer"},
		{"\"drains\":3", "\"drains\":03", "leading zero"},
		{"\"drains\":3", "\"drains\":\"3\"", "non-negative integer"},
		{"\"drains\":3", "\"drains\":18446744073709551616", "out of range"},
		{"\"drains\":3", "\"drains\":3,\"drains\":4", "duplicate"},
		{"\"close\":2", "\"close\":2,\"close\":2", "duplicate"},
		{"\"granularity\":\"PAGE\"", "\"granularity\":\"PAGEPAGEPAGEPAGEPAGE\"", "too long"},
		{"\"granularity\":\"PAGE\"", "\"granularity\":7", "expected a string"},
		{"\"granularity\":\"PAGE\"", "\"granularity\":\"PA\\qGE\"", "bad escape"},
		{"\"drains\":3,", "\"drains\" 3,", "expected ':'"},
		{"\"drains\":3,", "\"drains\":3,,", "expected a string"},
		{"\"drains\":3,", "\"drains\":3 ", "unexpected character"},
		{"\"drains\":3,", "\"x\":[1,,2],\"drains\":3,", "expected a value"},
		{"\"drains\":3,", "\"x\":nul,\"drains\":3,", "expected a value"},
		{"{\"pool_size\"", "{{\"pool_size\"", "expected a string"},
		{"{\"pool_size\"", "[\"pool_size\"", "expected '{'"},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(edits); i++) {
		g_autofree char *json = edit(edits[i].from, edits[i].to);

		stats_reject(json, edits[i].why);
	}
	stats_reject(STATS_JSON "x", "text after the object");
	stats_reject(STATS_JSON "{}", "text after the object");
	stats_reject("", "expected '{'");
	stats_reject("{}", "lack the field \"pool_size\"");
	stats_reject("{\"pool_size\":1", "unexpected character");
	stats_reject("{\"pool_size\":1,\"granularity\":\"PAGE", "unterminated");
	stats_reject("{\"a\":\"x\ny\"}", "unterminated");
	/* deep nesting in an unknown field is refused, not recursed into forever */
	{
		GString *deep = g_string_new("{\"x\":");

		for (int i = 0; i < 1000; i++)
			g_string_append_c(deep, '[');
		stats_reject(deep->str, "nested too deeply");
		g_string_free(deep, TRUE);
	}
}

/* size: a caller built against a future, larger struct, and a short one */
static void test_stats_size(void)
{
	struct {
		struct pmfuse_stats s;
		uint64_t future[4];
	} big;
	struct pmfuse_stats s;

	memset(&big, 0xaa, sizeof(big));
	big.s.size = sizeof(big);
	g_assert_cmpint(pmfuse_stats_parse(STATS_JSON, &big.s), ==, 0);
	assert_sample(&big.s);
	g_assert_cmpuint(big.s.size, ==, sizeof(big));
	g_assert_cmpuint(big.future[0], ==, 0xaaaaaaaaaaaaaaaaull); /* not written */

	memset(&s, 0, sizeof(s));
	s.size = PMFUSE_STATS_SIZE_V1;
	g_assert_cmpint(pmfuse_stats_parse(STATS_JSON, &s), ==, 0);
	assert_sample(&s);
	s.size = PMFUSE_STATS_SIZE_V1 - 1;
	g_assert_cmpint(pmfuse_stats_parse(STATS_JSON, &s), ==, -EINVAL);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "sizeof(struct pmfuse_stats)"));
	s.size = 0;
	g_assert_cmpint(pmfuse_stats_get("/", &s), ==, -EINVAL);
}

/* --- off a pmfuse mount --------------------------------------------------------- */

static void test_not_pmfuse(void)
{
	g_autofree char *dir = g_dir_make_tmp("libpmfuse-XXXXXX", NULL);
	g_autofree char *file = g_build_filename(dir, "f", NULL);
	g_autofree char *want = g_strdup_printf("%s is not on a pmfuse mount", file);
	struct pmfuse_sync_policy p = {PMFUSE_SYNC_NEVER, 0};
	struct pmfuse_stats st = {.size = sizeof(st)};
	char buf[PMFUSE_SYNC_STRMAX];
	int fd;

	g_assert_nonnull(dir);
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));
	g_assert_cmpint(pmfuse_sync_get(file, &p), ==, -ENOTSUP);
	g_assert_cmpstr(pmfuse_errmsg(), ==, want);
	g_assert_cmpint(pmfuse_sync_get_str(file, buf, sizeof(buf)), ==, -ENOTSUP);
	/* set must not create a real user.pmfuse.sync attribute */
	g_assert_cmpint(pmfuse_sync_set(file, &p), ==, -ENOTSUP);
	g_assert_cmpint(pmfuse_sync_set_str(file, "immediate"), ==, -ENOTSUP);
	g_assert_cmpint(getxattr(file, PMFUSE_XATTR_SYNC, buf, sizeof(buf)), <, 0);
	g_assert_cmpint(pmfuse_sync_set_str(file, "bogus"), ==, -EINVAL);
	g_assert_cmpint(pmfuse_stats_get(dir, &st), ==, -ENOTSUP);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "is not on a pmfuse mount"));
	g_assert_cmpint(pmfuse_sync_get(g_get_tmp_dir() /* any */, NULL), ==, -EINVAL);
	g_assert_cmpint(pmfuse_sync_get(dir, &p) == -ENOTSUP, ==, TRUE);

	fd = open(file, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pmfuse_sync_fget(fd, &p), ==, -ENOTSUP);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "file descriptor"));
	g_assert_cmpint(pmfuse_sync_fset(fd, &p), ==, -ENOTSUP);
	g_assert_cmpint(pmfuse_persist_fd(fd), ==, 0);
	close(fd);
	g_assert_cmpint(pmfuse_persist_fd(fd), ==, -EBADF);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "fsync"));

	g_assert_cmpint(pmfuse_sync_get("/nonexistent/pmfuse", &p), ==, -ENOENT);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "/nonexistent/pmfuse"));
	g_unlink(file);
	g_rmdir(dir);
}

/* the message is per thread */
static gpointer other_thread(gpointer arg)
{
	struct pmfuse_sync_policy p;

	g_assert_cmpstr(pmfuse_errmsg(), ==, "");
	g_assert_cmpint(pmfuse_sync_parse("other", &p), ==, -EINVAL);
	g_assert_nonnull(strstr(pmfuse_errmsg(), "\"other\""));
	return NULL;
}

static void test_errmsg_thread(void)
{
	struct pmfuse_sync_policy p;

	g_assert_cmpint(pmfuse_sync_parse("mine", &p), ==, -EINVAL);
	g_thread_join(g_thread_new("other", other_thread, NULL));
	g_assert_nonnull(strstr(pmfuse_errmsg(), "\"mine\""));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/policy/parse-names", test_parse_names);
	g_test_add_func("/policy/parse-periodic", test_parse_periodic);
	g_test_add_func("/policy/parse-rejects", test_parse_rejects);
	g_test_add_func("/policy/round-trip", test_round_trip);
	g_test_add_func("/policy/format-errors", test_format_errors);
	g_test_add_func("/stats/parse", test_stats_parse);
	g_test_add_func("/stats/tolerant", test_stats_tolerant);
	g_test_add_func("/stats/rejects", test_stats_rejects);
	g_test_add_func("/stats/size", test_stats_size);
	g_test_add_func("/errors/not-pmfuse", test_not_pmfuse);
	g_test_add_func("/errors/thread", test_errmsg_thread);
	return g_test_run();
}
