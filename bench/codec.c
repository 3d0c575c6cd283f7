/* bench/codec.c -- page codec throughput and wire ratio, in one run.
 *
 * On the same SIZE bytes of pages: for pages with 0, 1, 10, 50 and 100% of
 * their bytes changed (random values in one contiguous run per page, at a
 * random offset) against a cached previous version, and for random pages
 * with no cache, measure codec_encode and codec_decode GB/s on one thread
 * and the wire/raw ratio, next to plain memcpy and plain
 * LZ4_compress_default of the same pages.
 *
 * The table adds the naive delta (XOR each page with its base, then
 * LZ4_compress_default) and its wire ratio, for comparison.
 *
 * Decode runs against the base pages as the backup would (XOR against
 * what it holds), two ways: into a separate buffer (base copied, then
 * patched; the BENCH line's decode_GBps, the conservative figure) and in
 * place on a replica (only changed bytes are touched; table only).
 *
 * GB/s = raw page bytes per second of thread CPU time / 1e9, best of
 * --reps runs.  CPU time, not wall time, so other load on the machine
 * shows less; memory bandwidth is still shared.  --wall uses the
 * monotonic clock instead.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>

#include "codec.h"
#include "log.h"
#include "stream-format.h"
#include "util.h"

struct bench {
	uint32_t	ps;
	size_t		npages;
	size_t		size;
	unsigned	reps;
	uint8_t		*base;		/* previous version of each page */
	uint8_t		*cur;		/* current version */
	uint8_t		*out;		/* decode target */
	uint8_t		*wire[2];	/* encoded pages: cur vs base, base vs cur */
	uint8_t		*lz4buf;
	uint32_t	*len;		/* per page, of wire[0] */
	uint32_t	*off;
	uint16_t	*enc;
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void
fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t r = rnd();

		memcpy(p + i, &r, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Memory-like words: zeros, small integers, pointers, random data. */
static void
fill_memory(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = rnd(), w;

		switch (r & 3) {
		case 0: w = 0; break;
		case 1: w = r >> 56; break;
		case 2: w = 0x7f0000000000ull | ((r >> 20) & 0xffffff8ull); break;
		default: w = rnd(); break;
		}
		memcpy(p + i, &w, 8);
	}
}

static clockid_t bench_clock = CLOCK_THREAD_CPUTIME_ID;

