/* domain/guest/proc-guest.c -- arena, allocator and control socket of a
 * proc guest (see proc-guest.h and ../proc-proto.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "proc-guest: "
#include "log.h"
#include "util.h"
#include "proc-guest.h"
#include "proc-kernel.h"
#include "proc-proto.h"

#define ARENA_MAGIC	0x414e455241534d52ull	/* "RMSARENA" */
#define ARENA_VERSION	1u
#define ARENA_MIN_CLASS	5		/* 32-byte blocks, header included */
#define ARENA_MAX_CLASS	20		/* 1 MiB; larger blocks are "large" */
#define ARENA_LARGE	0xffu
#define BLK_MAGIC	0x4b4c4252u	/* "RBLK" */

/* At offset 0 of the arena; replicated with it. */
struct arena_hdr {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	page_size;
	uint64_t	size;
	uint64_t	base;
	uint64_t	prog_magic;
	uint64_t	brk;		/* offset of the first never-used byte */
	uint64_t	generation;	/* times resumed from a replica */
	void		*root;
	void		*free_head[ARENA_MAX_CLASS + 1];
};

struct blk {
	uint32_t	magic;
	uint32_t	cls;
	uint64_t	size;		/* bytes after the header */
};
_Static_assert(sizeof(struct blk) == 16, "block header keeps 16-byte alignment");

struct proc_guest {
	struct arena_hdr	*hdr;	/* == arena base */
	uint64_t		size;
	uint32_t		page_size;
	int			memfd;
	int			uffd;
	int			listen_fd;
	int			ctl_fd;
	int			resume_efd;	/* this controller's, or -1 */
	uint64_t		ctl_gen;	/* controllers attached so far */
	int			epfd;
	int			resumed;
	char			sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char			*cmd;	/* exe\0argv0\0...argvN\0 */
	uint32_t		cmd_len;
	uint32_t		argc;
	proc_guest_suspend_fn	on_suspend;
	void			*on_suspend_arg;
	volatile sig_atomic_t	*stop;
};

/* ---- Arena ---------------------------------------------------------- */

static int
map_arena(struct proc_guest *g, uint64_t base)
{
	void *p;

	p = mmap((void *)(uintptr_t)base, g->size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED_NOREPLACE, g->memfd, 0);
	if (p == MAP_FAILED) {
		log_warn("map arena at %#llx (%llu bytes)",
		    (unsigned long long)base, (unsigned long long)g->size);
		return -1;
	}
	if (p != (void *)(uintptr_t)base) {
		/* A kernel before 4.17 takes MAP_FIXED_NOREPLACE as a hint. */
		munmap(p, g->size);
		log_warnx("arena address %#llx is taken",
		    (unsigned long long)base);
		errno = EEXIST;
		return -1;
	}
	g->hdr = p;
	return 0;
}

