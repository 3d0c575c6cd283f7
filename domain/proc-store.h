/* domain/proc-store.h -- the proc replica on disk, crash-consistent.
 *
 * A commit is atomic with respect to a crash of remusd (kill -9) and, with
 * DURABLE, of the host (docs/failover.md, "Crash-consistent replica").
 * Files in DIR:
 *
 *   proc-arena.img   the committed image: the arena as the guest resumes it
 *   proc-epoch       "N\n": the epoch the image holds (people, tests)
 *   proc-epoch.tmp   the previous proc-epoch, rewritten and exchanged
 *                    with it at the next commit (renameat2)
 *   proc-session     "session S epoch N boot B synced 0|1": who committed it
 *   proc-journal     the commit in progress; a zero header when none
 *   proc-arena.new   a session's first, full image while it is built
 *   proc-guest-name  "page_size P nr_pages N name NAME": whose image it is
 *                    (a later session resumes it, store_resume)
 *
 * The working copy.  store_page() hands out pages of a private mapping of
 * the image (MAP_PRIVATE: a store copies the page, the file is untouched),
 * so nothing durable changes before store_commit().  store_commit_pages()
 * takes an epoch's pages from the caller's memory instead and leaves the
 * working copy unwritten, reading what the image holds: no page is
 * copied there first (each such copy is a copy-on-write fault, the
 * larger part of a small commit's cost: ~15-20 us a page in a VM with
 * costly faults, against ~1 us for the rest of the page's commit).  A session's first
 * commit replaces the whole image: its working copy is a shared mapping of
 * proc-arena.new, a file nothing activates, and the previous session's
 * image and epoch stay the committed replica until that commit.
 *
 * A commit of epoch n (after the first):
 *
 *   1. journal: header (epoch, pfns, page size), pfn list, pages, then a
 *      commit record (epoch, XXH3-64 of all before it) [fdatasync]
 *   2. the pages copied into proc-arena.img (shared map) [fdatasync]
 *   3. proc-session (in place), proc-epoch (tmp, exchange) [fsync, dir]
 *   4. journal retired (its header zeroed)
 *
 * A session's first commit: fdatasync proc-arena.new, a journal of kind
 * "image" (no pages) with its commit record, rename proc-arena.new over
 * proc-arena.img, then steps 3 and 4.
 *
 * Recovery (store_open, store_recover): a journal whose commit record is
 * there and whose checksum matches is redone (idempotent: the pages are
 * written again, or the rename finished); any other journal content is an
 * incomplete commit and is dropped with proc-arena.new.  proc-epoch then
 * names the image's epoch.  The checksum also makes one fdatasync of the
 * journal enough: a record that reached the disk before its pages does
 * not match them.
 *
 * Without DURABLE nothing is synced: a commit is atomic across kill -9
 * (every step is in the page cache, in order), not across a crash of the
 * host.  So each commit records the boot it was made in (proc-session,
 * journal header), and recovery in another boot sets an unsynced replica
 * aside (proc-epoch.unsynced) instead of offering what may be torn.
 * REMUS_PROC_BOOT_ID overrides the boot id, for tests.
 *
 * DIR is locked (flock) while a store is open or recovering: a second
 * remusd on the same directory gets EBUSY instead of tearing the first
 * one's replica.  Every int function returns 0, or -1 with errno set and
 * the reason logged (unless said otherwise).
 */
#ifndef REMUS_PROC_STORE_H
#define REMUS_PROC_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum store_recovery {
	STORE_CLEAN,		/* no commit was in progress */
	STORE_REDONE,		/* a complete commit was finished */
	STORE_DROPPED,		/* an incomplete commit was dropped */
};

/* What DIR holds once recovered. */
struct store_state {
	int		committed;	/* an image and its epoch */
	uint64_t	epoch;
	uint64_t	session;	/* who committed it; 0 if unknown */
	enum store_recovery recovery;
	uint64_t	journal_epoch;	/* of the redone or dropped commit */
};

