/* remusd/guests.c -- the backup's own table of guests (guests.h).
 *
 * A stream says which guest it carries (HELLO's name) and what program
 * it was (the proc config); the backup runs only what this table says
 * for that name.  So an unauthenticated or compromised primary can at
 * worst replicate into a guest this backup was told to protect, never
 * start a program of its choosing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guests.h"

#define GUEST_NAME_MAX	64	/* HELLO's name field */
#define GUEST_ARGC_MAX	255

int
guest_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > GUEST_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:@+-", c)))
			return 0;
	}
	return 1;
}

static int
is_exec(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/* PROG's absolute, resolved path into OUT (PATH_MAX), or -1. */
static int
find_program(const char *prog, char *out)
{
	const char *path, *p, *e;
	char cand[PATH_MAX];
	int n;

	if (strchr(prog, '/'))
		return is_exec(prog) && realpath(prog, out) ? 0 : -1;
	path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path; ; p = e + 1) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		/* An empty entry would mean the working directory: no. */
		if (e > p && p[0] == '/') {
			n = snprintf(cand, sizeof cand, "%.*s/%s", (int)(e - p),
			    p, prog);
			if (n > 0 && (size_t)n < sizeof cand && is_exec(cand) &&
			    realpath(cand, out))
				return 0;
		}
		if (*e == '\0')
			return -1;
	}
}

static void
conf_free(struct guest_conf *g)
{
	char **a;

	free(g->name);
	for (a = g->argv; a && *a; a++)
		free(*a);
	free(g->argv);
}

int
guest_conf_add(struct guest_table *t, const char *name, const char *command,
    char *err, size_t errlen)
{
	struct guest_conf g = { NULL, NULL }, *v;
	char prog[PATH_MAX], *copy = NULL, *tok, *save;
	size_t argc = 0;

	if (!guest_name_ok(name)) {
		snprintf(err, errlen, "guest name \"%.80s\": want 1..64 of "
		    "A-Z a-z 0-9 . _ : @ + - (not starting with .)", name);
		return -1;
	}
	if (guest_conf_find(t, name)) {
		snprintf(err, errlen, "guest %s given twice", name);
		return -1;
	}
	copy = strdup(command);
	g.name = strdup(name);
	g.argv = calloc(GUEST_ARGC_MAX + 1, sizeof *g.argv);
	if (copy == NULL || g.name == NULL || g.argv == NULL)
		goto nomem;
	for (tok = strtok_r(copy, " \t", &save); tok;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (argc == GUEST_ARGC_MAX) {
			snprintf(err, errlen, "guest %s: more than %d words in "
			    "its command", name, GUEST_ARGC_MAX);
			goto err;
		}
		if (argc == 0 && find_program(tok, prog) == -1) {
			snprintf(err, errlen, "guest %s: program %.200s: not an "
			    "executable file%s", name, tok, strchr(tok, '/') ?
			    "" : " in PATH");
			goto err;
		}
		g.argv[argc] = strdup(argc == 0 ? prog : tok);
		if (g.argv[argc++] == NULL)
			goto nomem;
	}
	if (argc == 0) {
		snprintf(err, errlen, "guest %s: empty command", name);
		goto err;
	}
	v = realloc(t->v, (t->n + 1) * sizeof *v);
	if (v == NULL)
		goto nomem;
	t->v = v;
	t->v[t->n++] = g;
	free(copy);
	return 0;
nomem:
	snprintf(err, errlen, "guest %s: %s", name, strerror(ENOMEM));
err:
	conf_free(&g);
	free(copy);
	return -1;
}

int
guest_conf_parse(struct guest_table *t, const char *kv, char *err,
    size_t errlen)
{
	const char *eq = strchr(kv, '=');
	char name[GUEST_NAME_MAX + 2];

	if (eq == NULL || eq == kv) {
		snprintf(err, errlen, "--guest %.80s: want NAME=COMMAND", kv);
		return -1;
	}
	snprintf(name, sizeof name, "%.*s", (int)(eq - kv) > GUEST_NAME_MAX ?
	    GUEST_NAME_MAX + 1 : (int)(eq - kv), kv);
	return guest_conf_add(t, name, eq + 1, err, errlen);
}