static int
load_replica(struct proc_guest *g, const char *path, uint64_t prog_magic)
{
	struct arena_hdr h;
	struct stat st;
	uint64_t off = 0;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_warn("resume: %s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || pread(fd, &h, sizeof h, 0) !=
	    (ssize_t)sizeof h) {
		log_warnx("resume: %s: not an arena (no header)", path);
		errno = EINVAL;
		goto err;
	}
	if (h.magic != ARENA_MAGIC || h.version != ARENA_VERSION ||
	    h.page_size != g->page_size || h.size != (uint64_t)st.st_size ||
	    h.size < g->page_size || h.size % g->page_size != 0 ||
	    h.base % g->page_size != 0) {
		log_warnx("resume: %s: not an arena of this program "
		    "(bad header, or size %lld differs)", path,
		    (long long)st.st_size);
		errno = EINVAL;
		goto err;
	}
	if (h.prog_magic != prog_magic) {
		log_warnx("resume: %s: arena of another program "
		    "(magic %#llx, want %#llx)", path,
		    (unsigned long long)h.prog_magic,
		    (unsigned long long)prog_magic);
		errno = EINVAL;
		goto err;
	}
	g->size = h.size;
	if (ftruncate(g->memfd, (off_t)g->size) == -1) {
		log_warn("resume: size the arena");
		goto err;
	}
	if (map_arena(g, h.base) == -1)
		goto err;
	/* Copy, not map: the guest's arena must be a memfd (shmem) for
	 * userfaultfd write-protect and for remus to map it, and the
	 * replica file stays the backup's. */
	while (off < g->size) {
		n = pread(fd, (char *)g->hdr + off, g->size - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			log_warn("resume: read %s", path);
			goto err;
		}
		off += (uint64_t)n;
	}
	close(fd);
	g->hdr->generation++;
	g->resumed = 1;
	return 0;
err:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void
init_arena(struct proc_guest *g, uint64_t prog_magic)
{
	struct arena_hdr *h = g->hdr;

	memset(h, 0, sizeof *h);
	h->magic = ARENA_MAGIC;
	h->version = ARENA_VERSION;
	h->page_size = g->page_size;
	h->size = g->size;
	h->base = (uintptr_t)g->hdr;
	h->prog_magic = prog_magic;
	h->brk = ALIGN_UP((uint64_t)sizeof *h, 16);
}

void *
proc_guest_alloc(struct proc_guest *g, size_t len)
{
	struct arena_hdr *h = g->hdr;
	struct blk *b;
	uint64_t need, off;
	unsigned cls;

	if (len > g->size) {
		errno = ENOMEM;
		return NULL;
	}
	need = (uint64_t)len + sizeof *b;
	if (need <= (1ull << ARENA_MAX_CLASS)) {
		cls = ARENA_MIN_CLASS;
		while ((1ull << cls) < need)
			cls++;
		if (h->free_head[cls]) {
			b = h->free_head[cls];
			h->free_head[cls] = *(void **)(b + 1);
			b->magic = BLK_MAGIC;
			return b + 1;
		}
		need = 1ull << cls;
		off = h->brk;
	} else {
		/* Page-align the payload of large blocks (page tables,
		 * working sets). */
		cls = ARENA_LARGE;
		off = ALIGN_UP(h->brk + sizeof *b, (uint64_t)g->page_size) -
		    sizeof *b;
		need = ALIGN_UP(need, (uint64_t)g->page_size);
	}
	if (off + need > g->size || off + need < off) {
		errno = ENOMEM;
		return NULL;
	}
	b = (struct blk *)((char *)h + off);
	b->magic = BLK_MAGIC;
	b->cls = cls;
	b->size = need - sizeof *b;
	h->brk = off + need;
	return b + 1;
}

void *
proc_guest_calloc(struct proc_guest *g, size_t len)
{
	void *p = proc_guest_alloc(g, len);

	if (p)
		memset(p, 0, len);
	return p;
}

void
proc_guest_free(struct proc_guest *g, void *p)
{
	struct blk *b;

	if (p == NULL)
		return;
	b = (struct blk *)p - 1;
	/* A wild or double free would corrupt the arena: a program bug. */
	if (b->magic != BLK_MAGIC)
		fatalx("arena free of a bad pointer %p", p);
	if (b->cls == ARENA_LARGE)
		return;
	b->magic = 0;
	*(void **)(b + 1) = g->hdr->free_head[b->cls];
	g->hdr->free_head[b->cls] = b;
}

void *
proc_guest_root(const struct proc_guest *g)
{
	return g->hdr->root;
}

void
proc_guest_set_root(struct proc_guest *g, void *root)
{
	g->hdr->root = root;
}

void *
proc_guest_arena(const struct proc_guest *g, size_t *size)
{
	if (size)
		*size = g->size;
	return g->hdr;
}

int
proc_guest_resumed(const struct proc_guest *g)
{
	return g->resumed;
}

/* ---- Dirty tracking setup ------------------------------------------- */

/* Register the arena for async write-protect: the kernel then resolves
 * write faults on protected pages by itself, and remus reads and
 * re-protects through PAGEMAP_SCAN.  The uffd must stay open for the
 * registration to live.  Failure is not an error: remus may use
 * soft-dirty bits instead, and says so if neither works. */
static void
register_uffd(struct proc_guest *g)
{
	struct uffdio_api api;
	struct uffdio_register reg;
	const char *env = getenv("REMUS_PROC_DIRTY");
	int fd;

	if (env && (strcmp(env, "softdirty") == 0 ||
	    strcmp(env, "soft-dirty") == 0)) {
		log_debug("uffd-wp not registered: REMUS_PROC_DIRTY=%s", env);
		return;
	}
	/* UFFD_USER_MODE_ONLY keeps unprivileged guests working where
	 * vm.unprivileged_userfaultfd is 0; kernels before 5.11 reject
	 * it, and have no WP_ASYNC anyway. */
	fd = (int)syscall(SYS_userfaultfd,
	    O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd == -1) {
		log_debug("userfaultfd: %s", strerror(errno));
		return;
	}
	memset(&api, 0, sizeof api);
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	if (ioctl(fd, UFFDIO_API, &api) == -1) {
		log_debug("userfaultfd: no async write-protect for shmem "
		    "(Linux >= 6.7): %s", strerror(errno));
		close(fd);
		return;
	}
	memset(&reg, 0, sizeof reg);
	reg.range.start = (uintptr_t)g->hdr;
	reg.range.len = g->size;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(fd, UFFDIO_REGISTER, &reg) == -1) {
		log_debug("userfaultfd: register the arena: %s",
		    strerror(errno));
		close(fd);
		return;
	}
	g->uffd = fd;
}

