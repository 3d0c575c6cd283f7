/* remus-kvd -- an in-memory key-value server that remus can protect.
 *
 *   remus-kvd --listen ADDR:PORT [--arena-size SIZE] [--pidfile FILE]
 *             [--resume FILE] [-v]
 *
 * Line protocol over TCP, one request per line, one reply line each:
 *
 *   SET k v   -> OK            (v is the rest of the line, may hold spaces)
 *   GET k     -> VALUE v | NOTFOUND
 *   INCR k    -> VALUE n       (a missing key counts from 0)
 *   DEL k     -> OK | NOTFOUND
 *   COUNT     -> VALUE <number of keys>
 *   PING      -> PONG
 *   QUIT      -> (closes the connection)
 *   anything else -> ERR <why>
 *
 * Single-threaded poll loop; every key and value, the hash table and the
 * counters live in the proc guest arena, so a backup restarts it with
 * --resume on a replica and clients find their keys.  The safe point is
 * between requests, and a reply is written only after its change is in
 * the arena.  Client connections are process state: they are lost on
 * failover and clients reconnect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "proc-guest.h"

#define KVD_MAGIC	0x3144564b53554d52ull	/* "RMUSKVD1" */
#define KEY_MAX		250
#define LINE_MAX_LEN	16384
#define CLIENTS_MAX	1024
#define BUCKETS_MIN	1024
#define OUT_MAX		(1 << 20)	/* stop reading a client that does not read */

/* In the arena. */
struct kv {
	struct kv	*next;
	uint64_t	hash;
	uint32_t	klen;
	uint32_t	vlen;
	char		data[];		/* key then value, no NULs */
};

struct kvd_root {
	uint64_t	magic;
	uint64_t	nbuckets;	/* a power of two */
	struct kv	**buckets;
	uint64_t	count;
	uint64_t	ops;		/* requests served, ever */
};

/* Process state, not replicated. */
struct client {
	int		fd;
	size_t		inlen;
	char		in[LINE_MAX_LEN];
	char		*out;
	size_t		outlen, outoff, outcap;
	int		closing;
};

static volatile sig_atomic_t stop;
static struct proc_guest *guest;
static struct kvd_root *root;
static struct client *clients[CLIENTS_MAX];
static size_t nclients;

static void __dead
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: remus-kvd --listen ADDR:PORT [--arena-size SIZE] "
	    "[--pidfile FILE]\n"
	    "                 [--resume FILE] [-v]\n");
	exit(status);
}

/* ---- The table (arena) ------------------------------------------------ */