static double
cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(bench_clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
gbps(const struct bench *b, double secs)
{
	return secs > 0 ? (double)b->size / secs / 1e9 : 0;
}

/* Encode every page of SRC into WIRE; record lengths if REC.  Returns
 * the wire bytes. */
static size_t
encode_all(struct bench *b, struct codec *c, const uint8_t *src,
    uint8_t *wire, int rec)
{
	size_t off = 0;
	uint32_t len;
	uint16_t enc;

	for (size_t i = 0; i < b->npages; i++) {
		if (codec_encode(c, i, src + i * b->ps, wire + off, &len,
		    &enc) == -1)
			fatal("codec_encode");
		if (rec) {
			b->off[i] = (uint32_t)off;
			b->len[i] = len;
			b->enc[i] = enc;
		}
		off += len;
	}
	return off;
}

static void
decode_all(struct bench *b, int inplace)
{
	for (size_t i = 0; i < b->npages; i++) {
		uint8_t *out = b->out + i * b->ps;

		if (codec_decode(b->enc[i], b->wire[0] + b->off[i], b->len[i],
		    inplace ? out : b->base + i * b->ps, out, b->ps) == -1)
			fatal("page %zu: codec_decode", i);
	}
}

struct result {
	double	enc, dec, dec_oop, memcpy_, lz4, naive, naive_ratio;
	double	ratio, ratio_hdr;
	uint64_t pages[STREAM_ENC_MAX];
};

static void
run_case(struct bench *b, int pct, struct result *r)
{
	struct codec *c;
	size_t wire = 0;
	double t, best;
	unsigned rep;

	/* The pages: CUR is BASE with one random run changed, or random. */
	if (pct < 0) {
		fill_random(b->cur, b->size);
	} else {
		size_t n = (size_t)b->ps * (size_t)pct / 100;

		memcpy(b->cur, b->base, b->size);
		for (size_t i = 0; i < b->npages && n > 0; i++) {
			size_t o = rnd() % (b->ps - n + 1);

			fill_random(b->cur + i * b->ps + o, n);
		}
	}

	/* Random data has no previous version: no cache. */
	c = codec_new(b->ps, pct < 0 ? 0 : b->size, 1);
	if (c == NULL)
		fatal("codec_new");
	if (pct >= 0)
		encode_all(b, c, b->base, b->wire[1], 0);	/* prime */

	/* Alternate CUR and BASE so every run sees the same deltas. */
	best = 1e9;
	for (rep = 0; rep < 2 * b->reps; rep++) {
		int odd = pct >= 0 && (rep & 1);
		size_t w;

		t = cpu_seconds();
		w = encode_all(b, c, odd ? b->base : b->cur, b->wire[odd],
		    !odd);
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
		if (!odd)
			wire = w;
	}
	r->enc = gbps(b, best);
	codec_free(c);
	memset(r->pages, 0, sizeof(r->pages));
	for (size_t i = 0; i < b->npages; i++)
		r->pages[b->enc[i]]++;
	r->ratio = (double)wire / (double)b->size;
	r->ratio_hdr = (double)(wire + b->npages * sizeof(struct stream_page)) /
	    (double)b->size;

	/* Decode in place on the replica, as the backup does. */
	best = 1e9;
	for (rep = 0; rep < b->reps; rep++) {
		memcpy(b->out, b->base, b->size);
		t = cpu_seconds();
		decode_all(b, 1);
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
		if (memcmp(b->out, b->cur, b->size) != 0)
			fatalx("changed=%d: in-place decode differs", pct);
	}
	r->dec = gbps(b, best);

	best = 1e9;
	for (rep = 0; rep < b->reps; rep++) {
		memset(b->out, 0x55, b->size);
		t = cpu_seconds();
		decode_all(b, 0);
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
		if (memcmp(b->out, b->cur, b->size) != 0)
			fatalx("changed=%d: decode differs", pct);
	}
	r->dec_oop = gbps(b, best);

	best = 1e9;
	for (rep = 0; rep < b->reps; rep++) {
		t = cpu_seconds();
		for (size_t i = 0; i < b->npages; i++)
			memcpy(b->out + i * b->ps, b->cur + i * b->ps, b->ps);
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
	}
	r->memcpy_ = gbps(b, best);

	best = 1e9;
	for (rep = 0; rep < b->reps; rep++) {
		size_t off = 0;

		t = cpu_seconds();
		for (size_t i = 0; i < b->npages; i++) {
			int n = LZ4_compress_default(
			    (const char *)b->cur + i * b->ps,
			    (char *)b->lz4buf + off, (int)b->ps,
			    LZ4_compressBound((int)b->ps));

			if (n <= 0)
				fatalx("LZ4_compress_default failed");
			off += (size_t)n;
		}
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
	}
	r->lz4 = gbps(b, best);

	/* The naive delta: XOR every page with its base, LZ4 the result. */
	if (pct < 0) {
		r->naive = r->lz4;
		r->naive_ratio = 0;
		return;
	}
	best = 1e9;
	for (rep = 0; rep < b->reps; rep++) {
		uint8_t x[CODEC_PAGE_MAX];
		size_t off = 0;

		t = cpu_seconds();
		for (size_t i = 0; i < b->npages; i++) {
			const uint8_t *s = b->cur + i * b->ps;
			const uint8_t *o = b->base + i * b->ps;
			int n;

			for (size_t k = 0; k < b->ps; k++)
				x[k] = s[k] ^ o[k];
			n = LZ4_compress_default((const char *)x,
			    (char *)b->lz4buf + off, (int)b->ps,
			    LZ4_compressBound((int)b->ps));
			if (n <= 0)
				fatalx("LZ4_compress_default failed");
			off += (size_t)n;
		}
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
		r->naive_ratio = (double)off / (double)b->size;
	}
	r->naive = gbps(b, best);
}

static void __dead
usage(const char *why)
{
	fprintf(why ? stderr : stdout, "bench-codec: %s%susage: bench-codec [--size BYTES] "
	    "[--reps N] [--page-size BYTES] [--wall] "
	    "[--case 0|1|10|50|100|random]\n", why ? why : "",
	    why ? "; " : "");
	exit(why ? 2 : 0);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "page-size", required_argument, NULL, 'p' },
		{ "wall", no_argument, NULL, 'w' },
		{ "case", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int cases[] = { 0, 1, 10, 50, 100, -1 };
	struct result res[sizeof(cases) / sizeof(cases[0])];
	struct bench b = { .ps = 4096, .size = 64u << 20, .reps = 3 };
	uint64_t v;
	size_t i;
	int ch, only = -2;
	char why[256];

	log_init("bench-codec", 1, 0);
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((ch = getopt_long(argc, argv, "s:r:p:wc:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (parse_size(optarg, &v) == -1 || v == 0 ||
			    v > (16ull << 30))
				fatalx("--size %s: want 1 .. 16G bytes", optarg);
			b.size = (size_t)v;
			break;
		case 'r':
			if (parse_uint(optarg, 1, 1000, &v) == -1)
				fatalx("--reps %s: want 1 .. 1000", optarg);
			b.reps = (unsigned)v;
			break;
		case 'p':
			if (parse_size(optarg, &v) == -1 ||
			    v < CODEC_PAGE_MIN || v > CODEC_PAGE_MAX ||
			    (v & (v - 1)) != 0)
				fatalx("--page-size %s: want a power of two "
				    "in %u .. %u", optarg, CODEC_PAGE_MIN,
				    CODEC_PAGE_MAX);
			b.ps = (uint32_t)v;
			break;
		case 'w':
			bench_clock = CLOCK_MONOTONIC;
			break;
		case 'c':
			if (strcmp(optarg, "random") == 0)
				only = -1;
			else if (parse_uint(optarg, 0, 100, &v) == 0)
				only = (int)v;
			else
				fatalx("--case %s: want 0 .. 100 or random",
				    optarg);
			break;
		case 'h':
			usage(NULL);
		default:
			snprintf(why, sizeof(why), "%s: unknown option or "
			    "missing argument", argv[optind - 1]);
			usage(why);
		}
	}
	if (optind != argc)
		usage("unexpected argument");
	b.npages = b.size / b.ps;
	if (b.npages == 0)
		fatalx("--size %zu: less than one page of %u bytes", b.size,
		    b.ps);
	b.size = b.npages * b.ps;

	b.base = aligned_alloc(64, b.size);
	b.cur = aligned_alloc(64, b.size);
	b.out = aligned_alloc(64, b.size);
	b.wire[0] = malloc(b.npages * codec_bound(b.ps));
	b.wire[1] = malloc(b.npages * codec_bound(b.ps));
	b.lz4buf = malloc(b.npages * (size_t)LZ4_compressBound((int)b.ps));
	b.len = calloc(b.npages, sizeof(*b.len));
	b.off = calloc(b.npages, sizeof(*b.off));
	b.enc = calloc(b.npages, sizeof(*b.enc));
	if (!b.base || !b.cur || !b.out || !b.wire[0] || !b.wire[1] ||
	    !b.lz4buf || !b.len || !b.off || !b.enc)
		fatal("allocating %zu bytes of pages", b.size);
	/* Touch everything once so page faults stay out of the timings. */
	memset(b.out, 0, b.size);
	memset(b.wire[0], 0, b.npages * codec_bound(b.ps));
	memset(b.wire[1], 0, b.npages * codec_bound(b.ps));
	memset(b.lz4buf, 0, b.npages * (size_t)LZ4_compressBound((int)b.ps));
	fill_memory(b.base, b.size);

	printf("bench-codec: %zu pages of %u bytes (%.1f MiB), best of %u, "
	    "1 thread, GB/s of raw page bytes per %s second\n",
	    b.npages, b.ps, (double)b.size / (1 << 20), b.reps,
	    bench_clock == CLOCK_MONOTONIC ? "wall" : "CPU");
	printf("%-8s %8s %8s %8s %8s %8s %7s %7s %8s %7s  %s\n", "changed",
	    "encode", "decode", "dec-inpl", "memcpy", "lz4", "wire", "+hdr",
	    "xor+lz4", "wire", "pages zero/raw/lz4/xlz4/xrle");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result *r = &res[i];
		char name[16], naive[32];

		if (only != -2 && cases[i] != only)
			continue;
		run_case(&b, cases[i], r);
		if (cases[i] < 0)
			snprintf(name, sizeof(name), "random");
		else
			snprintf(name, sizeof(name), "%d", cases[i]);
		if (cases[i] < 0)
			snprintf(naive, sizeof(naive), "%8s %7s", "-", "-");
		else
			snprintf(naive, sizeof(naive), "%8.2f %7.4f", r->naive,
			    r->naive_ratio);
		printf("%-8s %8.2f %8.2f %8.2f %8.2f %8.2f %7.4f %7.4f %s  "
		    "%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
		    "\n", name, r->enc, r->dec_oop, r->dec, r->memcpy_,
		    r->lz4, r->ratio, r->ratio_hdr, naive,
		    r->pages[STREAM_ENC_ZERO], r->pages[STREAM_ENC_RAW],
		    r->pages[STREAM_ENC_LZ4], r->pages[STREAM_ENC_XOR_LZ4],
		    r->pages[STREAM_ENC_XOR_RLE]);
		printf("BENCH codec changed=%s encode_GBps=%.2f "
		    "decode_GBps=%.2f wire_ratio=%.4f memcpy_GBps=%.2f "
		    "lz4_GBps=%.2f\n", name, r->enc, r->dec_oop, r->ratio,
		    r->memcpy_, r->lz4);
		fflush(stdout);
	}

	free(b.base);
	free(b.cur);
	free(b.out);
	free(b.wire[0]);
	free(b.wire[1]);
	free(b.lz4buf);
	free(b.len);
	free(b.off);
	free(b.enc);
	return 0;
}