const char *
proc_guest_tracking(const struct proc_guest *g)
{
	return g->uffd != -1 ? "uffd-wp" : "none";
}

/* ---- Control socket ------------------------------------------------- */

static int
build_cmd(struct proc_guest *g, int argc, char **argv)
{
	char exe[PATH_MAX];
	size_t len, total = 0;
	ssize_t n;
	int i;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		log_warn("readlink /proc/self/exe");
		return -1;
	}
	exe[n] = '\0';
	if (argc < 1 || argc > PROC_ARGC_MAX) {
		log_warnx("restart command: %d arguments (1..%d)", argc,
		    PROC_ARGC_MAX);
		errno = E2BIG;
		return -1;
	}
	total = (size_t)n + 1;
	for (i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	if (total > PROC_CMD_MAX) {
		log_warnx("restart command longer than %d bytes",
		    PROC_CMD_MAX);
		errno = E2BIG;
		return -1;
	}
	g->cmd = malloc(total);
	if (g->cmd == NULL)
		return -1;
	memcpy(g->cmd, exe, (size_t)n + 1);
	len = (size_t)n + 1;
	for (i = 0; i < argc; i++) {
		memcpy(g->cmd + len, argv[i], strlen(argv[i]) + 1);
		len += strlen(argv[i]) + 1;
	}
	g->cmd_len = (uint32_t)len;
	g->argc = (uint32_t)argc;
	return 0;
}

static int
start_listening(struct proc_guest *g)
{
	struct sockaddr_un sun;
	struct epoll_event ev;
	const char *dir;
	char *slash;

	if (proc_sock_path(getpid(), g->sock_path, sizeof g->sock_path) == -1) {
		log_warn("control socket path (%s)", PROC_RUNDIR_ENV);
		return -1;
	}
	dir = g->sock_path;
	slash = strrchr(g->sock_path, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			log_warn("mkdir %s", dir);
			*slash = '/';
			return -1;
		}
		*slash = '/';
	}
	g->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (g->listen_fd == -1) {
		log_warn("socket");
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, g->sock_path, strlen(g->sock_path) + 1);
	/* A stale socket of an earlier process with our pid. */
	unlink(g->sock_path);
	if (bind(g->listen_fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(g->listen_fd, 4) == -1) {
		log_warn("control socket %s", g->sock_path);
		g->sock_path[0] = '\0';
		return -1;
	}
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd == -1) {
		log_warn("epoll_create1");
		return -1;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = g->listen_fd;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->listen_fd, &ev) == -1) {
		log_warn("epoll_ctl");
		return -1;
	}
	return 0;
}

