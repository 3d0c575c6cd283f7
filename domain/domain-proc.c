/* domain/domain-proc.c -- the "proc" guest driver: a cooperating Linux
 * process whose whole state lives in a memfd arena (guest/proc-guest.h).
 *
 * Primary (domain_proc_ops): connect to the guest's control socket
 * (proc-proto.h), receive its arena memfd and map it read-only here; the
 * dirty log is read and cleared from this process through /proc/PID
 * (proc-dirty.h); copy_pages is memcpy from our own mapping.  Suspend is
 * cooperative: the guest stops at its next safe point and says so.
 *
 * Backup (replica_proc_ops): the replica is a file DIR/proc-arena.img
 * kept crash-consistent by proc-store.c: the receiver hands an epoch's
 * pages to commit_pages() (or writes them into a private working copy
 * for commit()), which journals them, applies them to the image and
 * records the epoch in DIR/proc-epoch, all or nothing across a kill -9
 * of remusd (and, with --proc-sync, of the host).
 * A new session keeps the previous session's replica committed on disk
 * until its own first commit replaces it, and never activates it; when
 * the primary can resync and the replica is of the same guest, the
 * session resumes it instead (resume(), hash_pages(): the first epoch
 * carries only the pages whose hash differs).
 * activate() starts the guest's program in resume mode on the image; the
 * failover that reads it runs on this host, through the page cache.
 *
 * Settings (struct domain_opts, from flags or remus.conf(5)):
 *   dirty_method, scan_threads  remus --dirty-method, --scan-threads
 *   proc_listen    remusd --proc-listen ADDR: activate() appends
 *                  "--listen ADDR" when the guest's command line had a
 *                  --listen (two guests on one host)
 *   proc_sync      remusd --proc-sync: fdatasync each step of a commit so
 *                  that it survives a crash of the host, not only of
 *                  remusd (without it such a replica is not offered after
 *                  the host restarted; remusd(8) has what each costs)
 *   suspend_timeout_ms    remus --suspend-timeout: suspend acknowledgement
 *                         and hello timeout (3000)
 *   activate_timeout_ms   remusd --activate-timeout: wait for the
 *                         activated guest (10000)
 * Environment:
 *   REMUS_PROC_RUNDIR        where guests listen (/run/remus; the guests
 *                            read it too)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <endian.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "fault.h"
#include "log.h"
#include "util.h"
#include "domain.h"
#include "drivers.h"
#include "proc-dirty.h"
#include "proc-proto.h"
#include "proc-store.h"

#define PROC_TIMEOUT_MS_DEFAULT		3000
#define PROC_ACTIVATE_MS_DEFAULT	10000
/* Runs at least this long are checked for holes (never-written parts of
 * the memfd) so that a full copy does not allocate them. */
#define HOLE_CHECK_PAGES		256

struct domain {
	char			name[32];	/* "pid N", for messages */
	pid_t			pid;
	int			sock;
	int			memfd;
	int			resume_efd;	/* or -1: RESUME on the socket */
	const uint8_t		*map;		/* arena, read-only, ours */
	uint64_t		size;
	uint64_t		base;		/* in the guest */
	uint32_t		page_size;
	unsigned		page_shift;
	uint64_t		nr_pages;
	uint32_t		flags;		/* PROC_HELLO_* */
	struct proc_dirty	*dirty;
	uint64_t		seq;		/* suspends sent */
	int			suspended;
	int			timeout_ms;
	uint8_t			*config;
	size_t			config_len;
};

/* ---- Primary -------------------------------------------------------- */

