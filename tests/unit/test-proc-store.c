/* tests/unit/test-proc-store.c -- the proc replica's commit is atomic
 * across a crash (domain/proc-store.h): a forked child commits epochs
 * and dies at each step of a commit (REMUS_FAULT=replica-crash-*, which
 * _exit(9)s there) or at random moments (SIGKILL); recovery must then
 * yield exactly epoch n - 1 or epoch n, byte for byte, never a mix.  No
 * root needed. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "fault.h"
#include "log.h"
#include "proc-store.h"
#include "util.h"

#define PS		4096u
#define NPAGES		512u		/* 2 MiB arena */
#define DIRTY		60u		/* pages per epoch after the first */

static char dir[64];

static void
setup(void)
{
	strcpy(dir, "/tmp/test-proc-store.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	log_init("test-proc-store", 1, 0);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
}

/* ---- A model of what each epoch writes ------------------------------------ */

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Content of PFN as epoch E of session SALT writes it. */
static void
fill(uint8_t *p, uint64_t salt, uint64_t e, uint64_t pfn)
{
	uint64_t *w = (uint64_t *)(void *)p, s = mix(salt * 7919 + e * 131 + pfn);
	size_t i;

	for (i = 0; i < PS / 8; i++)
		w[i] = s = mix(s + i);
}

/* Pages epoch E (> 1) writes: DIRTY distinct ones, some in runs. */
static size_t
dirty_set(uint64_t salt, uint64_t e, uint64_t *pfns)
{
	uint8_t seen[NPAGES] = { 0 };
	size_t n = 0;
	uint64_t x = mix(salt ^ (e << 20)), p;

	while (n < DIRTY) {
		x = mix(x);
		p = x % NPAGES;
		/* Runs of adjacent pages, as a guest writes them. */
		for (; n < DIRTY && p < NPAGES && !seen[p]; p++) {
			seen[p] = 1;
			pfns[n++] = p;
			if (x & 8)
				break;
		}
	}
	return n;
}

/* The first epoch of a session writes every page but every seventh (a
 * zero page the receiver skips), and lists them all. */
static int
full_page(uint64_t pfn)
{
	return pfn % 7 != 0;
}

/* The image epoch E of session SALT commits, in IMG. */
static void
model(uint8_t *img, uint64_t salt, uint64_t e)
{
	uint64_t pfns[DIRTY], k, i;
	size_t n;

	memset(img, 0, (size_t)NPAGES * PS);
	for (i = 0; i < NPAGES; i++)
		if (full_page(i))
			fill(img + i * PS, salt, 1, i);
	for (k = 2; k <= e; k++) {
		n = dirty_set(salt, k, pfns);
		for (i = 0; i < n; i++)
			fill(img + pfns[i] * PS, salt, k, pfns[i]);
	}
}

static uint64_t
model_sum(uint64_t salt, uint64_t e)
{
	uint8_t *img = malloc((size_t)NPAGES * PS);
	uint64_t h;

	model(img, salt, e);
	h = XXH3_64bits(img, (size_t)NPAGES * PS);
	free(img);
	return h;
}

/* How do_epoch commits: 0, pages written through store_page() and
 * store_commit(); 1, pages handed over from a buffer of ours with
 * store_commit_pages(), zero pages flagged (the receiver's way).  Set
 * before the children fork. */
static int via_pages;

/* Epoch E through store_commit_pages. */
static int
do_epoch_pages(struct store *s, uint64_t salt, uint64_t e)
{
	uint64_t pfns[NPAGES], i;
	uint8_t *buf = malloc((size_t)NPAGES * PS), zero[NPAGES];
	size_t n = 0;
	int rc;

	cr_assert_not_null(buf);
	if (e == 1) {
		for (i = 0; i < NPAGES; i++) {
			zero[n] = !full_page(i);
			if (full_page(i))
				fill(buf + n * PS, salt, 1, i);
			pfns[n++] = i;
		}
	} else {
		n = dirty_set(salt, e, pfns);
		/* Listed in reverse: the store sorts them itself. */
		for (i = 0; i < n; i++) {
			zero[i] = 0;
			fill(buf + (n - 1 - i) * PS, salt, e, pfns[i]);
		}
		for (i = 0; i < n / 2; i++) {
			uint64_t t = pfns[i];

			pfns[i] = pfns[n - 1 - i];
			pfns[n - 1 - i] = t;
		}
	}
	rc = store_commit_pages(s, e, pfns, n, buf, zero);
	free(buf);
	return rc;
}

/* Write and commit epoch E through S, as the receiver does. */
static int
do_epoch(struct store *s, uint64_t salt, uint64_t e)
{
	uint64_t pfns[NPAGES], i;
	size_t n = 0;

	if (via_pages)
		return do_epoch_pages(s, salt, e);

	if (e == 1) {
		for (i = 0; i < NPAGES; i++) {
			if (full_page(i))
				fill(store_page(s, i), salt, 1, i);
			pfns[n++] = i;
		}
	} else {
		n = dirty_set(salt, e, pfns);
		for (i = 0; i < n; i++)
			fill(store_page(s, pfns[i]), salt, e, pfns[i]);
	}
	return store_commit(s, e, pfns, n);
}

static uint64_t
image_sum(void)
{
	char path[128];
	uint8_t *buf = malloc((size_t)NPAGES * PS);
	uint64_t h;
	int fd;

	snprintf(path, sizeof path, "%s/proc-arena.img", dir);
	fd = open(path, O_RDONLY);
	cr_assert(fd != -1, "%s: %s", path, strerror(errno));
	cr_assert(eq(int, read_full(fd, buf, (size_t)NPAGES * PS, NULL), 0));
	close(fd);
	h = XXH3_64bits(buf, (size_t)NPAGES * PS);
	free(buf);
	return h;
}

static uint64_t
epoch_file(void)
{
	char path[128];
	unsigned long long e = 0;
	FILE *fp;

	snprintf(path, sizeof path, "%s/proc-epoch", dir);
	fp = fopen(path, "r");
	cr_assert_not_null(fp);
	cr_assert(eq(int, fscanf(fp, "%llu", &e), 1));
	fclose(fp);
	return e;
}

/* In a child: session SALT commits epochs FROM..TO (FROM > 1 continues
 * nothing: the child always starts a new session at 1), with FAULT armed
 * for epoch TO; exits 0 if it got through. */
static pid_t
child_run(uint64_t salt, uint64_t to, const char *fault, int durable)
{
	struct store *s;
	uint64_t e;
	char num[24];
	pid_t pid;

	pid = fork();
	cr_assert(pid != -1);
	if (pid)
		return pid;
	if (fault) {
		setenv("REMUS_FAULT", fault, 1);
		snprintf(num, sizeof num, "%llu", (unsigned long long)to);
		/* Crash points: the last epoch; slow commits: all. */
		if (strncmp(fault, "replica-crash", 13) == 0)
			setenv("REMUS_FAULT_EPOCH", num, 1);
	}
	if (fault_init() == -1)
		_exit(2);
	s = store_open(dir, NPAGES, PS, durable, NULL);
	if (s == NULL)
		_exit(3);
	for (e = 1; e <= to; e++)
		if (do_epoch(s, salt, e) == -1)
			_exit(4);
	store_close(s);
	_exit(0);
}

static int
child_wait(pid_t pid)
{
	int st;

	cr_assert(eq(int, (int)waitpid(pid, &st, 0), (int)pid));
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* Does the journal hold a commit (retired: a zero header)? */
static int
journal_open(const char *path)
{
	uint64_t magic = 0;
	int fd = open(path, O_RDONLY);

	if (fd == -1)
		return 0;
	if (read(fd, &magic, sizeof magic) != (ssize_t)sizeof magic)
		magic = 0;
	close(fd);
	return magic != 0;
}

/* ---- Tests ------------------------------------------------------------------ */

struct step {
	const char	*fault;
	int		 done;	/* recovery yields the new epoch */
};

static const struct step steps[] = {
	{ "replica-crash-in-journal", 0 },
	{ "replica-crash-before-record", 0 },
	{ "replica-crash-after-journal", 1 },
	{ "replica-crash-in-apply", 1 },
	{ "replica-crash-after-apply", 1 },
	{ "replica-crash-after-session", 1 },
	{ "replica-crash-after-epoch", 1 },
};

/* Crash in the commit of epoch 4 (a journalled one) at every step. */
static void
crash_every_step_delta(int durable)
{
	struct store_state st;
	uint64_t want3 = model_sum(1, 3), want4 = model_sum(1, 4);
	char path[128];
	size_t i;

	snprintf(path, sizeof path, "%s/proc-journal", dir);

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		teardown();
		setup();
		cr_assert(eq(int, child_wait(child_run(1, 4, steps[i].fault,
		    durable)), 9), "%s: did not crash there", steps[i].fault);
		cr_assert(eq(int, store_recover(dir, &st), 0));
		cr_assert(eq(int, st.committed, 1));
		cr_assert(eq(u64, st.epoch, steps[i].done ? 4 : 3),
		    "%s: recovered to epoch %llu", steps[i].fault,
		    (unsigned long long)st.epoch);
		cr_assert(eq(int, (int)st.recovery, steps[i].done ?
		    STORE_REDONE : STORE_DROPPED), "%s", steps[i].fault);
		cr_assert(eq(u64, epoch_file(), st.epoch));
		cr_assert(eq(u64, image_sum(), steps[i].done ? want4 : want3),
		    "%s: the image is not epoch %llu", steps[i].fault,
		    (unsigned long long)st.epoch);
		/* A second recovery finds nothing left to do. */
		cr_assert(not(journal_open(path)), "%s: journal left",
		    steps[i].fault);
		cr_assert(eq(int, store_recover(dir, &st), 0));
		cr_assert(eq(int, (int)st.recovery, STORE_CLEAN));
		cr_assert(eq(u64, image_sum(), steps[i].done ? want4 : want3));
	}
}

Test(proc_store, crash_at_every_step_of_a_commit, .init = setup,
    .fini = teardown, .timeout = 60)
{
	crash_every_step_delta(0);
}

Test(proc_store, crash_at_every_step_of_a_durable_commit, .init = setup,
    .fini = teardown, .timeout = 60)
{
	crash_every_step_delta(1);
}

Test(proc_store, crash_at_every_step_of_a_commit_from_pages, .init = setup,
    .fini = teardown, .timeout = 60)
{
	via_pages = 1;
	crash_every_step_delta(0);
	crash_every_step_delta(1);
}

/* A new session's first, full epoch crashes at every step: the previous
 * session's replica (salt 1, epoch 3) or the new one (salt 2, epoch 1),
 * never anything else, and never no replica at all. */
Test(proc_store, crash_in_a_new_sessions_first_commit, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct store_state st;
	uint64_t old = model_sum(1, 3), new = model_sum(2, 1);
	size_t i;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		teardown();
		setup();
		cr_assert(eq(int, child_wait(child_run(1, 3, NULL, 0)), 0));
		cr_assert(eq(int, child_wait(child_run(2, 1, steps[i].fault,
		    0)), 9), "%s", steps[i].fault);
		cr_assert(eq(int, store_recover(dir, &st), 0));
		cr_assert(eq(int, st.committed, 1));
		cr_assert(eq(u64, st.epoch, steps[i].done ? 1 : 3), "%s",
		    steps[i].fault);
		cr_assert(eq(u64, image_sum(), steps[i].done ? new : old),
		    "%s", steps[i].fault);
	}
}

