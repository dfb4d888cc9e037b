/* stream.c -- copies and zeroing with non-temporal stores.
 *
 * A large write into the pool lands on lines that are not in the CPU
 * caches: an ordinary store first reads each line from memory (read for
 * ownership) and writes it back later, two transfers per line written; a
 * non-temporal store writes the line once and reads nothing. SSE2 is in
 * every x86-64 CPU, and 16-byte streaming stores fill the write-combining
 * buffers as well as wider ones do when memory, not the core, bounds the
 * copy. The destination is first brought to a line boundary, so that no
 * line mixes ordinary and streaming stores but the two partial ones at
 * either end. Elsewhere this is plain memcpy/memset. */
#include <stdint.h>
#include <string.h>

#include "stream.h"

#if PM_STREAM_NT
#include <emmintrin.h>

#define LINE 64

/* head -- bytes before dst reaches a line boundary, at most len */
static size_t head(const void *dst, size_t len)
{
	size_t n = (LINE - ((uintptr_t)dst & (LINE - 1))) & (LINE - 1);

	return n < len ? n : len;
}

bool pm_stream_copy(void *dst, const void *src, size_t len)
{
	char *d = dst;
	const char *s = src;
	size_t n = head(d, len);

	memcpy(d, s, n);
	d += n, s += n, len -= n;
	for (; len >= LINE; d += LINE, s += LINE, len -= LINE) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
		_mm_stream_si128((__m128i *)d, a);
		_mm_stream_si128((__m128i *)(d + 16), b);
		_mm_stream_si128((__m128i *)(d + 32), c);
		_mm_stream_si128((__m128i *)(d + 48), e);
	}
	memcpy(d, s, len);
	/* streaming stores are weakly ordered: the data must be visible before
	 * anything the caller stores next (a commit record, an msync) */
	_mm_sfence();
	return true;
}

bool pm_stream_zero(void *dst, size_t len)
{
	char *d = dst;
	size_t n = head(d, len);
	const __m128i z = _mm_setzero_si128();

	memset(d, 0, n);
	d += n, len -= n;
	for (; len >= LINE; d += LINE, len -= LINE) {
		_mm_stream_si128((__m128i *)d, z);
		_mm_stream_si128((__m128i *)(d + 16), z);
		_mm_stream_si128((__m128i *)(d + 32), z);
		_mm_stream_si128((__m128i *)(d + 48), z);
	}
	memset(d, 0, len);
	_mm_sfence();
	return true;
}

#else

bool pm_stream_copy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	return false;
}

bool pm_stream_zero(void *dst, size_t len)
{
	memset(dst, 0, len);
	return false;
}

#endif