static int
connect_guest(struct domain *d, const char *spec)
{
	struct sockaddr_un sun;
	char path[sizeof sun.sun_path];
	uint64_t pid;
	int fd;

	if (spec[0] == '/') {
		if (strlen(spec) >= sizeof path) {
			log_warnx("proc:%s: socket path too long", spec);
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(path, spec);
	} else {
		if (parse_uint(spec, 1, INT_MAX, &pid) == -1) {
			log_warnx("proc:%s: expected a pid or a socket path",
			    spec);
			errno = EINVAL;
			return -1;
		}
		if (kill((pid_t)pid, 0) == -1 && errno == ESRCH) {
			log_warnx("proc:%s: no such process", spec);
			errno = ENOENT;
			return -1;
		}
		if (proc_sock_path((pid_t)pid, path, sizeof path) == -1) {
			log_warn("proc:%s: control socket path", spec);
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket");
		return -1;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			log_warnx("proc:%s: no proc guest listens on %s", spec,
			    path);
			errno = ENOENT;
		} else
			log_warn("proc:%s: connect %s", spec, path);
		close(fd);
		return -1;
	}
	d->sock = fd;
	return 0;
}

/* Wait up to D->timeout_ms for the socket to become readable. */
static int
wait_readable(struct domain *d, int timeout_ms)
{
	struct pollfd pfd = { .fd = d->sock, .events = POLLIN };
	uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000, now;
	int rc;

	for (;;) {
		now = now_us();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		rc = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
		if (rc == 1)
			return 0;
		if (rc == -1 && errno != EINTR)
			return -1;
	}
}

static int
check_cmd(const char *cmd, uint32_t len, uint32_t argc)
{
	uint32_t strings = 0, i;

	if (len == 0 || len > PROC_CMD_MAX || cmd[len - 1] != '\0')
		return -1;
	for (i = 0; i < len; i++)
		if (cmd[i] == '\0')
			strings++;
	/* The executable, then argv[0 .. argc-1]; no empty exe. */
	if (argc < 1 || argc > PROC_ARGC_MAX || strings != argc + 1 ||
	    cmd[0] == '\0')
		return -1;
	return 0;
}

static int
recv_hello(struct domain *d, const char *spec)
{
	uint8_t buf[PROC_HELLO_MAX];
	struct proc_hello h;
	struct msghdr msg;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
	union {
		char		b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr	align;
	} u;
	struct cmsghdr *cm;
	struct ucred cred;
	socklen_t clen = sizeof cred;
	struct proc_config *cfg;
	struct stat st;
	long ps = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int fds[4], nfds = 0, i, seals;

	if (wait_readable(d, d->timeout_ms) == -1) {
		if (errno == ETIMEDOUT)
			log_warnx("proc:%s: no hello within %d ms (is the "
			    "guest stuck outside its safe points?)", spec,
			    d->timeout_ms);
		else
			log_warn("proc:%s: poll", spec);
		return -1;
	}
	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.b;
	msg.msg_controllen = sizeof u.b;
	do
		n = recvmsg(d->sock, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		log_warn("proc:%s: receive hello", spec);
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; (size_t)i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
		    nfds < 4; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
	}
	/* The memfd, then (PROC_HELLO_RESUME_EFD) the resume eventfd;
	 * close anything else we were sent. */
	for (i = 2; i < nfds; i++)
		close(fds[i]);
	if (nfds > 0)
		d->memfd = fds[0];
	if (nfds > 1)
		d->resume_efd = fds[1];
	if (n == 0) {
		log_warnx("proc:%s: the guest closed the connection", spec);
		errno = ECONNRESET;
		return -1;
	}
	if ((size_t)n == sizeof(struct proc_msg) &&
	    ((struct proc_msg *)(void *)buf)->type == PROC_MSG_BUSY) {
		log_warnx("proc:%s: the guest is already protected by "
		    "another remus", spec);
		errno = EBUSY;
		return -1;
	}
	if ((size_t)n < sizeof h || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		log_warnx("proc:%s: bad hello (%zd bytes)", spec, n);
		errno = EPROTO;
		return -1;
	}
	memcpy(&h, buf, sizeof h);
	if (h.type != PROC_MSG_HELLO || h.magic != PROC_PROTO_MAGIC ||
	    h.version != PROC_PROTO_VERSION) {
		log_warnx("proc:%s: not a proc guest hello (type %u, magic "
		    "%#x, version %u)", spec, h.type, h.magic, h.version);
		errno = EPROTO;
		return -1;
	}
	if (h.page_size != (uint32_t)ps || h.arena_size == 0 ||
	    h.arena_size % h.page_size != 0 || h.arena_base % h.page_size ||
	    h.cmd_len != (size_t)n - sizeof h ||
	    check_cmd((const char *)buf + sizeof h, h.cmd_len, h.argc) == -1) {
		log_warnx("proc:%s: inconsistent hello (page size %u, arena "
		    "%llu bytes, command %u bytes)", spec, h.page_size,
		    (unsigned long long)h.arena_size, h.cmd_len);
		errno = EPROTO;
		return -1;
	}
	if (d->memfd == -1) {
		log_warnx("proc:%s: hello without the arena memfd", spec);
		errno = EPROTO;
		return -1;
	}
	if ((h.flags & PROC_HELLO_RESUME_EFD) && d->resume_efd == -1) {
		log_warnx("proc:%s: hello without its resume eventfd", spec);
		errno = EPROTO;
		return -1;
	}
	if (!(h.flags & PROC_HELLO_RESUME_EFD) && d->resume_efd != -1) {
		close(d->resume_efd);
		d->resume_efd = -1;
	}
	if (fstat(d->memfd, &st) == -1 || (uint64_t)st.st_size < h.arena_size) {
		log_warnx("proc:%s: the arena memfd is smaller than the "
		    "announced %llu bytes", spec,
		    (unsigned long long)h.arena_size);
		errno = EPROTO;
		return -1;
	}
	/* We map it: a guest that could shrink it could SIGBUS us. */
	seals = fcntl(d->memfd, F_GET_SEALS);
	if (seals == -1 || !(seals & F_SEAL_SHRINK)) {
		log_warnx("proc:%s: the arena memfd is not sealed against "
		    "shrinking (F_SEAL_SHRINK)", spec);
		errno = EPROTO;
		return -1;
	}
	/* Trust the kernel, not the message, about who the guest is. */
	if (getsockopt(d->sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		log_warn("proc:%s: SO_PEERCRED", spec);
		return -1;
	}
	d->pid = cred.pid;
	snprintf(d->name, sizeof d->name, "pid %d", (int)d->pid);
	d->size = h.arena_size;
	d->base = h.arena_base;
	d->page_size = h.page_size;
	d->page_shift = (unsigned)__builtin_ctz(h.page_size);
	d->nr_pages = h.arena_size / h.page_size;
	d->flags = h.flags;

	d->config_len = sizeof *cfg + h.cmd_len;
	d->config = calloc(1, d->config_len);
	if (d->config == NULL)
		return -1;
	cfg = (struct proc_config *)(void *)d->config;
	cfg->magic = htole32(PROC_CONFIG_MAGIC);
	cfg->version = htole32(PROC_PROTO_VERSION);
	cfg->page_size = htole32(h.page_size);
	cfg->argc = htole32(h.argc);
	cfg->arena_size = htole64(h.arena_size);
	cfg->arena_base = htole64(h.arena_base);
	cfg->cmd_len = htole32(h.cmd_len);
	memcpy(d->config + sizeof *cfg, buf + sizeof h, h.cmd_len);
	return 0;
}

static void proc_close(struct domain *);

static struct domain *
proc_open(const char *spec, const struct domain_opts *o)
{
	struct domain *d;
	enum proc_dirty_method m;
	void *p;
	int saved;

	if (proc_dirty_parse(o ? o->dirty_method : NULL, &m) == -1)
		return NULL;
	d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->sock = d->memfd = d->resume_efd = -1;
	d->map = MAP_FAILED;
	d->timeout_ms = o && o->suspend_timeout_ms ?
	    (int)o->suspend_timeout_ms : PROC_TIMEOUT_MS_DEFAULT;
	if (connect_guest(d, spec) == -1 || recv_hello(d, spec) == -1)
		goto err;
	p = mmap(NULL, d->size, PROT_READ, MAP_SHARED, d->memfd, 0);
	if (p == MAP_FAILED) {
		log_warn("%s: map the arena (%llu bytes)", d->name,
		    (unsigned long long)d->size);
		goto err;
	}
	d->map = p;
	d->dirty = proc_dirty_open(d->pid, d->base, d->nr_pages, d->page_size,
	    m, o ? o->scan_threads : 0);
	if (d->dirty == NULL)
		goto err;
	log_info("%s: attached, arena %llu MiB at %#llx, dirty tracking %s",
	    d->name, (unsigned long long)(d->size >> 20),
	    (unsigned long long)d->base,
	    proc_dirty_name(proc_dirty_method(d->dirty)));
	return d;
err:
	saved = errno;
	proc_close(d);
	errno = saved;
	return NULL;
}

static void
proc_info(struct domain *d, struct domain_info *info)
{
	info->page_size = d->page_size;
	info->nr_pages = d->nr_pages;
	info->flags = proc_dirty_live(d->dirty) ? DOMAIN_INFO_LIVE_DIRTY_LOG :
	    0;
}

static int
proc_get_config(struct domain *d, void *buf, size_t *len)
{
	if (*len < d->config_len) {
		*len = d->config_len;
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, d->config, d->config_len);
	*len = d->config_len;
	return 0;
}

static int
proc_logdirty_enable(struct domain *d)
{
	return proc_dirty_clear(d->dirty);
}

static int
send_ctl(struct domain *d, uint32_t type, uint64_t seq)
{
	struct proc_msg m;
	ssize_t n;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.seq = seq;
	do
		n = send(d->sock, &m, sizeof m, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)sizeof m)
		return 0;
	if (n == -1 && (errno == EPIPE || errno == ECONNRESET)) {
		log_warnx("%s: the guest died (control socket closed)",
		    d->name);
		errno = ESRCH;
	} else
		log_warn("%s: send to the guest", d->name);
	return -1;
}

/* Let the guest go from suspend SEQ: through the eventfd if it gave us
 * one (see proc-proto.h for why), else with RESUME on the socket. */
static int
release_guest(struct domain *d, uint64_t seq)
{
	uint64_t one = 1;
	ssize_t n;

	if (d->resume_efd == -1)
		return send_ctl(d, PROC_MSG_RESUME, seq);
	do
		n = write(d->resume_efd, &one, sizeof one);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof one) {
		log_warn("%s: resume the guest", d->name);
		return -1;
	}
	return 0;
}