/* Stores into the working copy change nothing on disk: a session killed
 * after writing pages it never committed leaves the image as it was. */
Test(proc_store, uncommitted_writes_change_nothing, .init = setup,
    .fini = teardown, .timeout = 30)
{
	struct store_state st;
	struct store *s;
	uint64_t i;
	pid_t pid;

	cr_assert(eq(int, child_wait(child_run(1, 2, NULL, 0)), 0));
	pid = fork();
	cr_assert(pid != -1);
	if (pid == 0) {
		s = store_open(dir, NPAGES, PS, 0, NULL);
		if (s == NULL || do_epoch(s, 9, 1) == -1)
			_exit(3);
		for (i = 0; i < NPAGES; i++)
			memset(store_page(s, i), 0xee, PS);
		raise(SIGKILL);
	}
	cr_assert(eq(int, child_wait(pid), 128 + SIGKILL));
	cr_assert(eq(int, store_recover(dir, &st), 0));
	cr_assert(eq(u64, st.epoch, 1));
	cr_assert(eq(u64, image_sum(), model_sum(9, 1)));
}

/* SIGKILL at random moments of a child committing epoch after epoch,
 * its commits slowed down (replica-slow-commit) so that most kills land
 * inside one: whatever epoch recovery finds, the image is exactly that
 * epoch. */
