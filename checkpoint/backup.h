/* checkpoint/backup.h -- the receiving end of a protected guest.
 *
 * One struct backup per stream (remusd --receive: stdin/stdout;
 * remusd --listen: one per accepted connection).  It parses the stream
 * with the pure reader, holds the open epoch in its own memory, and only
 * when EPOCH_END(n) validates writes the pages into the replica, commits
 * the replica and every backup device, and then sends ACK(n):
 *
 *   header -> replica_ops->create -> READY
 *   EPOCH_BEGIN(n) .. PAGE_BATCH* .. GUEST_STATE? .. DISK_WRITE* ..
 *   EPOCH_END(n) ok -> apply -> replica commit(n) -> devices commit(n)
 *                   -> ACK(n)
 *
 * What happens at the end of a stream is the backup policy's
 * (failover/fo-backup.h, docs/failover.md B1-B6): EOF, a reset or silence
 * for T is the loss of the primary (fence within the window, then
 * activate); a local error or a corrupt stream makes this backup stand
 * down (ERROR, replica kept, never activated); END keeps the replica.
 */
#ifndef REMUS_BACKUP_H
#define REMUS_BACKUP_H

#include <stdint.h>

struct ev_loop;
struct backup;
struct ckpt_backup_device_ops;
struct peer_io_ops;

struct backup_config {
	const char	*state_dir;	/* replica files (remusd -D) */
	const char	*disk_image;	/* the backup's copy of the replicated
					 * disk (remusd --disk), or NULL */
	uint32_t	 timeout_ms;	/* T (-t), default 1000 */
	int		 no_activate;	/* failover keeps the replica only */
	const char	*fence_cmd;	/* --fence CMD; NULL: no fence (B5) */
	uint32_t	 fence_ms;	/* F (--fence-timeout), with fence_cmd */
	const char	*dname;		/* --dname: the activated guest's name
					 * (replica_ops->set_name); NULL: the
					 * driver's own */
	/* The link's io over the fds: NULL for plain, or &peer_io_tls and
	 * a handshaken session (the caller's, to free after backup_free). */
	const struct peer_io_ops *io;
	void		*io_ctx;
};

enum backup_result {
	BACKUP_RUNNING = 0,
	BACKUP_END,		/* clean END from the primary */
	BACKUP_FAILED_OVER,	/* guest activated from a committed epoch */
	BACKUP_NOTHING,		/* stream lost before any epoch committed */
	BACKUP_FAILOVER_FAILED,	/* activation failed */
	BACKUP_PASSIVE,		/* primary lost, not fenced in the window */
	BACKUP_STOOD_DOWN,	/* local error or bad stream: ERROR sent */
};

/* Called once when the session is over (the fds are closed by then). */
typedef void	backup_done_fn(struct backup *, enum backup_result, void *arg);

/* A session reading RFD and answering on WFD (may be equal; both taken
 * over and closed by backup_free).  NULL with errno set. */
struct backup	*backup_new(struct ev_loop *loop, int rfd, int wfd,
		    const struct backup_config *cfg, backup_done_fn *done,
		    void *arg);

/* Name the peer in log lines ("192.0.2.1:40312", "stdin"). */
void	backup_set_peer(struct backup *, const char *peer);

/* Register a device that consumes the record types it lists.  teardown is
 * called by backup_free.  0 / -1 + errno. */
int	backup_add_device(struct backup *,
	    const struct ckpt_backup_device_ops *, void *dev);

/* Start the watchers (and the heartbeat timeout). */
int	backup_start(struct backup *);

enum backup_result backup_get_result(const struct backup *);
const char	*backup_result_str(enum backup_result);
uint64_t	 backup_committed(const struct backup *);	/* last epoch */
const char	*backup_peer(const struct backup *);
/* The guest's name as the primary's HELLO gave it ("" before). */
const char	*backup_guest_name(const struct backup *);

/* NULL ok.  Frees the replica (closes it, the files stay). */
void	backup_free(struct backup *);

#endif /* REMUS_BACKUP_H */