static int
proc_suspend(struct domain *d)
{
	struct proc_msg m;
	uint64_t seq = ++d->seq;
	ssize_t n;

	if (send_ctl(d, PROC_MSG_SUSPEND, seq) == -1)
		return -1;
	for (;;) {
		if (wait_readable(d, d->timeout_ms) == -1) {
			if (errno != ETIMEDOUT) {
				log_warn("%s: poll", d->name);
				return -1;
			}
			/* Cancel: the guest finds RESUME queued behind
			 * our SUSPEND when it gets there. */
			log_warnx("%s: no suspend acknowledgement within "
			    "%d ms (suspend %llu)", d->name, d->timeout_ms,
			    (unsigned long long)seq);
			release_guest(d, seq);
			errno = ETIMEDOUT;
			return -1;
		}
		do
			n = recv(d->sock, &m, sizeof m, MSG_TRUNC);
		while (n == -1 && errno == EINTR);
		if (n == 0 || (n == -1 && errno == ECONNRESET)) {
			log_warnx("%s: the guest died (control socket "
			    "closed)", d->name);
			errno = ESRCH;
			return -1;
		}
		if (n == -1) {
			log_warn("%s: receive from the guest", d->name);
			return -1;
		}
		if (n != (ssize_t)sizeof m) {
			log_warnx("%s: control message of %zd bytes", d->name,
			    n);
			errno = EPROTO;
			return -1;
		}
		/* An answer to an earlier, timed-out suspend is stale. */
		if (m.type == PROC_MSG_SUSPENDED && m.seq == seq)
			break;
		log_debug("%s: ignored message %u seq %llu", d->name, m.type,
		    (unsigned long long)m.seq);
	}
	d->suspended = 1;
	return 0;
}

static int
proc_dirty_read_clear_op(struct domain *d, uint64_t *bitmap, uint64_t *count)
{
	return proc_dirty_read_clear(d->dirty, bitmap, count);
}

/* Copy COUNT pages from PFN to DST; holes of the memfd (never written)
 * read as zeroes without faulting them in. */
