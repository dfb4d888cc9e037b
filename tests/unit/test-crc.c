/* test-crc.c -- CRC-32C (Castagnoli) against known vectors */
#include <string.h>

#include "crc.h"
#include "unit.h"

static void test_check_value(void)
{
	/* the standard check value of CRC-32C (RFC 3720, iSCSI) */
	g_assert_cmphex(pm_crc32c(0, "123456789", 9), ==, 0xE3069283u);
}

static void test_known_vectors(void)
{
	uint8_t zeros[32] = { 0 }, ones[32], inc[32], dec[32];

	memset(ones, 0xff, sizeof(ones));
	for (unsigned i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	/* RFC 3720, appendix B.4 */
	g_assert_cmphex(pm_crc32c(0, zeros, 32), ==, 0x8A9136AAu);
	g_assert_cmphex(pm_crc32c(0, ones, 32), ==, 0x62A8AB43u);
	g_assert_cmphex(pm_crc32c(0, inc, 32), ==, 0x46DD794Eu);
	g_assert_cmphex(pm_crc32c(0, dec, 32), ==, 0x113FDB5Cu);
	g_assert_cmphex(pm_crc32c(0, "", 0), ==, 0);
	g_assert_cmphex(pm_crc32c(0, "a", 1), ==, 0xC1D04330u);
}

static void test_incremental(void)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t len = strlen(s);
	uint32_t whole = pm_crc32c(0, s, len);

	g_assert_cmphex(whole, ==, 0x22620404u);
	for (size_t cut = 0; cut <= len; cut++)
		g_assert_cmphex(pm_crc32c(pm_crc32c(0, s, cut), s + cut, len - cut), ==, whole);
}

static void test_detects_change(void)
{
	uint8_t buf[256];
	uint32_t ref;

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	ref = pm_crc32c(0, buf, sizeof(buf));
	for (unsigned i = 0; i < sizeof(buf); i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			g_assert_cmphex(pm_crc32c(0, buf, sizeof(buf)), !=, ref);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	g_assert_cmphex(pm_crc32c(0, buf, sizeof(buf)), ==, ref);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/crc/check-value", test_check_value);
	unit_add("/crc/known-vectors", test_known_vectors);
	unit_add("/crc/incremental", test_incremental);
	unit_add("/crc/detects-single-bit-change", test_detects_change);
	return g_test_run();
}
