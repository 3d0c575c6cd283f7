/* tests/unit/test-guests.c -- remusd's table of guests (remusd/guests.c):
 * which names may become a state directory, how --guest NAME=COMMAND is
 * split and its program found, and what is refused in one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "guests.h"

Test(guests, names)
{
	static const char *const ok[] = { "g", "proc:1234", "xen:web1",
	    "kv-1.a_b@host+x", "a.", NULL };
	static const char *const bad[] = { "", ".", "..", ".hidden", "a/b",
	    "a b", "a\tb", "../x", "a\\\\b", "é",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4", NULL };
	size_t i;

	for (i = 0; ok[i]; i++)
		cr_assert(eq(int, guest_name_ok(ok[i]), 1), "%s", ok[i]);
	for (i = 0; bad[i]; i++)
		cr_assert(eq(int, guest_name_ok(bad[i]), 0), "%s", bad[i]);
}

Test(guests, parse_finds_the_program_and_splits_arguments)
{
	struct guest_table t = { NULL, 0 };
	const struct guest_conf *g;
	char err[256] = "";

	cr_assert(eq(int, guest_conf_parse(&t, "kv=sh -c  'exit 0'", err,
	    sizeof err), 0), "%s", err);
	g = guest_conf_find(&t, "kv");
	cr_assert_not_null(g);
	/* argv[0] is the program's absolute, resolved path (PATH). */
	cr_assert(eq(int, g->argv[0][0], '/'));
	cr_assert_not_null(strstr(g->argv[0], "sh"));
	cr_assert(eq(str, g->argv[1], "-c"));
	cr_assert(eq(str, g->argv[2], "'exit"));	/* no quoting */
	cr_assert(eq(str, g->argv[3], "0'"));
	cr_assert_null(g->argv[4]);
	cr_assert_null(guest_conf_find(&t, "other"));
	guest_table_free(&t);
	cr_assert(eq(sz, t.n, 0));
}

Test(guests, refusals)
{
	struct guest_table t = { NULL, 0 };
	char err[256];

	cr_assert(eq(int, guest_conf_parse(&t, "noequals", err, sizeof err),
	    -1));
	cr_assert_not_null(strstr(err, "want NAME=COMMAND"), "%s", err);
	cr_assert(eq(int, guest_conf_parse(&t, "=sh", err, sizeof err), -1));
	cr_assert(eq(int, guest_conf_parse(&t, "a/b=sh", err, sizeof err),
	    -1));
	cr_assert_not_null(strstr(err, "guest name \"a/b\""), "%s", err);
	cr_assert(eq(int, guest_conf_parse(&t, "g=   ", err, sizeof err), -1));
	cr_assert_not_null(strstr(err, "empty command"), "%s", err);
	cr_assert(eq(int, guest_conf_parse(&t, "g=no-such-program-here", err,
	    sizeof err), -1));
	cr_assert_not_null(strstr(err, "not an executable file in PATH"),
	    "%s", err);
	cr_assert(eq(int, guest_conf_parse(&t, "g=/etc/passwd", err,
	    sizeof err), -1));
	cr_assert(eq(int, guest_conf_parse(&t, "g=sh", err, sizeof err), 0));
	cr_assert(eq(int, guest_conf_parse(&t, "g=sh -x", err, sizeof err),
	    -1));
	cr_assert_not_null(strstr(err, "given twice"), "%s", err);
	cr_assert(eq(sz, t.n, 1));
	guest_table_free(&t);
}

Test(guests, no_program_from_the_working_directory)
{
	struct guest_table t = { NULL, 0 };
	char dir[] = "/tmp/test-guests.XXXXXX", path[64], err[256];
	const char *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/evil", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\n", f);
	fclose(f);
	chmod(path, 0755);
	cr_assert(eq(int, chdir(dir), 0));
	/* An empty PATH entry means "." to a shell; not here. */
	setenv("PATH", ":/nonexistent", 1);
	cr_assert(eq(int, guest_conf_parse(&t, "g=evil", err, sizeof err),
	    -1));
	if (saved)
		setenv("PATH", saved, 1);
	free(saved);
	unlink(path);
	rmdir(dir);
	guest_table_free(&t);
}

/* --guest-peer NAME=ID[,ID...]: split at commas, a DN (a value with '=')
 * kept whole, repeats for one guest added up, each guest its own list. */
Test(guests, peers_parse)
{
	struct peer_table t = { NULL, 0 };
	const struct guest_peers *p;
	char err[256] = "";

	cr_assert(eq(int, guest_peers_parse(&t, "web1=primary-a,primary b",
	    err, sizeof err), 0), "%s", err);
	cr_assert(eq(int, guest_peers_parse(&t, "web1=CN=primary c,O=Example",
	    err, sizeof err), 0), "%s", err);
	cr_assert(eq(int, guest_peers_parse(&t, "db=other", err,
	    sizeof err), 0), "%s", err);
	p = guest_peers_find(&t, "web1");
	cr_assert_not_null(p);
	cr_assert(eq(sz, p->n, 3));
	cr_assert(eq(str, p->ids[0], "primary-a"));
	cr_assert(eq(str, p->ids[1], "primary b"));
	cr_assert(eq(str, p->ids[2], "CN=primary c,O=Example"));
	p = guest_peers_find(&t, "db");
	cr_assert_not_null(p);
	cr_assert(eq(sz, p->n, 1));
	cr_assert(eq(str, p->ids[0], "other"));
	cr_assert_null(guest_peers_find(&t, "web"));
	peer_table_free(&t);
	cr_assert(eq(sz, t.n, 0));
}

Test(guests, peers_refusals)
{
	static const char *const bad[] = { "noequals", "=a", "g=", "g=a,,b",
	    "g=a,", ".g=a", "g/x=a", "g=a\tb", "g=CN=a\x01", NULL };
	struct peer_table t = { NULL, 0 };
	char err[256], long_id[300];
	size_t i;

	for (i = 0; bad[i]; i++) {
		err[0] = '\0';
		cr_assert(eq(int, guest_peers_parse(&t, bad[i], err,
		    sizeof err), -1), "%s accepted", bad[i]);
		cr_assert(strncmp(err, "--guest-peer ", 13) == 0, "%s", err);
		cr_assert_null(strchr(err, '\n'));
	}
	memset(long_id, 'x', sizeof long_id);
	memcpy(long_id, "g=", 2);
	long_id[sizeof long_id - 1] = '\0';
	cr_assert(eq(int, guest_peers_parse(&t, long_id, err, sizeof err),
	    -1));
	peer_table_free(&t);
}
