/* test-log.c -- common/log.c's rate limit (log_rate): what a peer that
 * repeats an error at will can make remusd write (issue 12). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Run FN with stderr sent to a file; return the lines it wrote. */
static char *
captured(void (*fn)(void))
{
	char path[] = "/tmp/test-log.XXXXXX", *buf;
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;
	long n;

	cr_assert(fd != -1 && saved != -1);
	unlink(path);
	cr_assert(eq(int, dup2(fd, 2), 2));
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert(eq(sz, fread(buf, 1, (size_t)n, f), (size_t)n));
	fclose(f);
	return buf;
}

static unsigned
count(const char *s, const char *what)
{
	unsigned n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void
flood(void)
{
	int i;

	log_init("test-log", 1, 0);
	for (i = 0; i < 200; i++)
		log_rate(LOG_ERR, "flood-a", "peer %d: bad handshake", i);
	log_rate(LOG_ERR, "flood-b", "another kind");
	for (i = 0; i < 3; i++)
		log_rate(LOG_ERR, "flood-c", "a third kind %d", i);
}

Test(log, a_repeated_error_costs_a_few_lines_per_window)
{
	char *out = captured(flood);

	/* LOG_RATE_BURST (5) lines of the flooding kind in its window; the
	 * other kinds are not starved by it. */
	cr_assert(eq(u32, count(out, "bad handshake"), 5), "%s", out);
	cr_assert(eq(u32, count(out, "peer 0: bad handshake"), 1));
	cr_assert(eq(u32, count(out, "peer 4: bad handshake"), 1));
	cr_assert(eq(u32, count(out, "peer 5: bad handshake"), 0));
	cr_assert(eq(u32, count(out, "another kind"), 1), "%s", out);
	cr_assert(eq(u32, count(out, "a third kind"), 3), "%s", out);
	cr_assert(eq(u32, count(out, "err: "), 9), "%s", out);
	free(out);
}
