/* domain/proc-store.c -- the proc replica on disk: a working copy in
 * memory, an image on disk, and a redo journal between them so that a
 * commit is all or nothing across a crash (proc-store.h has the layout and
 * the order of the steps).
 *
 * Why a journal and not two alternating images: an epoch after the first
 * carries a few hundred to a few thousand pages of a guest of hundreds of
 * MiB; journalling them costs twice their size in writes, an alternating
 * image would cost copying the whole image (or tracking which pages each
 * of the two lacks).  The first epoch of a session is the whole image
 * anyway: it is built in a file of its own and renamed into place, which
 * writes it once instead of twice and keeps the previous session's
 * replica committed until then.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <xxhash.h>

#define LOG_PREFIX "replica: "
#include "fault.h"
#include "log.h"
#include "util.h"
#include "proc-store.h"

#define IMG_NAME	"proc-arena.img"
#define NEW_NAME	"proc-arena.new"
#define EPOCH_NAME	"proc-epoch"
#define SESSION_NAME	"proc-session"
#define JOURNAL_NAME	"proc-journal"
#define GUEST_NAME	"proc-guest-name"	/* which guest the image is of */

#define PJ_MAGIC	0x31304c4e524a5052ull	/* "RPJRNL01" */
#define PJ_REC_MAGIC	0x544d4d4f434a5052ull	/* "RPJCOMMT" */
#define PJ_VERSION	1
#define PJ_KIND_PAGES	1	/* pfn list and pages follow */
#define PJ_KIND_IMAGE	2	/* proc-arena.new is the new image */
#define PJ_SYNCED	1u	/* written with fdatasync at every step */
#define PJ_PAGE_MAX	(1u << 20)
#define PJ_PAGES_MAX	(1ull << 36)	/* 256 TiB of 4 KiB pages */
#define IOV_BATCH	512
#define COPY_BUF	(1u << 20)
#define DROP_MIN	(1ull << 20)

/* Journal header, little-endian, at offset 0. */
struct pj_header {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	kind;
	uint64_t	epoch;
	uint64_t	session;
	uint64_t	npfns;
	uint64_t	nr_pages;
	uint32_t	page_size;
	uint32_t	flags;		/* PJ_SYNCED */
	uint64_t	boot;		/* boot_hash() of the writer's boot */
};
_Static_assert(sizeof(struct pj_header) == 64, "journal header is 64 bytes");

/* Commit record, right after the body (header, pfns, pages): written
 * last; the commit is in the journal once it is there and matches. */
struct pj_record {
	uint64_t	magic;
	uint64_t	epoch;
	uint64_t	body_len;
	uint64_t	xxh3;		/* XXH3-64 of the body */
};
_Static_assert(sizeof(struct pj_record) == 32, "commit record is 32 bytes");

/* One page of a commit: its pfn and where its bytes are (the working
 * copy's page, or the caller's for store_commit_pages; NULL: zeros). */
struct pj_ent {
	uint64_t	 pfn;
	const uint8_t	*src;
};

struct store {
	char		*dir;
	char		*img;		/* DIR/proc-arena.img, for activate */
	int		 dfd;		/* DIR, flock'ed while open */
	int		 jfd;		/* proc-journal */
	int		 fd;		/* proc-arena.new, then the image */
	uint8_t		*map;		/* working copy */
	uint8_t		*img_map;	/* the image, shared (not first) */
	uint64_t	 size, nr_pages;
	uint32_t	 page_size;
	int		 durable;
	int		 first;		/* nothing committed this session */
	int		 broken;	/* a commit failed */
	uint64_t	 session;
	uint64_t	 boot;		/* boot_hash() */
	uint64_t	 epoch;		/* last committed by this session */
	struct store_state prev;	/* what DIR held at open */
	int		 resumed;	/* the working copy is prev's image */
	int		 guest_due;	/* proc-guest to write at next commit */
	char		 guest[STORE_GUEST_MAX + 1];	/* HELLO's name */
	uint64_t	 private_pages;	/* copied in the working copy, at most */
	uint64_t	*copied;	/* bitmap of those */
	struct pj_ent	*ents;		/* scratch: a commit's pages, by pfn */
	uint64_t	*le;		/* scratch: their pfns, little-endian */
	size_t		 cap;
	uint8_t		*zpage;		/* page_size zero bytes */
};

/* ---- Small I/O helpers ------------------------------------------------- */

/* A crash point: the commit of EPOCH dies here, as under kill -9. */
static void
crash_point(enum remus_fault f, uint64_t epoch)
{
	if (fault_injected_epoch(f, epoch)) {
		log_info("epoch %" PRIu64 ": fault %s: exiting", epoch,
		    fault_name(f));
		_exit(9);
	}
}

/* Widens the commit window for tests that kill remusd from outside. */
static void
slow_point(uint64_t epoch)
{
	if (fault_injected_epoch(FI_REPLICA_SLOW_COMMIT, epoch))
		usleep(2000);
}