Test(proc_store, random_kills_recover_to_a_whole_epoch, .init = setup,
    .fini = teardown, .timeout = 120)
{
	struct store_state st;
	uint64_t sums[41];
	int i, mid = 0;
	pid_t pid;
	char jpath[128];

	for (i = 1; i <= 40; i++)
		sums[i] = model_sum(3, (uint64_t)i);
	snprintf(jpath, sizeof jpath, "%s/proc-journal", dir);
	srand((unsigned)getpid());
	for (i = 0; i < 40; i++) {
		pid = child_run(3, 40, "replica-slow-commit", i & 1);
		usleep((useconds_t)(rand() % 150000));
		kill(pid, SIGKILL);
		child_wait(pid);
		if (journal_open(jpath))
			mid++;		/* killed inside a commit */
		cr_assert(eq(int, store_recover(dir, &st), 0));
		if (!st.committed)
			continue;	/* killed before its first commit */
		cr_assert(st.epoch >= 1 && st.epoch <= 40);
		cr_assert(eq(u64, image_sum(), sums[st.epoch]),
		    "kill %d: image is not epoch %llu", i,
		    (unsigned long long)st.epoch);
		/* The next child starts a new session over it. */
	}
	cr_log_info("40 random kills, %d inside a commit", mid);
	cr_assert(mid >= 5, "only %d of 40 kills inside a commit", mid);
}