static void
copy_run(struct domain *d, uint64_t pfn, uint64_t count, uint8_t *dst)
{
	off_t off = (off_t)(pfn << d->page_shift);
	off_t end = off + (off_t)(count << d->page_shift);
	off_t data, hole;

	if (count < HOLE_CHECK_PAGES) {
		memcpy(dst, d->map + off, (size_t)(end - off));
		return;
	}
	while (off < end) {
		data = lseek(d->memfd, off, SEEK_DATA);
		if (data == -1)	/* ENXIO: only a hole up to EOF */
			data = errno == ENXIO ? end : off;
		if (data > end)
			data = end;
		if (data > off) {
			memset(dst, 0, (size_t)(data - off));
			dst += data - off;
			off = data;
			if (off >= end)
				break;
		}
		hole = lseek(d->memfd, off, SEEK_HOLE);
		if (hole == -1 || hole > end)
			hole = end;
		if (hole <= off)	/* cannot happen; copy to be safe */
			hole = end;
		memcpy(dst, d->map + off, (size_t)(hole - off));
		dst += hole - off;
		off = hole;
	}
}

static int
proc_copy_pages(struct domain *d, const uint64_t *pfns, size_t n, void *dst)
{
	uint8_t *out = dst;
	size_t i = 0, j;

	while (i < n) {
		if (pfns[i] >= d->nr_pages) {
			log_warnx("%s: copy of pfn %llu beyond the arena "
			    "(%llu pages)", d->name,
			    (unsigned long long)pfns[i],
			    (unsigned long long)d->nr_pages);
			errno = EINVAL;
			return -1;
		}
		for (j = i + 1; j < n && pfns[j] == pfns[j - 1] + 1 &&
		    pfns[j] < d->nr_pages; j++)
			;
		copy_run(d, pfns[i], j - i, out);
		out += (j - i) << d->page_shift;
		i = j;
	}
	return 0;
}

static int
proc_save_state(struct domain *d, void *buf, size_t *len)
{
	(void)d;
	(void)buf;
	*len = 0;	/* everything is in the arena */
	return 0;
}

static int
proc_resume(struct domain *d)
{
	if (release_guest(d, d->seq) == -1)
		return -1;
	d->suspended = 0;
	return 0;
}

/* Switchover: the backup runs the guest.  Killed while suspended, so it
 * never runs a step past the final epoch here; waited for through a pidfd
 * (it is not our child; a zombie counts as gone). */
static int
proc_destroy(struct domain *d)
{
	struct pollfd pfd = { .events = POLLIN };
	int fd;

	fd = (int)syscall(SYS_pidfd_open, d->pid, 0);
	if (kill(d->pid, SIGKILL) == -1 && errno != ESRCH) {
		log_warn("%s: kill", d->name);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	d->suspended = 0;	/* nothing left to resume */
	if (fd >= 0) {
		pfd.fd = fd;
		if (poll(&pfd, 1, d->timeout_ms) != 1)
			log_warnx("%s: killed, not gone after %d ms", d->name,
			    d->timeout_ms);
		close(fd);
	}
	log_info("%s: destroyed (switched over)", d->name);
	return 0;
}

/* Switchover outcome unknown: stopped by the kernel, which outlives our
 * hold on its control socket; SIGCONT is the operator's. */
static int
proc_hold(struct domain *d)
{
	if (kill(d->pid, SIGSTOP) == -1) {
		log_warn("%s: SIGSTOP", d->name);
		return -1;
	}
	log_warnx("%s: stopped (SIGSTOP): it stays so until an operator "
	    "sends SIGCONT", d->name);
	return 0;
}

static void
proc_close(struct domain *d)
{
	if (d == NULL)
		return;
	/* Closing the socket releases a suspended guest too; RESUME just
	 * says it explicitly. */
	if (d->suspended && d->sock != -1)
		(void)release_guest(d, d->seq);
	if (d->sock != -1)
		close(d->sock);
	if (d->resume_efd != -1)
		close(d->resume_efd);
	proc_dirty_close(d->dirty);
	if (d->map != MAP_FAILED)
		munmap((void *)d->map, d->size);
	if (d->memfd != -1)
		close(d->memfd);
	free(d->config);
	free(d);
}

const struct domain_ops domain_proc_ops = {
	.name = "proc",
	.open = proc_open,
	.info = proc_info,
	.get_config = proc_get_config,
	.logdirty_enable = proc_logdirty_enable,
	.suspend = proc_suspend,
	.dirty_read_clear = proc_dirty_read_clear_op,
	.copy_pages = proc_copy_pages,
	.save_state = proc_save_state,
	.resume = proc_resume,
	.close = proc_close,
	.destroy = proc_destroy,
	.hold = proc_hold,
};

/* ---- Backup --------------------------------------------------------- */

struct replica {
	char		*dir;
	struct store	*store;
	uint64_t	size;
	uint32_t	page_size;
	uint64_t	nr_pages;
	char		*cmd;		/* exe\0argv0\0... */
	uint32_t	cmd_len;
	uint32_t	argc;
	int		committed;	/* by this session */
	uint64_t	epoch;
	pid_t		guest;		/* after activate */
	char		*listen;	/* --proc-listen, or NULL */
	int		 activate_ms;	/* --activate-timeout */
	char		dname[64];	/* remusd --dname, or "" */
};

static char *
path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) == -1)
		return NULL;
	return p;
}

static void replica_proc_close(struct replica *);
static int reserve_room(struct replica *);

