/* test-crc.c -- CRC-32C (Castagnoli) against known vectors, through
 * pm_crc32c() (the CPU's crc32 instruction where it has one) and the
 * portable table alike, and the two against each other */
#include <stdio.h>
#include <string.h>

#include "crc.h"
#include "unit.h"

/* FOR_EACH_IMPL(f): the loop's body runs with f = pm_crc32c, then with
 * f = pm_crc32c_portable */
typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static const crc_fn impls[] = { pm_crc32c, pm_crc32c_portable };
#define FOR_EACH_IMPL(f) for (unsigned i_ = 0; i_ < 2 && ((f) = impls[i_], 1); i_++)

static void test_check_value(void)
{
	crc_fn crc;

	/* the standard check value of CRC-32C (RFC 3720, iSCSI) */
	FOR_EACH_IMPL(crc)
		g_assert_cmphex(crc(0, "123456789", 9), ==, 0xE3069283u);
}

static void test_known_vectors(void)
{
	uint8_t zeros[32] = { 0 }, ones[32], inc[32], dec[32];
	crc_fn crc;

	memset(ones, 0xff, sizeof(ones));
	for (unsigned i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	/* RFC 3720, appendix B.4 */
	FOR_EACH_IMPL(crc) {
		g_assert_cmphex(crc(0, zeros, 32), ==, 0x8A9136AAu);
		g_assert_cmphex(crc(0, ones, 32), ==, 0x62A8AB43u);
		g_assert_cmphex(crc(0, inc, 32), ==, 0x46DD794Eu);
		g_assert_cmphex(crc(0, dec, 32), ==, 0x113FDB5Cu);
		g_assert_cmphex(crc(0, "", 0), ==, 0);
		g_assert_cmphex(crc(0, "a", 1), ==, 0xC1D04330u);
	}
}

static void test_incremental(void)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t len = strlen(s);
	crc_fn crc;

	FOR_EACH_IMPL(crc) {
		uint32_t whole = crc(0, s, len);

		g_assert_cmphex(whole, ==, 0x22620404u);
		for (size_t cut = 0; cut <= len; cut++)
			g_assert_cmphex(crc(crc(0, s, cut), s + cut, len - cut), ==, whole);
	}
}

/* every length to 300 at every alignment to 8 (the instruction path sums
 * an unaligned head, 8-byte words, then a tail), and each continued from
 * a sum that is not 0 */
static void test_both_agree(void)
{
	uint8_t buf[320];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 151 + 17);
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 300; len++) {
			g_assert_cmphex(pm_crc32c(0, buf + off, len), ==, pm_crc32c_portable(0, buf + off, len));
			g_assert_cmphex(pm_crc32c(0xDEADBEEFu, buf + off, len), ==,
					pm_crc32c_portable(0xDEADBEEFu, buf + off, len));
		}
	}
}

/* the instruction is used wherever the CPU says it has it: the sum is on
 * the journal's hot path (crc.c) */
static void test_uses_the_instruction(void)
{
	bool has = false;
#if defined(__x86_64__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];

	g_assert_nonnull(f);
	while (!has && fgets(line, sizeof(line), f))
		has = strncmp(line, "flags", 5) == 0 && strstr(line, " sse4_2") != NULL;
	fclose(f);
#endif
	g_assert_cmpint(pm_crc32c_uses_insn(), ==, has);
}

static void test_detects_change(void)
{
	uint8_t buf[256];
	uint32_t ref;
	crc_fn crc;

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	FOR_EACH_IMPL(crc) {
		ref = crc(0, buf, sizeof(buf));
		for (unsigned i = 0; i < sizeof(buf); i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				buf[i] ^= (uint8_t)(1u << bit);
				g_assert_cmphex(crc(0, buf, sizeof(buf)), !=, ref);
				buf[i] ^= (uint8_t)(1u << bit);
			}
		}
		g_assert_cmphex(crc(0, buf, sizeof(buf)), ==, ref);
	}
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/crc/check-value", test_check_value);
	unit_add("/crc/known-vectors", test_known_vectors);
	unit_add("/crc/incremental", test_incremental);
	unit_add("/crc/detects-single-bit-change", test_detects_change);
	unit_add("/crc/instruction-and-table-agree", test_both_agree);
	unit_add("/crc/uses-the-instruction", test_uses_the_instruction);
	return g_test_run();
}
