/* diskbuf/diskbuf-pair.c -- diskbuf's primary and backup halves in two
 * processes joined by a socketpair, with a timer standing in for the epoch
 * engine.  The tests and the benchmark drive it with real NBD clients
 * (qemu-io, nbdcopy, fio); remus/remusd are the real programs.
 *
 *   diskbuf-pair -i IMAGE -l ADDR [-B BACKUP] [-e MS] [-u] [-m LIMIT]
 *                [-d DIGESTS] [-s STATE] [-S SPILLDIR] [-P PIDFILE]
 *                [-K close|send|end|ack@EPOCH] [-v]
 *
 * Every EPOCH ms the primary closes epoch n (postsuspend), optionally
 * appends "n <digest of the image>" to DIGESTS (the expected backup state
 * once n commits), sends n's DISK_WRITE records and an end marker, and
 * waits for ACK(n) before the next epoch.  The backup buffers, commits on
 * the end marker (apply + fdatasync), appends "committed n" to STATE and
 * ACKs.  When the primary dies the backup drops the open epoch, activates
 * and appends "activated n".  -u: no backup, serve unprotected.
 *
 * The framing between the two is this tool's own (the engine uses the
 * stream format): { u32 kind, u32 len, u64 epoch } + payload.
 */
#define LOG_PREFIX ""

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "fault.h"
#include "log.h"
#include "util.h"

enum { F_WRITE = 1, F_END = 2, F_ACK = 3, F_NACK = 4 };

struct frame {
	uint32_t	kind;
	uint32_t	len;
	uint64_t	epoch;
};

static volatile sig_atomic_t quit;

/* -K PHASE@EPOCH: the primary kills itself (SIGKILL) at that point, so the
 * tests reach every phase of an epoch, not only the long idle gaps. */
enum { K_NONE, K_CLOSE, K_SEND, K_END, K_ACK };
static int kill_phase;
static uint64_t kill_epoch;

static void
maybe_die(int phase, uint64_t epoch)
{
	/* SEND: the first record at or after the epoch (an epoch may have
	 * no disk writes at all). */
	if (phase == kill_phase && (epoch == kill_epoch ||
	    (phase == K_SEND && epoch > kill_epoch))) {
		log_info("test hook: SIGKILL at %s of epoch %" PRIu64,
		    phase == K_CLOSE ? "close" : phase == K_SEND ? "send" :
		    phase == K_END ? "end" : "ack", epoch);
		raise(SIGKILL);
	}
}

static void
on_term(int sig)
{
	(void)sig;
	quit = 1;
}

static void
append_line(const char *path, const char *fmt, ...) __printf(2, 3);

static void
append_line(const char *path, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int fd, n;

	if (path == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1 || write_full(fd, line, (size_t)n) == -1)
		log_warn("%s", path);
	if (fd != -1)
		close(fd);
}

/* ---- Backup process ------------------------------------------------ */

static int
backup_main(int sock, const struct diskbuf_backup_cfg *cfg, const char *state)
{
	struct diskbuf_backup *b;
	struct frame f, ack;
	uint8_t *buf = NULL;
	size_t cap = 0;

	b = diskbuf_backup_new(cfg);
	if (b == NULL)
		return 1;
	for (;;) {
		if (read_full(sock, &f, sizeof f, NULL) == -1)
			break;
		if (f.len > sizeof(struct stream_disk_write) +
		    DISKBUF_NBD_MAX_LEN) {
			log_warnx("backup: frame of %u bytes is too long", f.len);
			break;
		}
		if (buf_reserve(&buf, &cap, f.len) == -1)
			fatal("backup: frame buffer");
		if (f.len && read_full(sock, buf, f.len, NULL) == -1)
			break;
		if (f.kind == F_WRITE) {
			struct stream_disk_write h;

			if (f.len < sizeof h) {
				log_warnx("backup: short DISK_WRITE frame");
				break;
			}
			memcpy(&h, buf, sizeof h);
			if (diskbuf_backup_record(b, f.epoch, &h, buf + sizeof h,
			    f.len - sizeof h) == -1)
				goto failed;
		} else if (f.kind == F_END) {
			if (diskbuf_backup_commit(b, f.epoch) == -1)
				goto failed;
			append_line(state, "committed %" PRIu64 "\n", f.epoch);
			ack = (struct frame){ .kind = F_ACK, .epoch = f.epoch };
			if (write_full(sock, &ack, sizeof ack) == -1)
				break;
		}
	}
	/* Stream lost: fail over to the last committed epoch. */
	if (diskbuf_backup_activate(b) == 0)
		append_line(state, "activated %" PRIu64 "\n",
		    diskbuf_backup_committed(b));
	else
		append_line(state, "activate-failed %" PRIu64 "\n",
		    diskbuf_backup_committed(b));
	diskbuf_backup_free(b);
	free(buf);
	return 0;
failed:
	/* The primary is alive: tell it, keep the committed state, and do
	 * not activate (that would be a second copy of a running guest). */
	ack = (struct frame){ .kind = F_NACK,
	    .epoch = diskbuf_backup_committed(b) };
	if (write_full(sock, &ack, sizeof ack) == -1)
		log_warn("backup: send NACK");
	append_line(state, "failed %" PRIu64 "\n", diskbuf_backup_committed(b));
	diskbuf_backup_discard(b, diskbuf_backup_committed(b) + 1);
	diskbuf_backup_free(b);
	free(buf);
	return 1;
}

