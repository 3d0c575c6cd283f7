/* common/diskmap.h -- which image is which disk of which guest.
 *
 * A guest may have several replicated disks.  Each is known by a name:
 * on Xen its vdev (xvda, xvdb), the place the guest sees it at; for any
 * guest whatever name the primary gives it.  Both ends name their disks
 * (remus --disk NAME=IMAGE, remus-diskd found through the guest's vdev;
 * remusd --disk [GUEST:]NAME=IMAGE), the stream carries the primary's
 * names (DISKS, docs/stream-format.md), and the backup matches them to
 * its images by name, never by position: two lists given in different
 * orders must not swap two disks silently.
 *
 * One unnamed disk ("--disk IMAGE", the form from before there could be
 * several) matches the other side's only disk whatever its name, so a
 * one-disk setup needs no names on either end.
 *
 * Pure: no I/O, no logging.  Every int function returns 0, or -1 with
 * one line in WHY (and errno EINVAL, or ENOMEM).
 */
#ifndef REMUS_DISKMAP_H
#define REMUS_DISKMAP_H

#include <stddef.h>

#define DISKMAP_MAX		16	/* disks per guest (STREAM_DISKS_MAX) */
#define DISKMAP_NAME_MAX	23	/* a disk's name (STREAM_DISK_NAME_LEN - 1) */

struct diskmap_ent {
	char	*guest;		/* the guest it is for; NULL: any guest */
	char	*name;		/* "" when unnamed */
	char	*path;		/* image, or a remus-diskd control socket */
	int	 tag;		/* the caller's (remus: which flag gave it) */
};

struct diskmap {
	struct diskmap_ent *v;
	size_t	 n;
	int	 borrowed;	/* diskmap_select's: strings not ours */
};

/* Is NAME a usable disk name: 1..23 of A-Z a-z 0-9 _ . - (not starting
 * with '.' or '-')?  1 / 0. */
int	diskmap_name_ok(const char *name);

/* Parse ARG, "[GUEST:][NAME=]PATH", and add it.  GUEST: only with
 * ALLOW_GUEST (remusd; GUEST:=PATH is one unnamed disk of that guest).
 * Without '=' (or when what comes before it has a '/': a path with '=')
 * the whole of ARG is the path of an unnamed disk.  Refused: a bad name,
 * a name given twice for one guest, an unnamed disk beside others of the
 * same guest (with several, each needs its name), more than DISKMAP_MAX
 * disks for one guest.  FLAG names the option in the message
 * ("--disk"); TAG is kept with the entry. */
int	diskmap_add(struct diskmap *, const char *arg, int allow_guest,
	    int tag, const char *flag, char *why, size_t len);

/* The disks of guest GUEST: those given for it by name if there are any,
 * else those given for any guest.  OUT borrows M's strings (diskmap_free
 * OUT too, before M).  ENOMEM only. */
int	diskmap_select(const struct diskmap *m, const char *guest,
	    struct diskmap *out);

/* Match the other side's disk NAMES (N of them, "" for unnamed) to M's
 * entries: IDX[i] is the entry of NAMES[i].  Refused when the counts
 * differ or a name has no entry (one line naming what is missing on
 * which side).  WHO says whose NAMES are ("the primary"). */
int	diskmap_match(const struct diskmap *m, const char *const *names,
	    size_t n, const char *who, size_t *idx, char *why, size_t len);

/* "xvda, xvdb" (or "(unnamed)") into BUF, for messages. */
void	diskmap_names(const struct diskmap *m, char *buf, size_t len);

void	diskmap_free(struct diskmap *);

#endif /* REMUS_DISKMAP_H */