/* The command activate() runs, from the backup's configuration: CONF's
 * argv (its first word the program), packed as the stream packs it
 * (exe\0argv0\0...).  The stream's own command is only compared: its
 * program must be the configured one (by the file it resolves to), else
 * the stream is refused.  Its arguments are never used.  CONF NULL (a
 * local tool) takes the stream's command as it is. */
static int
pick_command(struct replica *r, const struct replica_conf *conf,
    const char *scmd, uint32_t scmd_len, uint32_t sargc)
{
	char exe[PATH_MAX], sexe[PATH_MAX];
	size_t len = 0, n;
	uint32_t argc = 0;
	char *const *a;

	if (conf == NULL) {
		r->cmd = malloc(scmd_len);
		if (r->cmd == NULL)
			return -1;
		memcpy(r->cmd, scmd, scmd_len);
		r->cmd_len = scmd_len;
		r->argc = sargc;
		return 0;
	}
	if (conf->argv == NULL || conf->argv[0] == NULL) {
		log_warnx("replica: guest \"%s\" refused: no --guest %s=COMMAND "
		    "configured on this backup", conf->name ? conf->name : "?",
		    conf->name ? conf->name : "NAME");
		errno = EPERM;
		return -1;
	}
	if (realpath(conf->argv[0], exe) == NULL) {
		log_warn("replica: guest \"%s\": configured program %s",
		    conf->name, conf->argv[0]);
		errno = EPERM;
		return -1;
	}
	/* The stream's program names a file here, or it is not ours. */
	if (realpath(scmd, sexe) == NULL)
		snprintf(sexe, sizeof sexe, "%s", scmd);
	if (strcmp(exe, sexe) != 0) {
		log_warnx("replica: guest \"%s\" refused: the stream names "
		    "program %.200s, this backup runs %s for it", conf->name,
		    scmd, exe);
		errno = EPERM;
		return -1;
	}
	n = strlen(exe) + 1;
	for (a = conf->argv; *a; a++, argc++)
		n += strlen(*a) + 1;
	if (argc > PROC_ARGC_MAX || n > PROC_CMD_MAX) {
		log_warnx("replica: guest \"%s\": configured command too long",
		    conf->name);
		errno = E2BIG;
		return -1;
	}
	r->cmd = malloc(n);
	if (r->cmd == NULL)
		return -1;
	memcpy(r->cmd, exe, strlen(exe) + 1);
	len = strlen(exe) + 1;
	for (a = conf->argv; *a; a++) {
		memcpy(r->cmd + len, *a, strlen(*a) + 1);
		len += strlen(*a) + 1;
	}
	r->cmd_len = (uint32_t)len;
	r->argc = argc;
	return 0;
}