const struct guest_conf *
guest_conf_find(const struct guest_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

void
guest_table_free(struct guest_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		conf_free(&t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* ---- --guest-peer ------------------------------------------------------ */

static int
peer_id_ok(const char *id, size_t len)
{
	size_t i;

	if (len == 0 || len > GUEST_PEER_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] == 0x7f)
			return 0;
	return 1;
}

static int
peers_add(struct guest_peers *p, const char *id, size_t len)
{
	char **v, *c;

	if ((c = strndup(id, len)) == NULL)
		return -1;
	v = realloc(p->ids, (p->n + 1) * sizeof *v);
	if (v == NULL) {
		free(c);
		return -1;
	}
	p->ids = v;
	p->ids[p->n++] = c;
	return 0;
}

int
guest_peers_parse(struct peer_table *t, const char *kv, char *err,
    size_t errlen)
{
	const char *eq = strchr(kv, '='), *val, *id, *end;
	char name[GUEST_NAME_MAX + 2];
	struct guest_peers *p, *v;
	size_t len;

	if (eq == NULL || eq == kv || eq[1] == '\0') {
		snprintf(err, errlen, "--guest-peer %.80s: want NAME=ID[,ID...]",
		    kv);
		return -1;
	}
	snprintf(name, sizeof name, "%.*s", (int)(eq - kv) > GUEST_NAME_MAX ?
	    GUEST_NAME_MAX + 1 : (int)(eq - kv), kv);
	if (!guest_name_ok(name)) {
		snprintf(err, errlen, "--guest-peer %.80s: guest name \"%.80s\":"
		    " want 1..64 of A-Z a-z 0-9 . _ : @ + - (not starting with"
		    " .)", kv, name);
		return -1;
	}
	val = eq + 1;
	p = (struct guest_peers *)guest_peers_find(t, name);
	if (p == NULL) {
		v = realloc(t->v, (t->n + 1) * sizeof *v);
		if (v == NULL)
			goto nomem;
		t->v = v;
		p = &t->v[t->n];
		memset(p, 0, sizeof *p);
		if ((p->name = strdup(name)) == NULL)
			goto nomem;
		t->n++;
	}
	/* A DN has commas of its own: the whole value is one ID. */
	if (strchr(val, '=') != NULL) {
		if (!peer_id_ok(val, strlen(val))) {
			snprintf(err, errlen, "--guest-peer %.80s: the DN is "
			    "empty, longer than %d bytes or has a control "
			    "character", kv, GUEST_PEER_ID_MAX);
			return -1;
		}
		if (peers_add(p, val, strlen(val)) == -1)
			goto nomem;
		return 0;
	}
	for (id = val; ; id = end + 1) {
		end = strchr(id, ',');
		len = end ? (size_t)(end - id) : strlen(id);
		if (!peer_id_ok(id, len)) {
			snprintf(err, errlen, "--guest-peer %.80s: an identity "
			    "is empty, longer than %d bytes or has a control "
			    "character", kv, GUEST_PEER_ID_MAX);
			return -1;
		}
		if (peers_add(p, id, len) == -1)
			goto nomem;
		if (end == NULL)
			return 0;
	}
nomem:
	snprintf(err, errlen, "--guest-peer %.80s: %s", kv, strerror(ENOMEM));
	return -1;
}

const struct guest_peers *
guest_peers_find(const struct peer_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

void
peer_table_free(struct peer_table *t)
{
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		for (j = 0; j < t->v[i].n; j++)
			free(t->v[i].ids[j]);
		free(t->v[i].ids);
		free(t->v[i].name);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