struct proc_guest *
proc_guest_open(const struct proc_guest_opts *o)
{
	struct proc_guest *g;
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t base = o->arena_base ? o->arena_base : PROC_ARENA_BASE_DEFAULT;
	int saved;

	g = calloc(1, sizeof *g);
	if (g == NULL)
		return NULL;
	g->memfd = g->uffd = g->listen_fd = g->ctl_fd = g->epfd = -1;
	g->resume_efd = -1;
	g->page_size = (uint32_t)ps;
	if (build_cmd(g, o->argc, o->argv) == -1)
		goto err;
	g->memfd = memfd_create("remus-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (g->memfd == -1) {
		log_warn("memfd_create");
		goto err;
	}
	if (o->resume_file) {
		if (load_replica(g, o->resume_file, o->prog_magic) == -1)
			goto err;
	} else {
		g->size = ALIGN_UP(o->arena_size, (uint64_t)ps);
		if (g->size < 16 * (uint64_t)ps || base % (uint64_t)ps != 0) {
			log_warnx("arena of %llu bytes at %#llx: too small or "
			    "misaligned (at least 16 pages)",
			    (unsigned long long)o->arena_size,
			    (unsigned long long)base);
			errno = EINVAL;
			goto err;
		}
		if (ftruncate(g->memfd, (off_t)g->size) == -1) {
			log_warn("size the arena (%llu bytes)",
			    (unsigned long long)g->size);
			goto err;
		}
		if (map_arena(g, base) == -1)
			goto err;
		init_arena(g, o->prog_magic);
	}
	/* remus maps the memfd too: a shrink would turn its copy into a
	 * SIGBUS.  Fix the size for good (remus checks the seals). */
	if (fcntl(g->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) == -1) {
		log_warn("seal the arena memfd");
		goto err;
	}
	/* Keep the arena's pages mapped: reclaim would unmap a written
	 * shmem page and take its written/soft-dirty state with it.
	 * MLOCK_ONFAULT locks pages as they are touched.  Best effort:
	 * unprivileged guests may hit RLIMIT_MEMLOCK. */
	if (mlock2(g->hdr, g->size, MLOCK_ONFAULT) == -1)
		log_debug("mlock the arena: %s", strerror(errno));
	/* Dirty tracking is per page table entry: a huge page would make
	 * one written byte cost 2 MiB of copy. */
	if (madvise(g->hdr, g->size, MADV_NOHUGEPAGE) == -1)
		log_debug("madvise NOHUGEPAGE: %s", strerror(errno));
	register_uffd(g);
	if (start_listening(g) == -1)
		goto err;
	log_debug("arena %llu bytes at %p, tracking %s, socket %s",
	    (unsigned long long)g->size, (void *)g->hdr,
	    proc_guest_tracking(g), g->sock_path);
	return g;
err:
	saved = errno;
	proc_guest_close(g);
	errno = saved;
	return NULL;
}

void
proc_guest_close(struct proc_guest *g)
{
	if (g == NULL)
		return;
	if (g->ctl_fd != -1)
		close(g->ctl_fd);
	if (g->resume_efd != -1)
		close(g->resume_efd);
	if (g->listen_fd != -1) {
		if (g->sock_path[0])
			unlink(g->sock_path);
		close(g->listen_fd);
	}
	if (g->epfd != -1)
		close(g->epfd);
	if (g->uffd != -1)
		close(g->uffd);
	if (g->hdr)
		munmap(g->hdr, g->size);
	if (g->memfd != -1)
		close(g->memfd);
	free(g->cmd);
	free(g);
}

int
proc_guest_fd(const struct proc_guest *g)
{
	return g->epfd;
}

int
proc_guest_attached(const struct proc_guest *g)
{
	return g->ctl_fd != -1;
}

void
proc_guest_on_suspend(struct proc_guest *g, proc_guest_suspend_fn fn,
    void *arg)
{
	g->on_suspend = fn;
	g->on_suspend_arg = arg;
}

void
proc_guest_set_stop(struct proc_guest *g, volatile sig_atomic_t *stop)
{
	g->stop = stop;
}

static volatile sig_atomic_t *signal_stop;	/* proc_guest_start's */

static void
on_stop_signal(int sig)
{
	(void)sig;
	*signal_stop = 1;
}