static struct replica *
replica_proc_create(const char *dir, const struct replica_conf *conf,
    const void *config, size_t config_len, const struct domain_info *info,
    const struct domain_opts *o)
{
	/* A proc guest reaches its disk over NBD by address; nothing here
	 * names it. */
	struct proc_config cfg;
	struct replica *r;
	int saved;

	if (config_len < sizeof cfg) {
		log_warnx("replica: config of %zu bytes, want at least %zu",
		    config_len, sizeof cfg);
		errno = EINVAL;
		return NULL;
	}
	memcpy(&cfg, config, sizeof cfg);
	cfg.magic = le32toh(cfg.magic);
	cfg.version = le32toh(cfg.version);
	cfg.page_size = le32toh(cfg.page_size);
	cfg.argc = le32toh(cfg.argc);
	cfg.arena_size = le64toh(cfg.arena_size);
	cfg.arena_base = le64toh(cfg.arena_base);
	cfg.cmd_len = le32toh(cfg.cmd_len);
	if (cfg.magic != PROC_CONFIG_MAGIC || cfg.version != PROC_PROTO_VERSION ||
	    cfg.reserved != 0 || cfg.cmd_len != config_len - sizeof cfg ||
	    check_cmd((const char *)config + sizeof cfg, cfg.cmd_len,
	    cfg.argc) == -1) {
		log_warnx("replica: not a proc guest config");
		errno = EINVAL;
		return NULL;
	}
	if (cfg.page_size != info->page_size || cfg.page_size == 0 ||
	    cfg.arena_size / cfg.page_size != info->nr_pages ||
	    cfg.arena_size % cfg.page_size != 0 ||
	    cfg.page_size != (uint32_t)sysconf(_SC_PAGESIZE)) {
		log_warnx("replica: config (%llu bytes in pages of %u) does "
		    "not match the stream (%llu pages of %u) or this host",
		    (unsigned long long)cfg.arena_size, cfg.page_size,
		    (unsigned long long)info->nr_pages, info->page_size);
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->size = cfg.arena_size;
	r->page_size = cfg.page_size;
	r->nr_pages = info->nr_pages;
	r->dir = strdup(dir);
	if (r->dir == NULL || pick_command(r, conf, (const char *)config +
	    sizeof cfg, cfg.cmd_len, cfg.argc) == -1)
		goto err;
	if (o && o->proc_listen && (r->listen = strdup(o->proc_listen)) == NULL)
		goto err;
	r->activate_ms = o && o->activate_timeout_ms ?
	    (int)o->activate_timeout_ms : PROC_ACTIVATE_MS_DEFAULT;
	/* Recovers what a crashed remusd left, keeps the committed replica
	 * and builds this session's in a file of its own. */
	r->store = store_open(dir, r->nr_pages, r->page_size,
	    o && o->proc_sync, NULL);
	if (r->store == NULL || reserve_room(r) == -1)
		goto err;
	log_info("replica: %s, %llu MiB, guest %s", store_image_path(r->store),
	    (unsigned long long)(r->size >> 20), r->cmd);
	return r;
err:
	saved = errno;
	replica_proc_close(r);
	errno = saved;
	return NULL;
}

static void *
replica_proc_page(struct replica *r, uint64_t pfn)
{
	return store_page(r->store, pfn);
}

static int
replica_proc_commit(struct replica *r, uint64_t epoch, const uint64_t *pfns,
    size_t npfns, const void *state, size_t state_len)
{
	(void)state;
	if (state_len != 0)
		log_warnx_once("replica: ignoring %zu bytes of guest state "
		    "(a proc guest has none)", state_len);
	if (store_commit(r->store, epoch, pfns, npfns) == -1)
		return -1;
	r->epoch = epoch;
	r->committed = 1;
	return 0;
}

static int
replica_proc_commit_pages(struct replica *r, uint64_t epoch,
    const uint64_t *pfns, size_t npfns, const uint8_t *pages,
    const uint8_t *zero, const void *state, size_t state_len)
{
	(void)state;
	if (state_len != 0)
		log_warnx_once("replica: ignoring %zu bytes of guest state "
		    "(a proc guest has none)", state_len);
	if (store_commit_pages(r->store, epoch, pfns, npfns, pages,
	    zero) == -1)
		return -1;
	r->epoch = epoch;
	r->committed = 1;
	return 0;
}

static int
replica_proc_resume(struct replica *r, const char *name, int allow,
    uint64_t *epoch)
{
	return store_resume(r->store, name, allow, epoch);
}

static int
replica_proc_hash_pages(struct replica *r, uint64_t first, size_t n,
    uint8_t *out)
{
	return store_hash_pages(r->store, first, n, out);
}

static int
replica_proc_kept(const char *dir, uint64_t *bytes, uint64_t *epoch)
{
	return store_kept(dir, bytes, epoch);
}

static int
replica_proc_recover(const char *dir, uint64_t *epoch)
{
	struct store_state st;

	if (store_recover(dir, &st) == -1)
		return -1;
	*epoch = st.epoch;
	return st.committed;
}

/* Has the guest's command line a --listen option (so the backup may move
 * it with --proc-listen)? */
static int
has_listen(char **argv)
{
	for (; *argv; argv++)
		if (strcmp(*argv, "--listen") == 0 ||
		    strncmp(*argv, "--listen=", 9) == 0)
			return 1;
	return 0;
}

/* Child side of activate, between fork and exec: async-signal-safe calls
 * only (remusd may have threads), everything else is prepared before. */
static void __dead
exec_guest(const char *exe, char **argv, char **envp, int ready,
    const int go[2])
{
	struct sigaction sa;
	sigset_t none;
	ssize_t n;
	int e, sig;
	char c;

	/* Nothing of the guest runs before remusd has recorded it (the
	 * activation record): wait for its 'G'.  EOF -- remusd could not
	 * record it, or died -- means this copy must never run. */
	close(go[1]);
	do
		n = read(go[0], &c, 1);
	while (n == -1 && errno == EINTR);
	if (n != 1 || c != 'G')
		_exit(126);

	/* The guest must not inherit our mask or handlers (STYLE V6). */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	/* Nothing of ours but READY (a CLOEXEC duplicate made for the
	 * guest) may outlive the exec: an inherited socket would keep
	 * remusd's connections open for as long as the guest runs. */
	if (ready > 3)
		(void)close_range(3, (unsigned)ready - 1, 0);
	(void)close_range((unsigned)ready + 1, ~0u, 0);
	if (fcntl(ready, F_SETFD, 0) == -1)
		goto fail;
	execve(exe, argv, envp);
fail:
	e = errno;
	(void)!write(ready, "E", 1);
	(void)!write(ready, &e, sizeof e);
	_exit(127);
}

/* ENVIRON plus NAME=VALUE in front (replacing an earlier NAME). */
static char **
env_with(const char *name, const char *value, char **own)
{
	extern char **environ;
	size_t n = 0, i, j = 0, len = strlen(name);
	char **envp;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof *envp);
	if (envp == NULL)
		return NULL;
	if (asprintf(own, "%s=%s", name, value) == -1) {
		free(envp);
		return NULL;
	}
	envp[j++] = *own;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], name, len) != 0 ||
		    environ[i][len] != '=')
			envp[j++] = environ[i];
	envp[j] = NULL;
	return envp;
}

/* The activation record: the pid of the copy this host activated.  It
 * is the only thing that keeps a later session (or a restarted remusd,
 * remusd.service's ExecStartPre) from replicating over the files that
 * copy runs from, so an activation that cannot write it does not go
 * ahead.  It is written as soon as the guest is forked, before it
 * resumes, as ACTIVATING_FILE ("being activated": the guard reads it
 * too), and renamed to proc-guest.pid once the guest runs, so that
 * proc-guest.pid keeps meaning "activated and running" to fence agents
 * and tests.  A backup's state directory may be full exactly when it
 * activates (a full disk stalls replication past T), so every session
 * sets aside RESERVE_BYTES in RESERVE_FILE at create, and the record
 * frees that room when it needs it. */
#define ACTIVATING_FILE	"proc-guest.pid.new"
#define RESERVE_FILE	"proc-activation.reserve"
#define RESERVE_BYTES	(16 * 1024)

static int
reserve_room(struct replica *r)
{
	static const char zero[RESERVE_BYTES];
	char *path = path_in(r->dir, RESERVE_FILE);
	int fd = -1, rc = -1, saved;

	if (path == NULL)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write_full(fd, zero, sizeof zero) == -1) {
		log_warn("replica: set aside %s", path);
		goto out;
	}
	rc = 0;
