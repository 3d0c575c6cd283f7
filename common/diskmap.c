/* common/diskmap.c -- which image is which disk of which guest
 * (diskmap.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "util.h"
#include "diskmap.h"

int
diskmap_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DISKMAP_NAME_MAX || name[0] == '.' ||
	    name[0] == '-')
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Same guest (NULL: any) for both? */
static int
same_guest(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
ent_free(struct diskmap_ent *e)
{
	free(e->guest);
	free(e->name);
	free(e->path);
}

int
diskmap_add(struct diskmap *m, const char *arg, int allow_guest, int tag,
    const char *flag, char *why, size_t len)
{
	struct diskmap_ent e = { NULL, NULL, NULL, tag }, *nv;
	const char *eq = strchr(arg, '='), *colon = NULL, *path = arg;
	size_t i, same = 0, glen = 0, nlen = 0;

	/* "[GUEST:][NAME=]PATH": what stands before '=' names the disk,
	 * unless it has a '/' (then '=' is part of a path). */
	if (eq != NULL && memchr(arg, '/', (size_t)(eq - arg)) == NULL) {
		const char *c;

		for (c = arg; c < eq; c++)
			if (*c == ':')
				colon = c;
		if (colon != NULL && !allow_guest)
			return util_refuse(why, len, EINVAL,
			    "%s %.200s: want [NAME=]IMAGE "
			    "(a disk's name has no ':')", flag, arg);
		if (colon != NULL) {
			glen = (size_t)(colon - arg);
			nlen = (size_t)(eq - colon - 1);
		} else
			nlen = (size_t)(eq - arg);
		/* "NAME=": a name and no path; "=PATH": no name either. */
		if ((colon == NULL && nlen == 0) || (colon != NULL && glen == 0))
			return util_refuse(why, len, EINVAL,
			    "%s %.200s: want %sNAME=IMAGE",
			    flag, arg, allow_guest ? "[GUEST:]" : "");
		path = eq + 1;
	}
	if (*path == '\0')
		return util_refuse(why, len, EINVAL,
		    "%s %.200s: no image after '='", flag,
		    arg);
	if (glen > 0 && (e.guest = strndup(arg, glen)) == NULL)
		goto nomem;
	if ((e.name = strndup(colon ? colon + 1 : arg, nlen)) == NULL ||
	    (e.path = strdup(path)) == NULL)
		goto nomem;
	if (nlen > 0 && !diskmap_name_ok(e.name)) {
		util_refuse(why, len, EINVAL,
		    "%s %.200s: disk name \"%.40s\": want 1..%d of "
		    "A-Z a-z 0-9 _ . - (not starting with . or -)", flag, arg,
		    e.name, DISKMAP_NAME_MAX);
		goto err;
	}
	for (i = 0; i < m->n; i++) {
		const struct diskmap_ent *o = &m->v[i];

		if (!same_guest(o->guest, e.guest))
			continue;
		same++;
		if (*o->name == '\0' || *e.name == '\0') {
			util_refuse(why, len, EINVAL,
			    "%s %.200s: %s has several disks: name "
			    "each (%sNAME=IMAGE)", flag, arg, e.guest ? e.guest :
			    "the guest", allow_guest ? "[GUEST:]" : "");
			goto err;
		}
		if (strcmp(o->name, e.name) == 0) {
			util_refuse(why, len, EINVAL,
			    "%s %.200s: disk %s given twice%s%s",
			    flag, arg, e.name, e.guest ? " for " : "",
			    e.guest ? e.guest : "");
			goto err;
		}
	}
	if (same >= DISKMAP_MAX) {
		util_refuse(why, len, EINVAL,
		    "%s %.200s: at most %d disks per guest", flag,
		    arg, DISKMAP_MAX);
		goto err;
	}
	nv = realloc(m->v, (m->n + 1) * sizeof *nv);
	if (nv == NULL)
		goto nomem;
	m->v = nv;
	m->v[m->n++] = e;
	return 0;
nomem:
	snprintf(why, len, "%s %.200s: %s", flag, arg, strerror(ENOMEM));
	errno = ENOMEM;
err:
	ent_free(&e);
	return -1;
}

int
diskmap_select(const struct diskmap *m, const char *guest,
    struct diskmap *out)
{
	size_t i, own = 0;

	memset(out, 0, sizeof *out);
	out->borrowed = 1;
	for (i = 0; i < m->n; i++)
		own += m->v[i].guest != NULL && guest != NULL &&
		    strcmp(m->v[i].guest, guest) == 0;
	out->v = calloc(m->n + 1, sizeof *out->v);
	if (out->v == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < m->n; i++) {
		const char *g = m->v[i].guest;

		if (own ? g != NULL && strcmp(g, guest) == 0 : g == NULL)
			out->v[out->n++] = m->v[i];
	}
	return 0;
}

void
diskmap_names(const struct diskmap *m, char *buf, size_t len)
{
	size_t i, off = 0;
	int k;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (m->n == 0) {
		snprintf(buf, len, "none");
		return;
	}
	for (i = 0; i < m->n && off < len; i++) {
		k = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    *m->v[i].name ? m->v[i].name : "(unnamed)");
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static void
list_names(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t i, off = 0;
	int k;

	buf[0] = '\0';
	if (n == 0)
		snprintf(buf, len, "none");
	for (i = 0; i < n && off < len; i++) {
		k = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    *names[i] ? names[i] : "(unnamed)");
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

int
diskmap_match(const struct diskmap *m, const char *const *names, size_t n,
    const char *who, size_t *idx, char *why, size_t len)
{
	char theirs[256], ours[256];
	size_t i, j;

	list_names(names, n, theirs, sizeof theirs);
	diskmap_names(m, ours, sizeof ours);
	if (n != m->n)
		return util_refuse(why, len, EINVAL,
		    "%s has %zu disk%s (%s), this backup "
		    "holds %zu image%s for the guest (%s)", who, n, n == 1 ?
		    "" : "s", theirs, m->n, m->n == 1 ? "" : "s", ours);
	/* One disk on each side, one of them unnamed: the one place. */
	if (n == 1 && (*names[0] == '\0' || *m->v[0].name == '\0')) {
		idx[0] = 0;
		return 0;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < m->n; j++)
			if (*names[i] != '\0' &&
			    strcmp(names[i], m->v[j].name) == 0)
				break;
		if (j == m->n)
			return util_refuse(why, len, EINVAL,
			    "%s's disk %s has no image on "
			    "this backup (it holds %s)", who, *names[i] ?
			    names[i] : "(unnamed)", ours);
		/* Names are unique on either side (diskmap_add, the
		 * stream reader), so this is a one-to-one map. */
		idx[i] = j;
	}
	return 0;
}

void
diskmap_free(struct diskmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; !m->borrowed && i < m->n; i++)
		ent_free(&m->v[i]);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}