/* A restarted session keeps the committed replica until it commits, and
 * will not call it its own. */
Test(proc_store, new_session_keeps_the_old_replica_until_it_commits,
    .init = setup, .fini = teardown, .timeout = 30)
{
	struct store_state prev;
	struct store *s;
	uint64_t old = model_sum(1, 3), i;
	const uint8_t *p;

	cr_assert(eq(int, child_wait(child_run(1, 3, NULL, 0)), 0));
	s = store_open(dir, NPAGES, PS, 0, &prev);
	cr_assert_not_null(s);
	cr_assert(eq(int, prev.committed, 1));
	cr_assert(eq(u64, prev.epoch, 3));
	cr_assert(prev.session != 0 && prev.session != store_session(s));
	cr_assert(eq(u64, image_sum(), old));
	cr_assert(eq(u64, epoch_file(), 3));
	errno = 0;
	cr_assert(eq(int, store_check_committed(s, 3), -1));
	cr_assert(eq(int, errno, ESTALE));
	for (i = 0; i < NPAGES; i++) {
		p = store_page(s, i);
		cr_assert(p[0] == 0 && memcmp(p, p + 1, PS - 1) == 0,
		    "page %llu of a new session is not zero",
		    (unsigned long long)i);
	}
	/* A second store on the same directory is refused. */
	errno = 0;
	cr_assert_null(store_open(dir, NPAGES, PS, 0, NULL));
	cr_assert(eq(int, errno, EBUSY));
	cr_assert(eq(int, do_epoch(s, 2, 1), 0));
	cr_assert(eq(u64, image_sum(), model_sum(2, 1)));
	cr_assert(eq(int, store_check_committed(s, 1), 0));
	cr_assert(eq(int, do_epoch(s, 2, 2), 0));
	cr_assert(eq(u64, image_sum(), model_sum(2, 2)));
	cr_assert(eq(int, store_check_committed(s, 2), 0));
	store_close(s);
}

/* A journal whose pages do not match its checksum is not a commit. */
Test(proc_store, damaged_journal_is_dropped, .init = setup, .fini = teardown,
    .timeout = 30)
{
	struct store_state st;
	char path[128];
	uint8_t b;
	int fd;

	cr_assert(eq(int, child_wait(child_run(1, 4,
	    "replica-crash-after-journal", 0)), 9));
	snprintf(path, sizeof path, "%s/proc-journal", dir);
	fd = open(path, O_RDWR);
	cr_assert(fd != -1);
	cr_assert(eq(int, (int)pread(fd, &b, 1, 64 + DIRTY * 8 + 100), 1));
	b ^= 1;
	cr_assert(eq(int, (int)pwrite(fd, &b, 1, 64 + DIRTY * 8 + 100), 1));
	close(fd);
	cr_assert(eq(int, store_recover(dir, &st), 0));
	cr_assert(eq(int, (int)st.recovery, STORE_DROPPED));
	cr_assert(eq(u64, st.epoch, 3));
	cr_assert(eq(u64, image_sum(), model_sum(1, 3)));
}

/* The working copy reads the committed content, also after the store
 * dropped its private copies (every 1 MiB of them: about every fifth
 * epoch here), and commits go on from there. */