out:
	saved = errno;
	if (fd != -1)
		close(fd);
	free(path);
	errno = saved;
	return rc;
}

static int
write_pidfile_named(struct replica *r, const char *file, pid_t pid)
{
	char *path = path_in(r->dir, file), line[32];
	int fd, n, rc = -1, saved;

	if (path == NULL)
		return -1;
	n = snprintf(line, sizeof line, "%d\n", (int)pid);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd != -1 && write_full(fd, line, (size_t)n) == 0)
		rc = 0;
	saved = errno;
	if (fd != -1)
		close(fd);
	if (rc == -1)
		(void)unlink(path);	/* no half record */
	free(path);
	errno = saved;
	return rc;
}

/* Before the guest resumes: ACTIVATING_FILE, in the reserved room if
 * need be.  -1 when it could not be written even with that room freed. */
static int
record_activation(struct replica *r, pid_t pid)
{
	char *res;

	if (write_pidfile_named(r, ACTIVATING_FILE, pid) == 0)
		return 0;
	log_warn("replica: record the activation in %s/%s", r->dir,
	    ACTIVATING_FILE);
	if ((res = path_in(r->dir, RESERVE_FILE)) == NULL)
		return -1;
	if (unlink(res) == -1) {
		log_warn("replica: free %s", res);
		free(res);
		return -1;
	}
	free(res);
	if (write_pidfile_named(r, ACTIVATING_FILE, pid) == -1) {
		log_warn("replica: record the activation in the room set "
		    "aside for it");
		return -1;
	}
	log_info("replica: activation recorded in the room set aside for it");
	return 0;
}

/* The guest runs: the record becomes proc-guest.pid (a rename needs no
 * new room), NAME.pid too when remusd --dname named the guest.  A rename
 * that fails leaves the record where the guard still finds it. */
static void
activation_done(struct replica *r, pid_t pid)
{
	char file[sizeof r->dname + 8], *from, *to;

	from = path_in(r->dir, ACTIVATING_FILE);
	to = path_in(r->dir, "proc-guest.pid");
	if (from != NULL && to != NULL && rename(from, to) == -1)
		log_warn("replica: rename %s to %s (the activation stays "
		    "recorded in the first)", from, to);
	free(from);
	free(to);
	if (r->dname[0] != '\0') {
		snprintf(file, sizeof file, "%s.pid", r->dname);
		if (write_pidfile_named(r, file, pid) == -1)
			log_warn("replica: write %s/%s", r->dir, file);
	}
}

static void
remove_record(struct replica *r)
{
	char *path = path_in(r->dir, ACTIVATING_FILE);
	int saved = errno;	/* the activation's failure, not ours */

	if (path != NULL)
		(void)unlink(path);
	free(path);
	errno = saved;
}

static int
replica_proc_set_name(struct replica *r, const char *name)
{
	if (strlen(name) >= sizeof r->dname || strchr(name, '/') != NULL ||
	    name[0] == '.' || name[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	snprintf(r->dname, sizeof r->dname, "%s", name);
	return 0;
}

/* Read the activation pipe until the guest runs ('R'), its exec failed
 * ('E' errno), it died (EOF) or the time is up.  'P' pid comes first,
 * from the intermediate child; the guest waits before its exec until GO
 * says it is recorded ('G'), so nothing can run unrecorded (under load
 * the guest's 'R' once came before 'P': it ran, and no record named
 * it). */
static int
await_guest(struct replica *r, int fd, int go, const char *exe, pid_t *guest)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int timeout_ms = r->activate_ms;
	uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000, now;
	char c;
	int e, n;

	for (;;) {
		now = now_us();
		n = now < deadline ?
		    poll(&p, 1, (int)((deadline - now + 999) / 1000)) : 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0) {
			log_warnx("replica: the guest (pid %d) did not report "
			    "running within %d ms: killed", (int)*guest,
			    timeout_ms);
			if (*guest > 0)
				kill(*guest, SIGKILL);
			errno = ETIMEDOUT;
			return -1;
		}
		if (n == -1 || read_full(fd, &c, 1, NULL) == -1) {
			log_warnx("replica: the guest %s exited before it "
			    "ran (see its messages above)", exe);
			errno = ECHILD;
			return -1;
		}
		if (c == 'R' && *guest > 0)
			return 0;
		if (c == 'P' && read_full(fd, guest, sizeof *guest, NULL) == 0) {
			/* Recorded before the guest resumes (it waits for
			 * GO): a copy nobody can find must not run. */
			if (record_activation(r, *guest) == 0) {
				if (write(go, "G", 1) != 1)
					log_warn("replica: start the guest "
					    "(pid %d)", (int)*guest);
				continue;
			}
			log_warnx("replica: the activation of %s cannot be "
			    "recorded: the guest (pid %d) is killed before it "
			    "runs; the replica stays passive", exe,
			    (int)*guest);
			kill(*guest, SIGKILL);
			errno = EIO;
			return -1;
		}
		if (c == 'E' && read_full(fd, &e, sizeof e, NULL) == 0) {
			errno = e;
			log_warn("replica: exec %s", exe);
			return -1;
		}
		log_warnx("replica: garbled answer from the activated guest");
		errno = EPROTO;
		return -1;
	}
}