struct proc_guest *
proc_guest_start(const struct proc_guest_opts *o, volatile sig_atomic_t *stop)
{
	struct proc_guest *g;
	struct sigaction sa;

	signal_stop = stop;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;	/* no SA_RESTART: wake the poll */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	g = proc_guest_open(o);
	if (g != NULL)
		proc_guest_set_stop(g, stop);
	return g;
}

static int
send_hello(struct proc_guest *g, int fd, int efd)
{
	struct proc_hello h;
	struct iovec iov[2];
	struct msghdr msg;
	union {
		char		buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr	align;
	} u;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&h, 0, sizeof h);
	h.type = PROC_MSG_HELLO;
	h.magic = PROC_PROTO_MAGIC;
	h.version = PROC_PROTO_VERSION;
	h.page_size = g->page_size;
	h.arena_size = g->size;
	h.arena_base = (uintptr_t)g->hdr;
	h.flags = (g->uffd != -1 ? PROC_HELLO_UFFD_WP : 0) |
	    (g->resumed ? PROC_HELLO_RESUMED : 0) | PROC_HELLO_RESUME_EFD;
	h.cmd_len = g->cmd_len;
	h.pid = (int32_t)getpid();
	h.argc = g->argc;
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof h;
	iov[1].iov_base = g->cmd;
	iov[1].iov_len = g->cmd_len;
	memset(&msg, 0, sizeof msg);
	memset(&u, 0, sizeof u);
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof u.buf;
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * 2);
	memcpy(CMSG_DATA(cm), &g->memfd, sizeof(int));
	memcpy(CMSG_DATA(cm) + sizeof(int), &efd, sizeof(int));
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)(sizeof h + g->cmd_len)) {
		log_warn("send hello");
		return -1;
	}
	return 0;
}

static int
send_msg(int fd, uint32_t type, uint64_t seq)
{
	struct proc_msg m;
	ssize_t n;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.seq = seq;
	do
		n = send(fd, &m, sizeof m, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof m ? 0 : -1;
}

static void
detach(struct proc_guest *g, const char *why)
{
	epoll_ctl(g->epfd, EPOLL_CTL_DEL, g->ctl_fd, NULL);
	close(g->ctl_fd);
	g->ctl_fd = -1;
	close(g->resume_efd);
	g->resume_efd = -1;
	log_debug("controller detached: %s", why);
}

/* Is the attached controller still there?  A remus killed -9 leaves its
 * EOF queued; the next remus may connect before we read it, and must not
 * be refused for a dead one. */
static int
controller_alive(struct proc_guest *g)
{
	struct pollfd p = { .fd = g->ctl_fd, .events = POLLIN | POLLRDHUP };

	if (poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)))
		return 0;
	return 1;
}

static void
accept_controllers(struct proc_guest *g)
{
	struct epoll_event ev;
	int fd, efd;

	for (;;) {
		fd = accept4(g->listen_fd, NULL, NULL,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (g->ctl_fd != -1 && !controller_alive(g))
			detach(g, "connection closed");
		if (g->ctl_fd != -1) {
			send_msg(fd, PROC_MSG_BUSY, 0);
			close(fd);
			log_warnx("refused a second controller: one is "
			    "attached");
			continue;
		}
		/* A fresh eventfd per controller: no stale count from a
		 * dead one. */
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
		if (efd == -1) {
			log_warn("eventfd");
			close(fd);
			continue;
		}
		if (send_hello(g, fd, efd) == -1) {
			close(efd);
			close(fd);
			continue;
		}
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_warn("epoll_ctl");
			close(efd);
			close(fd);
			continue;
		}
		g->ctl_fd = fd;
		g->resume_efd = efd;
		g->ctl_gen++;
		log_debug("controller attached");
	}
}

/* Read one control message.  1: got one; 0: nothing there; -1: the
 * controller went away (detached). */
