/* tests/unit/test-diskmap.c -- which image is which disk of which guest
 * (common/diskmap.c): remus's and remusd's --disk forms, a guest's own
 * disks against those of every guest, and the match by name that decides
 * where each of the primary's disks goes on the backup.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "diskmap.h"

static void
add_ok(struct diskmap *m, const char *arg, int allow_guest)
{
	char why[256];

	cr_assert(eq(int, diskmap_add(m, arg, allow_guest, 7, "--disk", why,
	    sizeof why), 0), "%s: %s", arg, why);
}

static void
add_refused(struct diskmap *m, const char *arg, int allow_guest,
    const char *want)
{
	char why[256];
	size_t n = m->n;

	errno = 0;
	cr_assert(eq(int, diskmap_add(m, arg, allow_guest, 0, "--disk", why,
	    sizeof why), -1), "%s accepted", arg);
	cr_assert(eq(int, errno, EINVAL));
	cr_assert_not_null(strstr(why, want), "%s: \"%s\", want \"%s\"", arg,
	    why, want);
	cr_assert(eq(sz, m->n, n), "a refused entry was kept");
}

Test(diskmap, forms)
{
	struct diskmap m = { 0 };

	add_ok(&m, "/srv/a=b.img", 0);		/* '=' inside a path */
	cr_assert_str_eq(m.v[0].name, "");
	cr_assert_str_eq(m.v[0].path, "/srv/a=b.img");
	cr_assert(eq(int, m.v[0].tag, 7));
	cr_assert_null(m.v[0].guest);
	diskmap_free(&m);

	add_ok(&m, "xvda=/srv/a.img", 0);
	add_ok(&m, "xvdb=rel:ative.img", 0);	/* ':' in the path is fine */
	cr_assert_str_eq(m.v[1].name, "xvdb");
	cr_assert_str_eq(m.v[1].path, "rel:ative.img");
	add_refused(&m, "xvda=/x.img", 0, "disk xvda given twice");
	add_refused(&m, "/y.img", 0, "name each");
	add_refused(&m, "g:xvdc=/y.img", 0, "a disk's name has no ':'");
	add_refused(&m, "xvdc=", 0, "no image after '='");
	add_refused(&m, "=/y.img", 0, "want NAME=IMAGE");
	add_refused(&m, ".x=/y.img", 0, "disk name \".x\"");
	add_refused(&m, "abcdefghijklmnopqrstuvwx=/y.img", 0, "1..23");
	diskmap_free(&m);

	/* remusd: per guest, a guest name may have ':' itself. */
	add_ok(&m, "proc:42:xvda=/b/a.img", 1);
	cr_assert_str_eq(m.v[0].guest, "proc:42");
	cr_assert_str_eq(m.v[0].name, "xvda");
	add_ok(&m, "proc:42:xvdb=/b/b.img", 1);
	add_ok(&m, "db:=/b/db.img", 1);		/* db's one unnamed disk */
	cr_assert_str_eq(m.v[2].guest, "db");
	cr_assert_str_eq(m.v[2].name, "");
	add_ok(&m, "/b/any.img", 1);		/* every other guest's */
	add_refused(&m, "db:xvdb=/b/x.img", 1, "name each");
	add_refused(&m, ":xvda=/b/x.img", 1, "want [GUEST:]NAME=IMAGE");
	add_refused(&m, "proc:42:xvda=/b/c.img", 1, "given twice for proc:42");
	diskmap_free(&m);
}

Test(diskmap, at_most_sixteen_per_guest)
{
	struct diskmap m = { 0 };
	char arg[64];
	int i;

	for (i = 0; i < DISKMAP_MAX; i++) {
		snprintf(arg, sizeof arg, "g:d%d=/i%d", i, i);
		add_ok(&m, arg, 1);
	}
	add_refused(&m, "g:d99=/x", 1, "at most 16 disks");
	add_ok(&m, "h:d99=/x", 1);		/* another guest's count */
	diskmap_free(&m);
}

Test(diskmap, a_guest_has_its_own_or_those_of_every_guest)
{
	struct diskmap m = { 0 }, s;

	add_ok(&m, "/b/any.img", 1);
	add_ok(&m, "web1:xvda=/b/w-a.img", 1);
	add_ok(&m, "web1:xvdb=/b/w-b.img", 1);
	cr_assert(eq(int, diskmap_select(&m, "web1", &s), 0));
	cr_assert(eq(sz, s.n, 2));
	cr_assert_str_eq(s.v[0].path, "/b/w-a.img");
	cr_assert_str_eq(s.v[1].path, "/b/w-b.img");
	diskmap_free(&s);
	cr_assert(eq(int, diskmap_select(&m, "db", &s), 0));
	cr_assert(eq(sz, s.n, 1));
	cr_assert_str_eq(s.v[0].path, "/b/any.img");
	diskmap_free(&s);
	/* The selection borrowed the strings: m's are still whole. */
	cr_assert_str_eq(m.v[1].path, "/b/w-a.img");
	diskmap_free(&m);
}

Test(diskmap, match_by_name_not_by_position)
{
	struct diskmap m = { 0 };
	const char *two[2] = { "xvdb", "xvda" };
	const char *other[2] = { "xvda", "xvdc" };
	const char *one[1] = { "xvda" }, *unnamed[1] = { "" };
	size_t idx[2];
	char why[256];

	add_ok(&m, "xvda=/b/a.img", 0);
	add_ok(&m, "xvdb=/b/b.img", 0);
	/* The primary's order is not ours: each goes to its own image. */
	cr_assert(eq(int, diskmap_match(&m, two, 2, "the primary", idx, why,
	    sizeof why), 0), "%s", why);
	cr_assert(eq(sz, idx[0], 1));
	cr_assert(eq(sz, idx[1], 0));
	cr_assert(eq(int, diskmap_match(&m, other, 2, "the primary", idx, why,
	    sizeof why), -1));
	cr_assert_str_eq(why, "the primary's disk xvdc has no image on this "
	    "backup (it holds xvda, xvdb)");
	cr_assert(eq(int, diskmap_match(&m, one, 1, "the primary", idx, why,
	    sizeof why), -1));
	cr_assert_str_eq(why, "the primary has 1 disk (xvda), this backup "
	    "holds 2 images for the guest (xvda, xvdb)");
	diskmap_free(&m);

	/* One disk on each side, one of them unnamed: the one place. */
	add_ok(&m, "/b/only.img", 0);
	cr_assert(eq(int, diskmap_match(&m, one, 1, "the primary", idx, why,
	    sizeof why), 0));
	cr_assert(eq(sz, idx[0], 0));
	diskmap_free(&m);
	add_ok(&m, "xvdz=/b/only.img", 0);
	cr_assert(eq(int, diskmap_match(&m, unnamed, 1, "the primary", idx,
	    why, sizeof why), 0));
	cr_assert(eq(int, diskmap_match(&m, one, 1, "the primary", idx, why,
	    sizeof why), -1), "both named, differently: not the same disk");
	diskmap_free(&m);
	/* None on either side matches; one side only does not. */
	cr_assert(eq(int, diskmap_match(&m, NULL, 0, "the primary", idx, why,
	    sizeof why), 0));
	cr_assert(eq(int, diskmap_match(&m, one, 1, "the primary", idx, why,
	    sizeof why), -1));
}