static int
replica_proc_activate(struct replica *r)
{
	const char *listen = r->listen;
	char **argv = NULL, **envp = NULL, *own = NULL, *exe, *s, num[16];
	int pfd[2] = { -1, -1 }, go[2] = { -1, -1 }, ready = -1, rc = -1;
	int saved, st;
	size_t argc = 0, i;
	pid_t mid, guest = -1;

	if (r->guest > 0) {
		log_warnx("replica: already activated (pid %d)", (int)r->guest);
		errno = EALREADY;
		return -1;
	}
	if (!r->committed) {
		log_warnx("replica: no committed epoch to activate from");
		errno = ENOENT;
		return -1;
	}
	/* The image must be this session's last commit, not a replica an
	 * earlier session kept (docs/failover.md). */
	if (store_check_committed(r->store, r->epoch) == -1)
		return -1;
	argv = calloc(r->argc + 5, sizeof *argv);
	if (argv == NULL)
		goto out;
	exe = r->cmd;
	s = exe + strlen(exe) + 1;
	for (i = 0; i < r->argc; i++) {
		argv[argc++] = s;
		s += strlen(s) + 1;
	}
	/* getopt_long: the last occurrence of an option wins. */
	if (listen && *listen && has_listen(argv)) {
		argv[argc++] = "--listen";
		argv[argc++] = (char *)listen;
	}
	argv[argc++] = "--resume";
	argv[argc++] = (char *)store_image_path(r->store);
	argv[argc] = NULL;

	if (pipe2(pfd, O_CLOEXEC) == -1 || pipe2(go, O_CLOEXEC) == -1) {
		log_warn("replica: pipe");
		goto out;
	}
	ready = fcntl(pfd[1], F_DUPFD_CLOEXEC, 3);
	if (ready == -1) {
		log_warn("replica: dup");
		goto out;
	}
	snprintf(num, sizeof num, "%d", ready);
	envp = env_with("REMUS_PROC_READY_FD", num, &own);
	if (envp == NULL)
		goto out;
	/* Fork twice so that the guest is nobody's child here: remusd
	 * need not reap it and may exit while it runs. */
	mid = fork();
	if (mid == -1) {
		log_warn("replica: fork");
		goto out;
	}
	if (mid == 0) {
		guest = fork();
		if (guest == 0)
			exec_guest(exe, argv, envp, ready, go);
		if (guest > 0) {
			if (fault_injected(FI_ACTIVATE_SLOW_PID))
				usleep(300000);
			(void)!write(pfd[1], "P", 1);
			(void)!write(pfd[1], &guest, sizeof guest);
		}
		_exit(guest > 0 ? 0 : 1);
	}
	close(pfd[1]);
	close(ready);
	close(go[0]);
	pfd[1] = ready = go[0] = -1;
	while (waitpid(mid, &st, 0) == -1 && errno == EINTR)
		;
	if (await_guest(r, pfd[0], go[1], exe, &guest) == -1) {
		remove_record(r);
		goto out;
	}
	r->guest = guest;
	activation_done(r, guest);
	log_info("replica: activated %s%sfrom epoch %llu: %s running as "
	    "pid %d", r->dname, r->dname[0] ? " " : "",
	    (unsigned long long)r->epoch, exe, (int)guest);
	rc = 0;
out:
	saved = errno;
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	if (go[0] != -1)
		close(go[0]);
	if (go[1] != -1)
		close(go[1]);	/* a guest still waiting for GO exits */
	if (ready != -1)
		close(ready);
	free(argv);
	free(envp);
	free(own);
	errno = saved;
	return rc;
}

/* PID's state letter and start time (proc_pid_stat).  0, or -1 with
 * errno (ENOENT: no such process). */
static int
pid_stat(pid_t pid, char *state, uint64_t *start)
{
	char id[16];

	snprintf(id, sizeof id, "%d", (int)pid);
	return proc_pid_stat(id, state, start);
}

static int
replica_proc_activated(struct replica *r, struct replica_guest *g)
{
	char state;

	if (r->guest <= 0) {
		errno = ENOENT;
		return -1;
	}
	memset(g, 0, sizeof *g);
	g->id_kind = "pid";
	g->id = (uint64_t)r->guest;
	snprintf(g->name, sizeof g->name, "%s", r->dname);
	if (pid_stat(r->guest, &state, &g->start) == -1)
		g->start = 0;	/* gone already: guest_runs says so */
	return 0;
}

static int
replica_proc_guest_runs(const struct replica_guest *g)
{
	uint64_t start;
	char state;

	if (g->id == 0 || g->id > INT_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (pid_stat((pid_t)g->id, &state, &start) == -1)
		return errno == ENOENT ? 0 : -1;
	/* A zombie has stopped; another start time is another process. */
	if (state == 'Z' || state == 'X' || g->start == 0 ||
	    start != g->start)
		return 0;
	return 1;
}

static void
replica_proc_close(struct replica *r)
{
	if (r == NULL)
		return;
	store_close(r->store);
	free(r->dir);
	free(r->cmd);
	free(r->listen);
	free(r);
}

const struct replica_ops replica_proc_ops = {
	.name = "proc",
	.create = replica_proc_create,
	.page = replica_proc_page,
	.commit = replica_proc_commit,
	.commit_pages = replica_proc_commit_pages,
	.activate = replica_proc_activate,
	.set_name = replica_proc_set_name,
	.activated = replica_proc_activated,
	.guest_runs = replica_proc_guest_runs,
	.close = replica_proc_close,
	.recover = replica_proc_recover,
	.kept = replica_proc_kept,
	.resume = replica_proc_resume,
	.hash_pages = replica_proc_hash_pages,
};