/* pwritev of CNT vectors at OFF, short writes resumed (IOV is consumed). */
static int
pwritev_full(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	ssize_t n;

	while (cnt > 0) {
		n = pwritev(fd, iov, cnt, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		off += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int
sync_fd(int fd, int durable)
{
	return durable ? fdatasync(fd) : 0;
}

/* Write NAME in DIR atomically: NAME.tmp, then rename. */
static int
put_file(int dfd, const char *name, const char *text, int durable)
{
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_full(fd, text, strlen(text)) == -1 ||
	    sync_fd(fd, durable) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (close(fd) == -1 || renameat(dfd, tmp, dfd, name) == -1)
		return -1;
	return 0;
}

/* proc-session in place: one fixed-width line, one pwrite (atomic for
 * readers and across a crash of the process: one copy into one page).  A
 * tmp file and a rename per commit cost milliseconds here. */
static int
put_session(int dfd, uint64_t epoch, uint64_t session, uint64_t boot,
    int durable)
{
	char line[96];
	int fd, n, rc = -1;

	n = snprintf(line, sizeof line, "session %016" PRIx64 " epoch %020"
	    PRIu64 " boot %016" PRIx64 " synced %d\n", session, epoch, boot,
	    durable);
	fd = openat(dfd, SESSION_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (pwrite_full(fd, line, (size_t)n, 0) == 0 &&
	    ftruncate(fd, n) == 0 && sync_fd(fd, durable) == 0)
		rc = 0;
	close(fd);
	return rc;
}

/* proc-epoch: "N\n", replaced atomically at every commit.  Not a new
 * file renamed over it: that frees the old file's inode and block, and
 * on ext4 (auto_da_alloc, online discard) the rename then cost 0.4 ms
 * at the median and 3 to 9 ms at the 90th to 99th percentile of a
 * commit here, in the receiver's loop.  Instead the previous
 * proc-epoch, kept as proc-epoch.tmp, is rewritten in place and the two
 * names are exchanged (renameat2 RENAME_EXCHANGE: 75 us, 320 us at the
 * 99th): readers see the old or the new file whole, as with a rename,
 * and nothing is freed.  Where the filesystem cannot exchange, or there
 * is no proc-epoch yet, a plain rename. */
static int
put_epoch(int dfd, uint64_t epoch, int durable)
{
	char line[32];
	int fd, n;

	n = snprintf(line, sizeof line, "%" PRIu64 "\n", epoch);
	fd = openat(dfd, EPOCH_NAME ".tmp", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	if (pwrite_full(fd, line, (size_t)n, 0) == -1 ||
	    ftruncate(fd, n) == -1 || sync_fd(fd, durable) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (close(fd) == -1)
		return -1;
	if (renameat2(dfd, EPOCH_NAME ".tmp", dfd, EPOCH_NAME,
	    RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
		return -1;
	return renameat(dfd, EPOCH_NAME ".tmp", dfd, EPOCH_NAME);
}

/* proc-session, then proc-epoch: the second names the image's epoch for
 * everyone who reads it; the first says who committed it.  Between the
 * two the journal is still there, so a crash redoes both. */
static int
put_epoch_files(int dfd, uint64_t epoch, uint64_t session, uint64_t boot,
    int durable)
{
	if (put_session(dfd, epoch, session, boot, durable) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_AFTER_SESSION, epoch);
	if (put_epoch(dfd, epoch, durable) == -1)
		return -1;
	if (durable && fsync(dfd) == -1)
		return -1;
	return 0;
}

/* A small text file of DIR into BUF (NUL-terminated); -1 if absent. */
static int
get_file(int dfd, const char *name, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Retire the journal: a zero header.  The file keeps its size and its
 * pages, so that the next commit writes into the page cache instead of
 * allocating (truncating to 0 cost more than the rest of a commit).  Not
 * synced: a retirement lost in a host crash only redoes what is done. */
static int
retire(int jfd)
{
	static const uint8_t zero[sizeof(struct pj_header)];

	return pwrite_full(jfd, zero, sizeof zero, 0);
}

/* This boot of the host, hashed: /proc/sys/kernel/random/boot_id (or
 * REMUS_PROC_BOOT_ID, for tests).  A replica committed without sync in
 * another boot may have lost writes in a crash of the host. */
static uint64_t
boot_hash(void)
{
	const char *env = getenv("REMUS_PROC_BOOT_ID");
	char id[64] = "";
	ssize_t n;
	int fd;

	if (env && *env)
		snprintf(id, sizeof id, "%s", env);
	else if ((fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, id, sizeof id - 1);
		id[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	return XXH3_64bits(id, strlen(id)) | 1;
}

static int
cmp_ent(const void *a, const void *b)
{
	uint64_t x = ((const struct pj_ent *)a)->pfn;
	uint64_t y = ((const struct pj_ent *)b)->pfn;

	return x < y ? -1 : x > y;
}

static int
page_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < len / sizeof *w; i++)
		if (w[i])
			return 0;
	return 1;
}

/* ---- Recovery ----------------------------------------------------------- */

/* Is the journal of SIZE bytes a complete commit?  1 yes (*H in host
 * order, *BODY its length), 0 no (*H as far as it could be read, else
 * zeroed), 2 retired (no commit in it), -1 on an I/O error. */
static int
journal_check(int jfd, uint64_t size, struct pj_header *h, uint64_t *body)
{
	struct pj_header raw;
	struct pj_record rec;
	XXH3_state_t *xs = NULL;
	uint8_t *buf = NULL;
	uint64_t off, len, per, chunk;
	int rc = -1;

	memset(h, 0, sizeof *h);
	if (size < sizeof raw)
		return 0;
	if (pread_full(jfd, &raw, sizeof raw, 0) == -1)
		return -1;
	h->magic = le64toh(raw.magic);
	h->version = le32toh(raw.version);
	h->kind = le32toh(raw.kind);
	h->epoch = le64toh(raw.epoch);
	h->session = le64toh(raw.session);
	h->npfns = le64toh(raw.npfns);
	h->nr_pages = le64toh(raw.nr_pages);
	h->page_size = le32toh(raw.page_size);
	h->flags = le32toh(raw.flags);
	h->boot = le64toh(raw.boot);
	if (h->magic == 0)
		return 2;
	if (h->magic != PJ_MAGIC || h->version != PJ_VERSION ||
	    (h->kind != PJ_KIND_PAGES && h->kind != PJ_KIND_IMAGE) ||
	    (h->flags & ~PJ_SYNCED) != 0 || h->page_size < 512 ||
	    h->page_size > PJ_PAGE_MAX ||
	    (h->page_size & (h->page_size - 1)) != 0 ||
	    h->nr_pages == 0 || h->nr_pages > PJ_PAGES_MAX ||
	    h->npfns > h->nr_pages ||
	    (h->kind == PJ_KIND_IMAGE && h->npfns != 0))
		return 0;
	per = h->kind == PJ_KIND_PAGES ? 8ull + h->page_size : 0;
	len = sizeof raw + h->npfns * per;	/* < 2^57: no overflow */
	if (size < len + sizeof rec)
		return 0;
	if (pread_full(jfd, &rec, sizeof rec, len) == -1)
		return -1;
	if (le64toh(rec.magic) != PJ_REC_MAGIC ||
	    le64toh(rec.epoch) != h->epoch || le64toh(rec.body_len) != len)
		return 0;
	xs = XXH3_createState();
	buf = malloc(COPY_BUF);
	if (xs == NULL || buf == NULL || XXH3_64bits_reset(xs) != XXH_OK)
		goto out;
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < COPY_BUF ? len - off : COPY_BUF;
		if (pread_full(jfd, buf, chunk, off) == -1)
			goto out;
		XXH3_64bits_update(xs, buf, chunk);
	}
	*body = len;
	rc = XXH3_64bits_digest(xs) == le64toh(rec.xxh3);
out:
	XXH3_freeState(xs);
	free(buf);
	return rc;
}

/* Write the journal's pages into the image again (idempotent). */
static int
redo_pages(int dfd, int jfd, const struct pj_header *h, const char *dir)
{
	uint64_t *pfns = NULL, i, off, want = h->nr_pages * h->page_size;
	uint8_t *buf = NULL;
	size_t per = COPY_BUF / h->page_size, k, n;
	struct stat st;
	int fd, rc = -1;

	fd = openat(dfd, IMG_NAME, O_RDWR | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		log_warn("%s/%s: epoch %" PRIu64 " is in the journal, but "
		    "the image", dir, IMG_NAME, h->epoch);
		goto out;
	}
	if ((uint64_t)st.st_size != want) {
		log_warnx("%s/%s: %llu bytes, the journal of epoch %" PRIu64
		    " is for %" PRIu64 ": not redone", dir, IMG_NAME,
		    (unsigned long long)st.st_size, h->epoch, want);
		errno = EINVAL;
		goto out;
	}
	pfns = malloc(h->npfns ? h->npfns * 8 : 1);
	buf = malloc(COPY_BUF);
	if (pfns == NULL || buf == NULL)
		goto out;
	if (pread_full(jfd, pfns, h->npfns * 8, sizeof *h) == -1)
		goto io;
	for (i = 0; i < h->npfns; i++) {
		pfns[i] = le64toh(pfns[i]);
		if (pfns[i] >= h->nr_pages) {
			log_warnx("%s/%s: pfn %" PRIu64 " out of range in a "
			    "journal that checks: not redone", dir,
			    JOURNAL_NAME, pfns[i]);
			errno = EINVAL;
			goto out;
		}
	}
	off = sizeof *h + h->npfns * 8;
	for (i = 0; i < h->npfns; i += n) {
		n = h->npfns - i < per ? (size_t)(h->npfns - i) : per;
		if (pread_full(jfd, buf, n * h->page_size, off) == -1)
			goto io;
		off += n * h->page_size;
		for (k = 0; k < n; k++)
			if (pwrite_full(fd, buf + k * h->page_size,
			    h->page_size, pfns[i + k] * h->page_size) == -1)
				goto io;
	}
	if (fdatasync(fd) == -1)
		goto io;
	rc = 0;
	goto out;
io:
	log_warn("%s: redo of epoch %" PRIu64, dir, h->epoch);
out:
	if (fd != -1)
		close(fd);
	free(pfns);
	free(buf);
	return rc;
}

/* Finish or drop what the journal holds, remove leftovers, and read what
 * DIR then holds.  DFD is locked. */
static int
recover_locked(int dfd, const char *dir, struct store_state *st)
{
	struct pj_header h;
	struct stat sb;
	uint64_t body = 0, boot = boot_hash();
	unsigned long long e, sess, b;
	char buf[160];
	int jfd, ok, synced, unsynced = 0;

	memset(st, 0, sizeof *st);
	jfd = openat(dfd, JOURNAL_NAME, O_RDWR | O_CLOEXEC);
	if (jfd == -1 && errno != ENOENT) {
		log_warn("%s/%s", dir, JOURNAL_NAME);
		return -1;
	}
	if (jfd != -1 && fstat(jfd, &sb) == 0 && sb.st_size > 0) {
		ok = journal_check(jfd, (uint64_t)sb.st_size, &h, &body);
		if (ok == -1) {
			log_warn("%s/%s: read", dir, JOURNAL_NAME);
			goto err;
		}
		st->journal_epoch = h.epoch;
		if (ok == 2)
			goto clean;
		/* Written without sync before the host restarted: its pages
		 * may be half on disk, and so may the image's. */
		if (h.magic == PJ_MAGIC && !(h.flags & PJ_SYNCED) &&
		    h.boot != boot)
			unsynced = 1;
		if (ok && !unsynced) {
			if (h.kind == PJ_KIND_PAGES) {
				if (redo_pages(dfd, jfd, &h, dir) == -1)
					goto err;
			} else if (renameat(dfd, NEW_NAME, dfd,
			    IMG_NAME) == -1 && (errno != ENOENT ||
			    fstatat(dfd, IMG_NAME, &sb, 0) == -1)) {
				/* ENOENT with an image: renamed before the
				 * crash (nothing removes proc-arena.new
				 * while such a journal is there). */
				log_warn("%s: rename %s", dir, NEW_NAME);
				goto err;
			}
			if (fsync(dfd) == -1 ||
			    put_epoch_files(dfd, h.epoch, h.session, boot,
			    1) == -1) {
				log_warn("%s: epoch files of epoch %" PRIu64,
				    dir, h.epoch);
				goto err;
			}
			st->recovery = STORE_REDONE;
		} else if (!unsynced)
			st->recovery = STORE_DROPPED;
		/* Retired only now: a crash in the redo redoes it again. */
		if (retire(jfd) == -1 || fdatasync(jfd) == -1) {
			log_warn("%s/%s: retire", dir, JOURNAL_NAME);
			goto err;
		}
	}
clean:
	if (jfd != -1)
		close(jfd);
	jfd = -1;
	/* Leftovers of a commit that did not happen. */
	if ((unlinkat(dfd, NEW_NAME, 0) == -1 && errno != ENOENT) ||
	    (unlinkat(dfd, EPOCH_NAME ".tmp", 0) == -1 && errno != ENOENT)) {
		log_warn("%s: remove leftovers", dir);
		return -1;
	}
	if (get_file(dfd, SESSION_NAME, buf, sizeof buf) == 0 &&
	    sscanf(buf, "session %llx epoch %llu boot %llx synced %d", &sess,
	    &e, &b, &synced) == 4 && !synced && b != boot)
		unsynced = 1;
	if (unsynced) {
		/* Kept for a post-mortem, never offered. */
		if (renameat(dfd, EPOCH_NAME, dfd, EPOCH_NAME ".unsynced") == -1 &&
		    errno != ENOENT) {
			log_warn("%s: set %s aside", dir, EPOCH_NAME);
			return -1;
		}
		log_warnx("%s: the replica was committed without sync "
		    "(no remusd --proc-sync) before this host restarted: it may "
		    "be torn, not offered (%s.unsynced)", dir, EPOCH_NAME);
		return 0;
	}
	if (fstatat(dfd, IMG_NAME, &sb, 0) == 0 &&
	    get_file(dfd, EPOCH_NAME, buf, sizeof buf) == 0 &&
	    sscanf(buf, "%llu", &e) == 1 && e > 0) {
		st->committed = 1;
		st->epoch = e;
		if (get_file(dfd, SESSION_NAME, buf, sizeof buf) == 0 &&
		    sscanf(buf, "session %llx epoch %llu", &sess, &e) == 2 &&
		    e == st->epoch)
			st->session = sess;
	}
	if (st->recovery == STORE_REDONE)
		log_info("%s: finished the commit of epoch %" PRIu64 " that "
		    "a crash interrupted (it was complete)", dir,
		    st->journal_epoch);
	else if (st->recovery == STORE_DROPPED && st->committed)
		log_info("%s: dropped an incomplete commit (epoch %" PRIu64
		    "); the replica stays at epoch %" PRIu64, dir,
		    st->journal_epoch, st->epoch);
	else if (st->recovery == STORE_DROPPED)
		log_info("%s: dropped an incomplete commit (epoch %" PRIu64
		    "); no replica was committed before it", dir,
		    st->journal_epoch);
	return 0;
err:
	if (jfd != -1)
		close(jfd);
	return -1;
}

static int
lock_dir(int dfd, const char *dir)
{
	if (flock(dfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		log_warnx("%s: in use by a running remusd", dir);
		errno = EBUSY;
	} else
		log_warn("%s: lock", dir);
	return -1;
}

int
store_recover(const char *dir, struct store_state *st)
{
	int dfd, rc;

	memset(st, 0, sizeof *st);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", dir);
		return -1;
	}
	rc = lock_dir(dfd, dir);
	if (rc == 0)
		rc = recover_locked(dfd, dir, st);
	close(dfd);		/* unlocks */
	return rc;
}

int
store_kept(const char *dir, uint64_t *bytes, uint64_t *epoch)
{
	char buf[32], *end;
	struct stat sb;
	int dfd, rc = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return errno == ENOENT ? 0 : -1;
	if (get_file(dfd, EPOCH_NAME, buf, sizeof buf) == -1) {
		rc = errno == ENOENT ? 0 : -1;
		goto out;
	}
	errno = 0;
	*epoch = strtoull(buf, &end, 10);
	if (errno != 0 || end == buf || *epoch == 0)
		goto out;	/* no epoch: nothing committed */
	if (fstatat(dfd, IMG_NAME, &sb, 0) == -1) {
		rc = errno == ENOENT ? 0 : -1;
		goto out;
	}
	*bytes = (uint64_t)sb.st_size;
	rc = 1;
out:
	close(dfd);
	return rc;
}

/* ---- The store ------------------------------------------------------------ */

struct store *
store_open(const char *dir, uint64_t nr_pages, uint32_t page_size,
    int durable, struct store_state *prev)
{
	struct store_state st;
	struct store *s;
	void *p;
	int e;

	if (nr_pages == 0 || nr_pages > PJ_PAGES_MAX || page_size < 512 ||
	    page_size > PJ_PAGE_MAX || (page_size & (page_size - 1))) {
		log_warnx("%s: %" PRIu64 " pages of %u: not a replica size",
		    dir, nr_pages, page_size);
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->dfd = s->jfd = s->fd = -1;
	s->map = s->img_map = MAP_FAILED;
	s->nr_pages = nr_pages;
	s->page_size = page_size;
	s->size = nr_pages * page_size;
	s->durable = durable;
	s->first = 1;
	s->dir = strdup(dir);
	s->copied = calloc((nr_pages + 63) / 64, 8);
	s->zpage = calloc(1, page_size);
	if (s->dir == NULL || s->copied == NULL || s->zpage == NULL ||
	    asprintf(&s->img, "%s/%s", dir, IMG_NAME) == -1) {
		s->img = NULL;
		goto err;
	}
	if (getrandom(&s->session, sizeof s->session, 0) !=
	    (ssize_t)sizeof s->session)
		s->session = now_ns() ^ ((uint64_t)getpid() << 32);
	if (s->session == 0)
		s->session = 1;
	s->boot = boot_hash();
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		goto err;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd == -1) {
		log_warn("%s", dir);
		goto err;
	}
	if (lock_dir(s->dfd, dir) == -1 ||
	    recover_locked(s->dfd, dir, &st) == -1)
		goto err;
	if (prev)
		*prev = st;
	s->prev = st;
	if (st.committed)
		log_info("%s: keeping the replica of epoch %" PRIu64 " until "
		    "this session commits", dir, st.epoch);
	s->jfd = openat(s->dfd, JOURNAL_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (s->jfd == -1) {
		log_warn("%s/%s", dir, JOURNAL_NAME);
		goto err;
	}
	s->fd = openat(s->dfd, NEW_NAME, O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (s->fd == -1) {
		log_warn("%s/%s", dir, NEW_NAME);
		goto err;
	}
	if (ftruncate(s->fd, (off_t)s->size) == -1) {
		log_warn("size %s/%s to %" PRIu64 " bytes", dir, NEW_NAME,
		    s->size);
		goto err;
	}
	/* Reserve the blocks now: a store into a shared mapping of a file
	 * the filesystem cannot extend is a SIGBUS in the receiver, not an
	 * error; ENOSPC here is. */
	errno = posix_fallocate(s->fd, 0, (off_t)s->size);
	if (errno != 0 && errno != EOPNOTSUPP && errno != EINVAL) {
		log_warn("reserve %" PRIu64 " bytes for %s/%s", s->size, dir,
		    NEW_NAME);
		goto err;
	}
	if (durable && fsync(s->dfd) == -1) {
		log_warn("%s: sync", dir);
		goto err;
	}
	p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED) {
		log_warn("map %s/%s", dir, NEW_NAME);
		goto err;
	}
	s->map = p;
	return s;
err:
	e = errno;
	store_close(s);
	errno = e;
	return NULL;
}

void *
store_page(struct store *s, uint64_t pfn)
{
	if (s->broken) {
		errno = EIO;
		return NULL;
	}
	if (pfn >= s->nr_pages) {
		errno = EINVAL;
		return NULL;
	}
	return s->map + pfn * s->page_size;
}

/* Journal header and commit record for EPOCH into the journal; the body
 * between them is the caller's.  Returns the record's offset. */
static void
fill_header(struct store *s, struct pj_header *h, uint32_t kind,
    uint64_t epoch, uint64_t npfns)
{
	memset(h, 0, sizeof *h);
	h->magic = htole64(PJ_MAGIC);
	h->version = htole32(PJ_VERSION);
	h->kind = htole32(kind);
	h->epoch = htole64(epoch);
	h->session = htole64(s->session);
	h->npfns = htole64(npfns);
	h->nr_pages = htole64(s->nr_pages);
	h->page_size = htole32(s->page_size);
	h->flags = htole32(s->durable ? PJ_SYNCED : 0);
	h->boot = htole64(s->boot);
}

static int
put_record(struct store *s, uint64_t epoch, uint64_t body, uint64_t sum)
{
	struct pj_record r = {
		.magic = htole64(PJ_REC_MAGIC),
		.epoch = htole64(epoch),
		.body_len = htole64(body),
		.xxh3 = htole64(sum),
	};

	crash_point(FI_REPLICA_CRASH_BEFORE_RECORD, epoch);
	slow_point(epoch);
	if (pwrite_full(s->jfd, &r, sizeof r, body) == -1 ||
	    sync_fd(s->jfd, s->durable) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_AFTER_JOURNAL, epoch);
	return 0;
}

/* Step 1 for the N pages of s->ents (sorted by pfn, each once). */
static int
write_journal(struct store *s, uint64_t epoch, size_t n)
{
	struct pj_header h;
	struct iovec iov[IOV_BATCH];
	XXH3_state_t *xs;
	uint64_t off, sum;
	size_t i, k, end, half = (n + 1) / 2;
	int rc = -1;

	xs = XXH3_createState();
	if (xs == NULL || XXH3_64bits_reset(xs) != XXH_OK)
		goto out;
	fill_header(s, &h, PJ_KIND_PAGES, epoch, n);
	for (i = 0; i < n; i++)
		s->le[i] = htole64(s->ents[i].pfn);
	XXH3_64bits_update(xs, &h, sizeof h);
	XXH3_64bits_update(xs, s->le, n * 8);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof h;
	iov[1].iov_base = s->le;
	iov[1].iov_len = n * 8;
	if (pwritev_full(s->jfd, iov, 2, 0) == -1)
		goto out;
	off = sizeof h + n * 8;
	/* The first batches end at half, for the crash point there. */
	for (i = 0; i < n; i += k) {
		end = i < half ? half : n;
		for (k = 0; k < IOV_BATCH && i + k < end; k++) {
			iov[k].iov_base = (void *)(s->ents[i + k].src ?
			    s->ents[i + k].src : s->zpage);
			iov[k].iov_len = s->page_size;
			XXH3_64bits_update(xs, iov[k].iov_base, s->page_size);
		}
		if (pwritev_full(s->jfd, iov, (int)k, off) == -1)
			goto out;
		off += k * s->page_size;
		slow_point(epoch);
		if (i + k == half)
			crash_point(FI_REPLICA_CRASH_IN_JOURNAL, epoch);
	}
	if (n == 0)
		crash_point(FI_REPLICA_CRASH_IN_JOURNAL, epoch);
	sum = XXH3_64bits_digest(xs);
	rc = put_record(s, epoch, off, sum);
out:
	XXH3_freeState(xs);
	return rc;
}

/* Step 2: the sorted pages into the image, through a shared mapping of
 * it: a pwrite per page cost ~50 us (inode update per call), a memcpy
 * into the page cache ~1.  Blocks were reserved when the image was
 * built, and fdatasync reports what writeback could not write.  A zero
 * page that is zero in the image already is left alone (not dirtied). */
static int
apply_pages(struct store *s, uint64_t epoch, size_t n)
{
	const struct pj_ent *e = s->ents;
	size_t i, j, ps = s->page_size, half = (n + 1) / 2;
	uint8_t *dst;

	/* Runs (pages adjacent in the image and at their source) end at
	 * half too, for the crash point there. */
	for (i = 0; i < n; i = j) {
		dst = s->img_map + e[i].pfn * ps;
		if (e[i].src == NULL) {
			if (!page_is_zero(dst, ps))
				memset(dst, 0, ps);
			j = i + 1;
		} else {
			for (j = i + 1; j < n && j != half &&
			    e[j].pfn == e[j - 1].pfn + 1 && e[j].src != NULL &&
			    e[j].src == e[j - 1].src + ps; j++)
				;
			/* A page listed but never stored to is the image's
			 * own page in both mappings: copied onto itself,
			 * unchanged. */
			memcpy(dst, e[i].src, (j - i) * ps);
		}
		if (j == half)
			crash_point(FI_REPLICA_CRASH_IN_APPLY, epoch);
		if ((j & 255) < j - i)
			slow_point(epoch);
	}
	if (n == 0)
		crash_point(FI_REPLICA_CRASH_IN_APPLY, epoch);
	return sync_fd(s->fd, s->durable);
}

/* The private copies of committed pages hold what the image holds now:
 * they may stay, but not pile up to a second copy of the guest.  Once
 * they are an eighth of the image (at least DROP_MIN), one madvise
 * over the whole mapping drops them all: the mapping then reads the
 * image's page cache again.  Per commit it would cost a madvise per run
 * of pages, more than the rest of a small commit together. */
static void
drop_copies(struct store *s, size_t n)
{
	uint64_t limit = s->size / 8 > DROP_MIN ? s->size / 8 : DROP_MIN;
	uint64_t bit;
	size_t i;

	/* Distinct pages: a guest rewrites the same ones, and a page
	 * already copied costs nothing more. */
	for (i = 0; i < n; i++) {
		bit = 1ull << (s->ents[i].pfn & 63);
		if (!(s->copied[s->ents[i].pfn >> 6] & bit)) {
			s->copied[s->ents[i].pfn >> 6] |= bit;
			s->private_pages++;
		}
	}
	if (s->private_pages * s->page_size < limit)
		return;
	if (madvise(s->map, s->size, MADV_DONTNEED) == -1)
		log_debug("madvise: %s", strerror(errno));
	memset(s->copied, 0, ((s->nr_pages + 63) / 64) * 8);
	s->private_pages = 0;
}

/* proc-guest-name: which guest and geometry the image is of, for the next
 * session's store_resume.  Written once per session, with its first
 * commit.  Not part of the commit's atomicity: a crash between it and the
 * image's epoch can leave it naming the other of two guests that share a
 * directory, which only costs efficiency (a resync sends every page whose
 * hash differs, whoever the image was of). */
static int
put_guest(struct store *s)
{
	char text[STORE_GUEST_MAX + 96];

	if (!s->guest_due)
		return 0;
	snprintf(text, sizeof text, "page_size %u nr_pages %" PRIu64
	    " name %s\n", s->page_size, s->nr_pages, s->guest);
	if (put_file(s->dfd, GUEST_NAME, text, s->durable) == -1)
		return -1;
	s->guest_due = 0;
	return 0;
}

/* A session's first commit: proc-arena.new becomes the image. */
static int
commit_image(struct store *s, uint64_t epoch)
{
	struct pj_header h;
	XXH3_state_t *xs;
	uint64_t sum;
	void *p;

	if (sync_fd(s->fd, s->durable) == -1)
		return -1;
	slow_point(epoch);
	fill_header(s, &h, PJ_KIND_IMAGE, epoch, 0);
	xs = XXH3_createState();
	if (xs == NULL || XXH3_64bits_reset(xs) != XXH_OK) {
		XXH3_freeState(xs);
		errno = ENOMEM;
		return -1;
	}
	XXH3_64bits_update(xs, &h, sizeof h);
	sum = XXH3_64bits_digest(xs);
	XXH3_freeState(xs);
	if (pwrite_full(s->jfd, &h, sizeof h, 0) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_IN_JOURNAL, epoch);
	if (put_record(s, epoch, sizeof h, sum) == -1)
		return -1;
	if (renameat(s->dfd, NEW_NAME, s->dfd, IMG_NAME) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_IN_APPLY, epoch);
	if (s->durable && fsync(s->dfd) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_AFTER_APPLY, epoch);
	if (put_guest(s) == -1 || put_epoch_files(s->dfd, epoch, s->session,
	    s->boot, s->durable) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_AFTER_EPOCH, epoch);
	if (retire(s->jfd) == -1)
		return -1;
	/* From now on a private mapping of the same file (same address:
	 * page() pointers stay valid), so stores stay off the image; a
	 * shared one elsewhere applies commits. */
	p = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED)
		return -1;
	s->img_map = p;
	p = mmap(s->map, s->size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_FIXED, s->fd, 0);
	if (p == MAP_FAILED)
		return -1;
	s->first = 0;
	return 0;
}

/* COPIED: the pages come from the working copy, whose private copies of
 * them stay behind (drop_copies); else from the caller. */
static int
commit_pages(struct store *s, uint64_t epoch, size_t n, int copied)
{
	if (write_journal(s, epoch, n) == -1)
		return -1;
	slow_point(epoch);
	if (apply_pages(s, epoch, n) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_AFTER_APPLY, epoch);
	if (put_guest(s) == -1 || put_epoch_files(s->dfd, epoch, s->session,
	    s->boot, s->durable) == -1)
		return -1;
	crash_point(FI_REPLICA_CRASH_AFTER_EPOCH, epoch);
	if (retire(s->jfd) == -1)
		return -1;
	if (copied)
		drop_copies(s, n);
	return 0;
}

/* The checks both commits make, and room for N pages in s->ents. */
static int
commit_check(struct store *s, uint64_t epoch, const uint64_t *pfns,
    size_t n, size_t max)
{
	struct pj_ent *p;
	uint64_t *q;
	size_t i;

	if (s->broken) {
		log_warnx("epoch %" PRIu64 ": an earlier commit failed",
		    epoch);
		errno = EIO;
		return -1;
	}
	if (n > max || epoch == 0 || (!s->first && epoch <= s->epoch)) {
		log_warnx("epoch %" PRIu64 ": %zu pages after epoch %" PRIu64
		    ": not a commit", epoch, n, s->epoch);
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++)
		if (pfns[i] >= s->nr_pages) {
			log_warnx("epoch %" PRIu64 ": pfn %" PRIu64 " of %"
			    PRIu64 ": out of range", epoch, pfns[i],
			    s->nr_pages);
			errno = EINVAL;
			return -1;
		}
	if (n > s->cap) {
		p = realloc(s->ents, n * sizeof *p);
		if (p == NULL)
			return -1;
		s->ents = p;
		q = realloc(s->le, n * sizeof *q);
		if (q == NULL)
			return -1;
		s->le = q;
		s->cap = n;
	}
	return 0;
}

/* Sort s->ents by pfn.  An epoch may carry no page at all (s->ents is
 * still NULL then): qsort's array must not be NULL even for 0. */
static void
sort_ents(struct store *s, size_t n)
{
	if (n > 1)
		qsort(s->ents, n, sizeof *s->ents, cmp_ent);
}

static int
commit_failed(struct store *s, uint64_t epoch)
{
	/* Whether n or n - 1 is on disk now is for the next recovery to
	 * say; this store hands out nothing more. */
	log_warn("epoch %" PRIu64 ": commit to %s", epoch, s->dir);
	s->broken = 1;
	return -1;
}

int
store_commit(struct store *s, uint64_t epoch, const uint64_t *pfns, size_t n)
{
	size_t i, k;

	if (commit_check(s, epoch, pfns, n, s->nr_pages * 2 + 1024) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		s->ents[i].pfn = pfns[i];
		s->ents[i].src = s->map + pfns[i] * s->page_size;
	}
	sort_ents(s, n);
	for (i = k = 0; i < n; i++)
		if (k == 0 || s->ents[i].pfn != s->ents[k - 1].pfn)
			s->ents[k++] = s->ents[i];
	if ((s->first ? commit_image(s, epoch) : commit_pages(s, epoch, k, 1))
	    == -1)
		return commit_failed(s, epoch);
	s->epoch = epoch;
	return 0;
}

int
store_commit_pages(struct store *s, uint64_t epoch, const uint64_t *pfns,
    size_t n, const uint8_t *pages, const uint8_t *zero)
{
	size_t i, ps = s->page_size;

	if (commit_check(s, epoch, pfns, n, s->nr_pages) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		s->ents[i].pfn = pfns[i];
		s->ents[i].src = zero && zero[i] ? NULL : pages + i * ps;
	}
	sort_ents(s, n);
	for (i = 1; i < n; i++)
		if (s->ents[i].pfn == s->ents[i - 1].pfn) {
			log_warnx("epoch %" PRIu64 ": pfn %" PRIu64 " twice",
			    epoch, s->ents[i].pfn);
			errno = EINVAL;
			return -1;
		}
	if (s->first) {
		/* The working copy is the new image, zeros until now: the
		 * pages go there and the image is committed whole. */
		for (i = 0; i < n; i++)
			if (s->ents[i].src != NULL)
				memcpy(s->map + s->ents[i].pfn * ps,
				    s->ents[i].src, ps);
		if (commit_image(s, epoch) == -1)
			return commit_failed(s, epoch);
	} else {
		/* Copies store_page() writes left in the working copy would
		 * hide what this commit puts in the image. */
		if (s->private_pages != 0) {
			if (madvise(s->map, s->size, MADV_DONTNEED) == -1)
				log_debug("madvise: %s", strerror(errno));
			memset(s->copied, 0, ((s->nr_pages + 63) / 64) * 8);
			s->private_pages = 0;
		}
		if (commit_pages(s, epoch, n, 0) == -1)
			return commit_failed(s, epoch);
	}
	s->epoch = epoch;
	return 0;
}

uint64_t
store_session(const struct store *s)
{
	return s->session;
}

int
store_check_committed(struct store *s, uint64_t epoch)
{
	unsigned long long sess, e;
	char buf[128];

	if (s->broken || s->first || s->epoch == 0 || s->epoch != epoch) {
		log_warnx("%s: this session has not committed epoch %" PRIu64
		    "%s: not activated", s->dir, epoch, s->broken ?
		    " (a commit failed)" : s->first ? " (nor any other; the "
		    "replica on disk is an earlier session's)" : "");
		errno = ESTALE;
		return -1;
	}
	if (get_file(s->dfd, SESSION_NAME, buf, sizeof buf) == -1 ||
	    sscanf(buf, "session %llx epoch %llu", &sess, &e) != 2 ||
	    sess != s->session || e != epoch) {
		log_warnx("%s: the replica on disk is not epoch %" PRIu64
		    " of this session (%016" PRIx64 "): not activated", s->dir,
		    epoch, s->session);
		errno = ESTALE;
		return -1;
	}
	return 0;
}

int
store_resume(struct store *s, const char *guest, int allow, uint64_t *epoch)
{
	unsigned long long np;
	unsigned ps;
	struct stat sb;
	char buf[STORE_GUEST_MAX + 96];
	const char *name;
	int fd = -1, n;
	void *img = MAP_FAILED, *work = MAP_FAILED;

	*epoch = 0;
	if (strlen(guest) > STORE_GUEST_MAX || strchr(guest, '\n') != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!s->first || s->broken) {
		errno = EINVAL;
		return -1;
	}
	snprintf(s->guest, sizeof s->guest, "%s", guest);
	s->guest_due = 1;
	if (!allow || !s->prev.committed)
		return 0;
	/* The same guest, the same geometry, an image of that size. */
	n = -1;
	if (get_file(s->dfd, GUEST_NAME, buf, sizeof buf) == -1 ||
	    sscanf(buf, "page_size %u nr_pages %llu name %n", &ps, &np,
	    &n) != 2 || n < 0) {
		log_info("%s: the replica of epoch %" PRIu64 " does not say "
		    "which guest it is of: a full checkpoint", s->dir,
		    s->prev.epoch);
		return 0;
	}
	name = buf + n;
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(name, guest) != 0 || ps != s->page_size ||
	    np != s->nr_pages) {
		log_info("%s: the replica of epoch %" PRIu64 " is of guest %s "
		    "(%llu pages of %u), not %s (%" PRIu64 " of %u): a full "
		    "checkpoint", s->dir, s->prev.epoch, name, np, ps, guest,
		    s->nr_pages, s->page_size);
		return 0;
	}
	fd = openat(s->dfd, IMG_NAME, O_RDWR | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &sb) == -1) {
		log_warn("%s/%s", s->dir, IMG_NAME);
		goto err;
	}
	if ((uint64_t)sb.st_size != s->size) {
		log_warnx("%s/%s: %lld bytes, want %" PRIu64 ": a full "
		    "checkpoint", s->dir, IMG_NAME, (long long)sb.st_size,
		    s->size);
		close(fd);
		return 0;
	}
	img = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	work = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED || work == MAP_FAILED) {
		log_warn("map %s/%s", s->dir, IMG_NAME);
		goto err;
	}
	/* From here the session is as after a first commit, on the image
	 * an earlier session committed: page() reads its content, and every
	 * commit (the first one included) goes through the journal, so the
	 * image stays committed until a later one is.  The empty
	 * proc-arena.new store_open built is not needed. */
	munmap(s->map, s->size);
	close(s->fd);
	(void)unlinkat(s->dfd, NEW_NAME, 0);
	s->map = work;
	s->img_map = img;
	s->fd = fd;
	s->first = 0;
	s->resumed = 1;
	/* Same name, same geometry: proc-guest-name stays as it is. */
	s->guest_due = 0;
	*epoch = s->prev.epoch;
	log_info("%s: resuming the replica of epoch %" PRIu64 " of guest %s",
	    s->dir, *epoch, guest);
	return 1;
err:
	if (img != MAP_FAILED)
		munmap(img, s->size);
	if (work != MAP_FAILED)
		munmap(work, s->size);
	if (fd != -1)
		close(fd);
	return -1;
}

int
store_hash_pages(struct store *s, uint64_t first, size_t n, uint8_t *out)
{
	const uint8_t *p;
	XXH128_hash_t h;
	size_t i;

	if (!s->resumed || s->epoch != 0 || first > s->nr_pages ||
	    n > s->nr_pages - first) {
		errno = EINVAL;
		return -1;
	}
	/* The committed image itself (the shared mapping), not the working
	 * copy: they are equal until this session's first commit, and the
	 * image is what the hashes stand for. */
	for (i = 0; i < n; i++) {
		p = s->img_map + (first + i) * s->page_size;
		h = XXH3_128bits(p, s->page_size);
		for (int b = 0; b < 8; b++) {
			out[i * 16 + b] = (uint8_t)(h.low64 >> (8 * b));
			out[i * 16 + 8 + b] = (uint8_t)(h.high64 >> (8 * b));
		}
	}
	return 0;
}

const char *
store_image_path(const struct store *s)
{
	return s->img;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->map != MAP_FAILED)
		munmap(s->map, s->size);
	if (s->img_map != MAP_FAILED)
		munmap(s->img_map, s->size);
	if (s->fd != -1)
		close(s->fd);
	/* A session that never tried to commit leaves no half-built image.
	 * After a failed first commit it may be the one a committed journal
	 * names: the next recovery decides. */
	if (s->first && !s->broken && s->dfd != -1 && s->fd != -1)
		(void)unlinkat(s->dfd, NEW_NAME, 0);
	if (s->jfd != -1)
		close(s->jfd);
	if (s->dfd != -1)
		close(s->dfd);
	free(s->ents);
	free(s->le);
	free(s->zpage);
	free(s->copied);
	free(s->img);
	free(s->dir);
	free(s);
}