Test(proc_store, working_copy_follows_the_commits, .init = setup,
    .fini = teardown, .timeout = 30)
{
	uint8_t *img = malloc((size_t)NPAGES * PS);
	struct store *s;
	uint64_t e, i;

	s = store_open(dir, NPAGES, PS, 0, NULL);
	cr_assert_not_null(s);
	for (e = 1; e <= 12; e++) {
		cr_assert(eq(int, do_epoch(s, 5, e), 0));
		model(img, 5, e);
		for (i = 0; i < NPAGES; i++)
			cr_assert(eq(int, memcmp(store_page(s, i),
			    img + i * PS, PS), 0), "epoch %llu page %llu",
			    (unsigned long long)e, (unsigned long long)i);
		cr_assert(eq(u64, image_sum(),
		    XXH3_64bits(img, (size_t)NPAGES * PS)));
	}
	errno = 0;
	cr_assert_null(store_page(s, NPAGES));
	cr_assert(eq(int, errno, EINVAL));
	store_close(s);
	free(img);
}

/* A replica committed without sync is not offered after the host
 * restarted (another boot id): its last writes may never have reached
 * the disk.  With sync it is. */
Test(proc_store, unsynced_replica_not_offered_after_a_host_restart,
    .init = setup, .fini = teardown, .timeout = 30)
{
	struct store_state st;
	char path[128];

	setenv("REMUS_PROC_BOOT_ID", "boot-one", 1);
	cr_assert(eq(int, child_wait(child_run(1, 3, NULL, 0)), 0));
	cr_assert(eq(int, store_recover(dir, &st), 0));
	cr_assert(eq(int, st.committed, 1), "same boot: offered");
	setenv("REMUS_PROC_BOOT_ID", "boot-two", 1);
	cr_assert(eq(int, store_recover(dir, &st), 0));
	cr_assert(eq(int, st.committed, 0), "other boot, no sync: offered");
	snprintf(path, sizeof path, "%s/proc-epoch.unsynced", dir);
	cr_assert(eq(int, access(path, F_OK), 0));

	/* A commit interrupted after its journal, without sync, in the
	 * other boot: not redone either. */
	teardown();
	setup();
	setenv("REMUS_PROC_BOOT_ID", "boot-one", 1);
	cr_assert(eq(int, child_wait(child_run(1, 4,
	    "replica-crash-after-journal", 0)), 9));
	setenv("REMUS_PROC_BOOT_ID", "boot-two", 1);
	cr_assert(eq(int, store_recover(dir, &st), 0));
	cr_assert(eq(int, st.committed, 0));
	cr_assert(eq(int, (int)st.recovery, STORE_CLEAN));

	/* With sync: kept across the restart, the journal redone. */
	teardown();
	setup();
	setenv("REMUS_PROC_BOOT_ID", "boot-one", 1);
	cr_assert(eq(int, child_wait(child_run(1, 4,
	    "replica-crash-after-journal", 1)), 9));
	setenv("REMUS_PROC_BOOT_ID", "boot-two", 1);
	cr_assert(eq(int, store_recover(dir, &st), 0));
	cr_assert(eq(int, st.committed, 1));
	cr_assert(eq(u64, st.epoch, 4));
	cr_assert(eq(u64, image_sum(), model_sum(1, 4)));
	unsetenv("REMUS_PROC_BOOT_ID");
}

/* Commits from the caller's pages: the image and the working copy are
 * each epoch's, the working copy's own (private) copies never made; a
 * page flagged zero becomes zeros in the image (on a resumed or later
 * epoch, where it is not zeros already); a pfn twice is refused. */
