/* test-parse.c -- sizes given on command lines (pm_parse_size) */
#include <errno.h>

#include "parse.h"
#include "unit.h"

static void accept(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int ret = pm_parse_size(s, &v);

	if (ret)
		g_error("pm_parse_size(\"%s\") = %d, expected success", s, ret);
	if (v != want)
		g_error("pm_parse_size(\"%s\") = %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT, s, v,
			want);
}

static void reject(const char *s)
{
	uint64_t v = 12345;
	int ret = pm_parse_size(s, &v);

	if (ret != -EINVAL)
		g_error("pm_parse_size(\"%s\") = %d (value %" G_GUINT64_FORMAT "), expected -EINVAL", s, ret,
			v);
	g_assert_cmpuint(v, ==, 12345); /* untouched on failure */
}

static void test_plain(void)
{
	accept("0", 0);
	accept("1", 1);
	accept("4096", 4096);
	accept("18446744073709551615", UINT64_MAX);
}

static void test_units(void)
{
	accept("64K", 64 * UNIT_KiB);
	accept("512M", 512 * UNIT_MiB);
	accept("1G", UNIT_GiB);
	accept("1GiB", UNIT_GiB);
	accept("8MiB", 8 * UNIT_MiB);
	accept("2T", 2 * 1024 * UNIT_GiB);
	accept("3TiB", 3 * 1024 * UNIT_GiB);
	accept("16777215T", 16777215ull << 40); /* the largest whole TiB count */
}

static void test_rejects(void)
{
	reject("");
	reject("abc");
	reject("1X");
	reject("-1");
	reject("+1");
	reject(" 1");
	reject("1 ");
	reject("1 G");
	reject("1GG");
	reject("1Gi");
	reject("1GiBB");
	reject("1.5G");
	reject("0x10");
	reject("G");
	reject("K1");
}

static void test_overflow(void)
{
	reject("18446744073709551616");       /* 2^64 */
	reject("99999999999999999999999999"); /* far beyond */
	reject("16777216T");                  /* 2^64 bytes */
	reject("17179869184G");               /* 2^64 bytes */
	reject("16384P");                     /* 2^64 bytes */
	reject("18446744073709551615K");
}

static void test_null(void)
{
	uint64_t v;

	g_assert_cmpint(pm_parse_size(NULL, &v), ==, -EINVAL);
}

static void test_format(void)
{
	char buf[32];

	pm_format_size(512, buf, sizeof(buf));
	g_assert_cmpstr(buf, ==, "512 B");
	pm_format_size(UNIT_GiB, buf, sizeof(buf));
	g_assert_cmpstr(buf, ==, "1.0 GiB");
	pm_format_size(64 * UNIT_MiB, buf, sizeof(buf));
	g_assert_cmpstr(buf, ==, "64.0 MiB");
	pm_format_size(1536 * UNIT_KiB, buf, sizeof(buf));
	g_assert_cmpstr(buf, ==, "1.5 MiB");
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/parse/plain-numbers", test_plain);
	unit_add("/parse/units", test_units);
	unit_add("/parse/rejects-garbage", test_rejects);
	unit_add("/parse/rejects-overflow", test_overflow);
	unit_add("/parse/null", test_null);
	unit_add("/parse/format-size", test_format);
	return g_test_run();
}