/* Recover DIR as a restarted remusd must before it offers or activates
 * anything (see above).  EBUSY: a running remusd holds DIR.  A DIR that
 * does not exist holds nothing (0, not committed). */
int	store_recover(const char *dir, struct store_state *);

/* What DIR keeps, read only (no lock, no recovery: remusd recovered its
 * state directory when it started): 1 with *BYTES the committed image's
 * size and *EPOCH its epoch, 0 when DIR holds no committed image, -1
 * with errno set (not logged). */
int	store_kept(const char *dir, uint64_t *bytes, uint64_t *epoch);

/* Lock and recover DIR (creating it), then set up a new session for an
 * arena of NR_PAGES pages of PAGE_SIZE: the working copy reads as zeros
 * until the first commit.  DURABLE: fdatasync/fsync at each step (host
 * crash); without, a commit is atomic only against a crash of this
 * process.  *PREV (may be NULL) receives what DIR held. */
struct store	*store_open(const char *dir, uint64_t nr_pages,
		    uint32_t page_size, int durable, struct store_state *prev);

/* The working copy of PFN (NULL with EINVAL out of range, EIO after a
 * failed commit).  Stays valid until store_close. */
void	*store_page(struct store *, uint64_t pfn);

/* Make the working copy's pages PFNS (each written through store_page
 * since the last commit; any order, duplicates allowed) epoch EPOCH of the
 * image, atomically.  A failed commit leaves the store unusable (EIO): the
 * caller stands down, and the next recovery decides n - 1 or n. */
int	store_commit(struct store *, uint64_t epoch, const uint64_t *pfns,
	    size_t n);

/* The same commit, the pages from the caller: page PFNS[I] is PAGES +
 * I * page_size, or zeros when ZERO (may be NULL) has ZERO[I] set (that
 * slot of PAGES is not read).  Each pfn at most once (EINVAL), any
 * order; nothing of PAGES is kept after it returns.  Pages not listed
 * keep what the last commit left.  The working copy is not written: it
 * reads the image (the committed content) afterwards, so an epoch is
 * written through store_page() and store_commit(), or handed to this,
 * never both. */
int	store_commit_pages(struct store *, uint64_t epoch,
	    const uint64_t *pfns, size_t n, const uint8_t *pages,
	    const uint8_t *zero);

/* HELLO named the guest GUEST (1 .. STORE_GUEST_MAX printable
 * characters): recorded in DIR/proc-guest-name with this session's first
 * commit.  Before any commit, if ALLOW, when DIR holds a committed image of the same
 * guest and geometry (page size, nr_pages) as proc-guest-name says, the session
 * resumes it: the working copy reads the image (not zeros), and every
 * commit, the first one included, goes through the journal, so that image
 * stays the committed replica until this session commits a later epoch (a
 * crash in between recovers to one of the two, as for any commit).
 * Returns 1 with *EPOCH = its epoch, 0 when nothing is resumed (a full
 * checkpoint follows; *EPOCH = 0), -1 with errno set. */
#define STORE_GUEST_MAX	64
int	store_resume(struct store *, const char *guest, int allow,
	    uint64_t *epoch);

/* After store_resume returned 1 and before the first commit: the hashes of
 * the image's pages FIRST .. FIRST + N - 1 into OUT (16 bytes each:
 * XXH3-128, seed 0, low then high 64 bits, little-endian: the stream's
 * PAGE_HASHES).  EINVAL out of range or when not resumed. */
int	store_hash_pages(struct store *, uint64_t first, size_t n,
	    uint8_t *out);

/* This session's id (random, never 0), and whether the replica on disk
 * is, right now, epoch EPOCH as committed by this session: 0 yes, -1 no
 * (logged in one line, errno = ESTALE). */
uint64_t	store_session(const struct store *);
int		store_check_committed(struct store *, uint64_t epoch);

const char	*store_image_path(const struct store *);

/* Unmap and unlock; the committed files stay.  NULL ok. */
void	store_close(struct store *);

#endif /* REMUS_PROC_STORE_H */