Test(proc_store, commit_from_pages_reaches_image_and_working_copy,
    .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t *img = malloc((size_t)NPAGES * PS), page[PS];
	uint64_t e, i, pfns[2];
	struct store *s;
	const uint8_t *p;

	via_pages = 1;
	s = store_open(dir, NPAGES, PS, 0, NULL);
	cr_assert_not_null(s);
	for (e = 1; e <= 12; e++) {
		cr_assert(eq(int, do_epoch(s, 6, e), 0));
		model(img, 6, e);
		for (i = 0; i < NPAGES; i++)
			cr_assert(eq(int, memcmp(store_page(s, i),
			    img + i * PS, PS), 0), "epoch %llu page %llu",
			    (unsigned long long)e, (unsigned long long)i);
		cr_assert(eq(u64, image_sum(),
		    XXH3_64bits(img, (size_t)NPAGES * PS)));
		cr_assert(eq(u64, epoch_file(), e));
	}
	/* Page 1 holds epoch 1's content: zeroed by a flagged entry, with
	 * page 2 rewritten beside it. */
	pfns[0] = 1;
	pfns[1] = 2;
	memset(page, 0x5a, sizeof page);
	{
		uint8_t two[2 * PS], zero[2] = { 1, 0 };

		memset(two, 0xee, PS);		/* not to be read */
		memcpy(two + PS, page, PS);
		cr_assert(eq(int, store_commit_pages(s, 13, pfns, 2, two,
		    zero), 0));
	}
	memset(img + 1 * PS, 0, PS);
	memcpy(img + 2 * PS, page, PS);
	cr_assert(eq(u64, image_sum(), XXH3_64bits(img, (size_t)NPAGES * PS)));
	p = store_page(s, 1);
	cr_assert(p[0] == 0 && memcmp(p, p + 1, PS - 1) == 0);
	cr_assert(eq(int, store_check_committed(s, 13), 0));
	/* The same pfn twice: refused before anything is written. */
	pfns[1] = 1;
	errno = 0;
	cr_assert(eq(int, store_commit_pages(s, 14, pfns, 2, img, NULL), -1));
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(eq(u64, epoch_file(), 13));
	store_close(s);
	free(img);
}

/* A store that committed through store_page() goes on from the caller's
 * pages (the receiver's first epoch is the one, the later ones the
 * other): the copies the working copy made are dropped, so it reads the
 * later commits, not its own stale copies. */
Test(proc_store, working_copy_reads_commits_from_pages_after_its_own,
    .init = setup, .fini = teardown, .timeout = 30)
{
	uint8_t *img = malloc((size_t)NPAGES * PS);
	struct store *s;
	uint64_t e, i;

	s = store_open(dir, NPAGES, PS, 0, NULL);
	cr_assert_not_null(s);
	for (e = 1; e <= 8; e++) {
		via_pages = e > 3;
		cr_assert(eq(int, do_epoch(s, 7, e), 0));
	}
	model(img, 7, 8);
	for (i = 0; i < NPAGES; i++)
		cr_assert(eq(int, memcmp(store_page(s, i), img + i * PS, PS),
		    0), "page %llu", (unsigned long long)i);
	cr_assert(eq(u64, image_sum(), XXH3_64bits(img, (size_t)NPAGES * PS)));
	store_close(s);
	free(img);
}

/* store_kept: what a session's HELLO compares its guest's size with.
 * Nothing before a commit (a session that only opened the store leaves
 * no kept replica, and its half-built image goes with store_close); the
 * committed image's bytes and epoch after. */
Test(proc_store, kept_says_the_committed_size, .init = setup,
    .fini = teardown, .timeout = 30)
{
	char sub[96], newpath[128];
	uint64_t bytes = 0, epoch = 0;
	struct store *s;

	snprintf(sub, sizeof sub, "%s/none", dir);
	cr_assert(eq(int, store_kept(sub, &bytes, &epoch), 0));
	cr_assert(eq(int, store_kept(dir, &bytes, &epoch), 0));
	s = store_open(dir, NPAGES, PS, 0, NULL);
	cr_assert_not_null(s);
	cr_assert(eq(int, store_kept(dir, &bytes, &epoch), 0));
	store_close(s);
	snprintf(newpath, sizeof newpath, "%s/proc-arena.new", dir);
	cr_assert(eq(int, access(newpath, F_OK), -1));
	cr_assert(eq(int, child_wait(child_run(1, 3, NULL, 0)), 0));
	cr_assert(eq(int, store_kept(dir, &bytes, &epoch), 1));
	cr_assert(eq(u64, bytes, (uint64_t)NPAGES * PS));
	cr_assert(eq(u64, epoch, 3));
	/* A new session of another size changes nothing before it commits. */
	s = store_open(dir, NPAGES / 2, PS, 0, NULL);
	cr_assert_not_null(s);
	store_close(s);
	cr_assert(eq(int, store_kept(dir, &bytes, &epoch), 1));
	cr_assert(eq(u64, bytes, (uint64_t)NPAGES * PS));
	cr_assert(eq(u64, epoch, 3));
	cr_assert(eq(u64, image_sum(), model_sum(1, 3)));
}