static int
recv_ctl(struct proc_guest *g, struct proc_msg *m)
{
	ssize_t n;

	do
		n = recv(g->ctl_fd, m, sizeof *m, MSG_DONTWAIT | MSG_TRUNC);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		detach(g, n == 0 ? "connection closed" : strerror(errno));
		return -1;
	}
	if (n != (ssize_t)sizeof *m) {
		log_warnx("control message of %zd bytes, want %zu: "
		    "detaching", n, sizeof *m);
		detach(g, "bad message");
		return -1;
	}
	return 1;
}

/* Suspended at a safe point: wait for RESUME or for the controller to
 * leave.  Controllers that connect meanwhile are refused, unless ours is
 * dead already (then the suspend ends and the new one is attached). */
static int
wait_resume(struct proc_guest *g, uint64_t seq)
{
	struct pollfd pfd[3];
	struct proc_msg m;
	uint64_t gen = g->ctl_gen, one;
	int rc;

	for (;;) {
		if (g->stop && *g->stop) {
			errno = EINTR;
			return -1;
		}
		pfd[0].fd = g->ctl_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = g->listen_fd;
		pfd[1].events = POLLIN;
		pfd[2].fd = g->resume_efd;
		pfd[2].events = POLLIN;
		rc = poll(pfd, 3, -1);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			return -1;
		}
		if (pfd[1].revents) {
			accept_controllers(g);
			/* Our controller died and a new one took its
			 * place: this suspend is over. */
			if (g->ctl_gen != gen)
				return 0;
		}
		/* RESUME by eventfd (see proc-proto.h); it takes one. */
		if (pfd[2].revents && read(g->resume_efd, &one,
		    sizeof one) == (ssize_t)sizeof one)
			return 0;
		if (pfd[0].revents == 0)
			continue;
		rc = recv_ctl(g, &m);
		if (rc == -1)
			return 0;	/* remus is gone: run unprotected */
		if (rc == 0)
			continue;
		/* Messages come in order, so RESUME is this suspend's;
		 * the seq check guards against a confused controller. */
		if (m.type == PROC_MSG_RESUME && m.seq == seq)
			return 0;
		log_debug("suspended (seq %llu): ignored message %u seq %llu",
		    (unsigned long long)seq, m.type,
		    (unsigned long long)m.seq);
	}
}

int
proc_guest_poll(struct proc_guest *g, int timeout_ms)
{
	struct epoll_event ev[4];
	struct proc_msg m;
	int n, i, rc, cycles = 0;

	do
		n = epoll_wait(g->epfd, ev, 4, timeout_ms);
	while (n == -1 && errno == EINTR && !(g->stop && *g->stop));
	if (n == -1) {
		if (errno == EINTR)
			return 0;
		log_warn("epoll_wait");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ev[i].data.fd == g->listen_fd) {
			accept_controllers(g);
			continue;
		}
		/* Drain the controller: several messages may be queued. */
		while (g->ctl_fd != -1 && ev[i].data.fd == g->ctl_fd) {
			rc = recv_ctl(g, &m);
			if (rc <= 0)
				break;
			if (m.type != PROC_MSG_SUSPEND) {
				log_debug("ignored message %u (not suspended)",
				    m.type);
				continue;
			}
			if (g->on_suspend)
				g->on_suspend(g->on_suspend_arg, m.seq);
			if (send_msg(g->ctl_fd, PROC_MSG_SUSPENDED, m.seq) == -1) {
				detach(g, strerror(errno));
				break;
			}
			if (wait_resume(g, m.seq) == -1)
				return -1;
			cycles++;
		}
	}
	return cycles;
}

void
proc_guest_ready(struct proc_guest *g)
{
	const char *env = getenv("REMUS_PROC_READY_FD");
	uint64_t fd;
	char c = 'R';

	(void)g;
	if (env == NULL)
		return;
	if (parse_uint(env, 3, INT_MAX, &fd) == 0) {
		if (write((int)fd, &c, 1) != 1)
			log_warn("tell the activator we run");
		close((int)fd);
	}
	unsetenv("REMUS_PROC_READY_FD");
}

int
proc_guest_write_pidfile(const char *path)
{
	char tmp[PATH_MAX], buf[32];
	int fd, n, saved;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (write_full(fd, buf, (size_t)n) == -1 || close(fd) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}