/* ---- Primary process ----------------------------------------------- */

struct emit_ctx {
	int		sock;
	uint64_t	epoch;
	uint64_t	records, bytes;
};

static int
emit(void *arg, const struct stream_disk_write *h, const void *data)
{
	struct emit_ctx *e = arg;
	size_t dlen = h->op == STREAM_DISK_WRITE ? h->length : 0;
	struct frame f = { .kind = F_WRITE,
	    .len = (uint32_t)(sizeof *h + dlen), .epoch = e->epoch };

	if (write_full(e->sock, &f, sizeof f) == -1 ||
	    write_full(e->sock, h, sizeof *h) == -1 ||
	    (dlen && write_full(e->sock, data, dlen) == -1))
		return -1;
	e->records++;
	e->bytes += dlen;
	maybe_die(K_SEND, e->epoch);
	return 0;
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void
digest_line(struct diskbuf_primary *p, const char *digests, uint64_t epoch)
{
	uint8_t dg[16];
	char hex[33];

	if (digests == NULL || diskbuf_primary_digest(p, dg) == -1)
		return;
	diskbuf_hash_hex(dg, hex);
	append_line(digests, "%" PRIu64 " %s\n", epoch, hex);
}

static void
usage(void)
{
	fprintf(stderr, "usage: diskbuf-pair -i IMAGE -l ADDR [-B BACKUP] "
	    "[-e MS] [-u] [-m LIMIT]\n"
	    "                    [-d DIGESTS] [-s STATE] [-S SPILLDIR] "
	    "[-P PIDFILE]\n"
	    "                    [-K close|send|end|ack@EPOCH] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct diskbuf_primary_cfg pc = { .protect = 1 };
	struct diskbuf_backup_cfg bc = { 0 };
	struct diskbuf_primary *p;
	struct sigaction sa;
	const char *listen_addr = NULL, *digests = NULL, *state = NULL,
	    *pidfile = NULL;
	uint64_t epoch_ms = 100, v, n = 0, mem_limit = 0;
	struct diskbuf_stats st;
	int sv[2] = { -1, -1 }, ch, verbose = 0, status;
	pid_t child = -1;

	while ((ch = getopt(argc, argv, "B:d:e:i:K:l:m:P:s:S:uv")) != -1) {
		switch (ch) {
		case 'B':
			bc.image = optarg;
			break;
		case 'd':
			digests = optarg;
			break;
		case 'e':
			if (parse_uint(optarg, 1, 60000, &epoch_ms) == -1) {
				fprintf(stderr, "diskbuf-pair: -e %s: expected "
				    "milliseconds (1..60000)\n", optarg);
				return 2;
			}
			break;
		case 'i':
			pc.image = optarg;
			break;
		case 'K': {
			static const char *const names[] = { "", "close",
			    "send", "end", "ack" };
			char *at = strchr(optarg, '@');

			for (kill_phase = 4; kill_phase > 0; kill_phase--)
				if (at && (size_t)(at - optarg) ==
				    strlen(names[kill_phase]) &&
				    strncmp(optarg, names[kill_phase],
				    (size_t)(at - optarg)) == 0)
					break;
			if (kill_phase == 0 || parse_uint(at + 1, 1,
			    UINT64_MAX, &kill_epoch) == -1) {
				fprintf(stderr, "diskbuf-pair: -K %s: expected "
				    "close|send|end|ack@EPOCH\n", optarg);
				return 2;
			}
			break;
		}
		case 'l':
			listen_addr = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &mem_limit) == -1) {
				fprintf(stderr, "diskbuf-pair: -m %s: expected "
				    "a size\n", optarg);
				return 2;
			}
			break;
		case 'P':
			pidfile = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'S':
			pc.spill_dir = bc.spill_dir = optarg;
			break;
		case 'u':
			pc.protect = 0;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (pc.image == NULL || listen_addr == NULL ||
	    (pc.protect && bc.image == NULL) || optind != argc)
		usage();
	log_init("diskbuf-pair", 1, verbose);
	if (fault_init() == -1)
		fatalx("REMUS_FAULT: unknown fault name");
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pc.mem_limit = bc.mem_limit = mem_limit;

	p = diskbuf_primary_new(&pc);
	if (p == NULL)
		return 1;
	if (pc.protect) {
		bc.size = diskbuf_primary_size(p);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
			fatal("socketpair");
		child = fork();
		if (child == -1)
			fatal("fork");
		if (child == 0) {
			close(sv[0]);
			log_init("diskbuf-pair[backup]", 1, verbose);
			_exit(backup_main(sv[1], &bc, state));
		}
		close(sv[1]);
	}
	digest_line(p, digests, 0);
	if (diskbuf_primary_listen(p, listen_addr) == -1)
		return 1;
	if (pidfile)
		append_line(pidfile, "%d\n", (int)getpid());

	while (!quit) {
		struct emit_ctx e = { .sock = sv[0] };
		struct frame f;

		sleep_ms(epoch_ms);
		if (quit || !diskbuf_primary_protected(p))
			continue;
		e.epoch = ++n;
		/* "Suspend": close the log; the digest is the state the
		 * backup must hold once n commits, taken in the same hold
		 * of the write lock as the cut (the writers are not paused
		 * here: a write of n + 1 must not get into n's digest). */
		if (digests == NULL) {
			if (diskbuf_primary_epoch_close(p, n) == -1)
				break;
		} else {
			uint8_t dg[16];
			char hex[33];

			if (diskbuf_primary_epoch_close_digest(p, n, dg) == -1)
				break;
			diskbuf_hash_hex(dg, hex);
			append_line(digests, "%" PRIu64 " %s\n", n, hex);
		}
		maybe_die(K_CLOSE, n);
		if (diskbuf_primary_save(p, n, emit, &e) == -1) {
			diskbuf_primary_unprotect(p, "saving the epoch failed");
			continue;
		}
		f = (struct frame){ .kind = F_END, .epoch = n };
		if (write_full(sv[0], &f, sizeof f) == -1) {
			diskbuf_primary_unprotect(p, "backup lost");
			continue;
		}
		maybe_die(K_END, n);
		if (read_full(sv[0], &f, sizeof f, NULL) == -1) {
			diskbuf_primary_unprotect(p, "backup lost");
			continue;
		}
		if (f.kind != F_ACK || f.epoch != n) {
			log_warnx("epoch %" PRIu64 ": the backup could not "
			    "commit (it holds epoch %" PRIu64 ")", n, f.epoch);
			diskbuf_primary_unprotect(p, "backup failed to commit");
			continue;
		}
		maybe_die(K_ACK, n);
		diskbuf_primary_commit(p, n);
		log_debug("epoch %" PRIu64 ": acked, %" PRIu64 " records, %"
		    PRIu64 " bytes", n, e.records, e.bytes);
	}
	diskbuf_primary_stats(p, &st);
	log_info("%" PRIu64 " epochs, %" PRIu64 " writes (%" PRIu64
	    " bytes), %" PRIu64 " reads, %" PRIu64 " flushes, %" PRIu64
	    " bad requests, %" PRIu64 " bytes spilled", n, st.writes,
	    st.bytes_written, st.reads, st.flushes, st.bad_requests,
	    st.spilled_bytes);
	diskbuf_primary_free(p);
	if (sv[0] != -1)
		close(sv[0]);
	if (child > 0)
		waitpid(child, &status, 0);
	(void)v;
	return 0;
}