static uint64_t
hash_key(const char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	while (len--) {
		h ^= (uint8_t)*k++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct kv **
lookup(const char *k, size_t klen, uint64_t h)
{
	struct kv **pp = &root->buckets[h & (root->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen &&
		    memcmp((*pp)->data, k, klen) == 0)
			return pp;
	return pp;
}

/* Double the table when it gets crowded; on a full arena keep going with
 * longer chains.  The old bucket array (a large block) is not reused. */
static void
maybe_grow(void)
{
	struct kv **nb, *e, *next;
	uint64_t n = root->nbuckets * 2, i;

	if (root->count < root->nbuckets * 2)
		return;
	nb = proc_guest_calloc(guest, n * sizeof *nb);
	if (nb == NULL)
		return;
	for (i = 0; i < root->nbuckets; i++) {
		for (e = root->buckets[i]; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	proc_guest_free(guest, root->buckets);
	root->buckets = nb;
	root->nbuckets = n;
}

static int
kv_set(const char *k, size_t klen, const char *v, size_t vlen)
{
	uint64_t h = hash_key(k, klen);
	struct kv **pp = lookup(k, klen, h), *e;

	e = proc_guest_alloc(guest, sizeof *e + klen + vlen);
	if (e == NULL)
		return -1;
	e->hash = h;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e->data, k, klen);
	memcpy(e->data + klen, v, vlen);
	if (*pp) {
		e->next = (*pp)->next;
		proc_guest_free(guest, *pp);
	} else {
		e->next = NULL;
		root->count++;
	}
	*pp = e;
	maybe_grow();
	return 0;
}

/* ---- Requests ----------------------------------------------------------- */

static void
reply(struct client *c, const char *s, size_t len)
{
	char *n;
	size_t cap;

	if (c->outlen + len + 1 > c->outcap) {
		cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + len + 1)
			cap *= 2;
		n = realloc(c->out, cap);
		if (n == NULL) {
			c->closing = 1;
			return;
		}
		c->out = n;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, s, len);
	c->outlen += len;
	c->out[c->outlen++] = '\n';
}

static void
reply_str(struct client *c, const char *s)
{
	reply(c, s, strlen(s));
}

static void
reply_value(struct client *c, const char *v, size_t len)
{
	char buf[LINE_MAX_LEN + 8];

	memcpy(buf, "VALUE ", 6);
	memcpy(buf + 6, v, len);
	reply(c, buf, len + 6);
}

/* Split "KEY[ REST]"; 0, or -1 for a bad key. */
static int
split_key(char *arg, size_t len, size_t *klen, char **rest, size_t *rlen)
{
	char *sp = memchr(arg, ' ', len);

	*klen = sp ? (size_t)(sp - arg) : len;
	*rest = sp ? sp + 1 : arg + len;
	*rlen = sp ? len - *klen - 1 : 0;
	return *klen == 0 || *klen > KEY_MAX ? -1 : 0;
}

static void
handle(struct client *c, char *line, size_t len)
{
	char *arg, *val, num[32];
	size_t klen, vlen, cmdlen;
	struct kv **pp, *e;
	long long n;
	char *end;
	int has_arg;

	if (len && line[len - 1] == '\r')
		len--;
	root->ops++;
	arg = memchr(line, ' ', len);
	cmdlen = arg ? (size_t)(arg - line) : len;
	has_arg = arg != NULL;
	if (arg) {
		arg++;
		len -= cmdlen + 1;
	} else
		len = 0;
#define IS(s)	(cmdlen == sizeof(s) - 1 && strncasecmp(line, s, cmdlen) == 0)
	if (IS("PING")) {
		reply_str(c, "PONG");
		return;
	}
	if (IS("QUIT")) {
		c->closing = 1;
		return;
	}
	if (IS("COUNT")) {
		snprintf(num, sizeof num, "%" PRIu64, root->count);
		reply_value(c, num, strlen(num));
		return;
	}
	if (!IS("SET") && !IS("GET") && !IS("DEL") && !IS("INCR")) {
		reply_str(c, "ERR unknown command");
		return;
	}
	if (!has_arg || split_key(arg, len, &klen, &val, &vlen) == -1) {
		reply_str(c, "ERR bad key (1 to 250 bytes, no spaces)");
		return;
	}
	if (IS("SET")) {
		if (kv_set(arg, klen, val, vlen) == -1)
			reply_str(c, "ERR arena full");
		else
			reply_str(c, "OK");
		return;
	}
	if (vlen) {
		reply_str(c, "ERR extra arguments");
		return;
	}
	pp = lookup(arg, klen, hash_key(arg, klen));
	e = *pp;
	if (IS("GET")) {
		if (e)
			reply_value(c, e->data + e->klen, e->vlen);
		else
			reply_str(c, "NOTFOUND");
	} else if (IS("DEL")) {
		if (e) {
			*pp = e->next;
			proc_guest_free(guest, e);
			root->count--;
			reply_str(c, "OK");
		} else
			reply_str(c, "NOTFOUND");
	} else {	/* INCR */
		n = 0;
		if (e) {
			if (e->vlen == 0 || e->vlen >= sizeof num) {
				reply_str(c, "ERR not an integer");
				return;
			}
			memcpy(num, e->data + e->klen, e->vlen);
			num[e->vlen] = '\0';
			errno = 0;
			n = strtoll(num, &end, 10);
			if (errno || *end) {
				reply_str(c, "ERR not an integer");
				return;
			}
		}
		if (n == INT64_MAX) {
			reply_str(c, "ERR overflow");
			return;
		}
		snprintf(num, sizeof num, "%lld", n + 1);
		if (kv_set(arg, klen, num, strlen(num)) == -1)
			reply_str(c, "ERR arena full");
		else
			reply_value(c, num, strlen(num));
	}
#undef IS
}

/* ---- Connections ---------------------------------------------------------- */

static void
drop_client(size_t i)
{
	struct client *c = clients[i];

	close(c->fd);
	free(c->out);
	free(c);
	clients[i] = clients[--nclients];
}

static int
flush_client(struct client *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

static int
read_client(struct client *c)
{
	char *nl;
	size_t used;
	ssize_t n;

	n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	used = 0;
	while (!c->closing &&
	    (nl = memchr(c->in + used, '\n', c->inlen - used)) != NULL) {
		handle(c, c->in + used, (size_t)(nl - (c->in + used)));
		used = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	if (c->inlen == sizeof c->in) {
		reply_str(c, "ERR line too long");
		c->closing = 1;
	}
	return 0;
}

static void
accept_clients(int lfd)
{
	struct client *c;
	int fd, one = 1;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (nclients == CLIENTS_MAX) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		clients[nclients++] = c;
	}
}

static int
listen_on(const char *spec, char *shown, size_t shown_len)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[256], *colon, hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	const char *h, *port;
	int fd = -1, one = 1, rc;

	if (strlen(spec) >= sizeof host)
		fatalx("--listen %s: too long", spec);
	strcpy(host, spec);
	colon = strrchr(host, ':');
	if (colon == NULL)
		fatalx("--listen %s: expected ADDR:PORT", spec);
	*colon = '\0';
	port = colon + 1;
	h = host;
	if (host[0] == '[' && colon > host && colon[-1] == ']') {
		colon[-1] = '\0';
		h = host + 1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(*h ? h : NULL, port, &hints, &res);
	if (rc != 0)
		fatalx("--listen %s: %s", spec, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		fatal("--listen %s", spec);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf,
	    sizeof pbuf, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(shown, shown_len, strchr(hbuf, ':') ? "[%s]:%s" :
		    "%s:%s", hbuf, pbuf);
	else
		snprintf(shown, shown_len, "%s", spec);
	return fd;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "arena-size", required_argument, NULL, 'a' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "resume", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct pollfd pfd[CLIENTS_MAX + 2];
	struct proc_guest_opts go;
	uint64_t arena = 256ull << 20, nb;
	const char *listen_spec = NULL, *pidfile = NULL, *resume = NULL;
	const char *arena_arg = "256M";
	char shown[300];
	int c, verbose = 0, lfd, n;
	size_t i, np;

	while ((c = getopt_long(argc, argv, "l:a:p:R:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'a':
			if (parse_size(optarg, &arena) == -1)
				fatalx("--arena-size %s: not a size", optarg);
			arena_arg = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'R':
			resume = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc || listen_spec == NULL)
		usage(1);
	log_init("remus-kvd", 1, verbose);
	if (arena < (1 << 20))
		fatalx("--arena-size %s: at least 1M", arena_arg);

	memset(&go, 0, sizeof go);
	go.arena_size = arena;
	go.resume_file = resume;
	go.prog_magic = KVD_MAGIC;
	go.argc = argc;
	go.argv = argv;
	guest = proc_guest_start(&go, &stop);
	if (guest == NULL)
		return 1;
	if (proc_guest_resumed(guest)) {
		root = proc_guest_root(guest);
		if (root == NULL || root->magic != KVD_MAGIC)
			fatalx("resume: %s holds no key-value table", resume);
	} else {
		root = proc_guest_calloc(guest, sizeof *root);
		/* About one bucket per 4 KiB of arena to start with. */
		for (nb = BUCKETS_MIN; nb < arena / 4096 && nb < (1 << 20);
		    nb *= 2)
			;
		if (root)
			root->buckets = proc_guest_calloc(guest,
			    nb * sizeof *root->buckets);
		if (root == NULL || root->buckets == NULL)
			fatalx("arena too small");
		root->magic = KVD_MAGIC;
		root->nbuckets = nb;
		proc_guest_set_root(guest, root);
	}
	lfd = listen_on(listen_spec, shown, sizeof shown);
	if (pidfile && proc_guest_write_pidfile(pidfile) == -1)
		fatal("--pidfile %s", pidfile);
	printf("remus-kvd: pid %d listening on %s, %" PRIu64 " keys%s\n",
	    (int)getpid(), shown, root->count,
	    proc_guest_resumed(guest) ? " (resumed)" : "");
	fflush(stdout);
	proc_guest_ready(guest);

	while (!stop) {
		pfd[0].fd = proc_guest_fd(guest);
		pfd[0].events = POLLIN;
		pfd[1].fd = lfd;
		pfd[1].events = POLLIN;
		np = 2;
		for (i = 0; i < nclients; i++, np++) {
			pfd[np].fd = clients[i]->fd;
			pfd[np].events =
			    (clients[i]->outlen < OUT_MAX ? POLLIN : 0) |
			    (clients[i]->outlen ? POLLOUT : 0);
		}
		n = poll(pfd, np, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/* Safe point: between requests. */
		if (pfd[0].revents && proc_guest_poll(guest, 0) == -1 && stop)
			break;
		if (pfd[1].revents)
			accept_clients(lfd);
		/* Clients by index from the end: drop_client moves the
		 * last one into the hole, and new ones have no revents. */
		for (i = np - 2; i-- > 0;) {
			struct client *cl = clients[i];
			short re = pfd[i + 2].revents;

			if (re & (POLLIN | POLLHUP | POLLERR))
				if (read_client(cl) == -1)
					cl->closing = 2;
			if (cl->closing != 2 && flush_client(cl) == -1)
				cl->closing = 2;
			if (cl->closing == 2 ||
			    (cl->closing && cl->outlen == 0))
				drop_client(i);
		}
	}
	while (nclients)
		drop_client(nclients - 1);
	close(lfd);
	proc_guest_close(guest);
	return 0;
}
