/* checkpoint/backup.h -- the receiving end of a protected guest.
 *
 * One struct backup per stream (remusd --receive: stdin/stdout;
 * remusd --listen: one per accepted connection).  It parses the stream
 * with the pure reader, holds the open epoch in its own memory, and only
 * when EPOCH_END(n) validates writes the pages into the replica, commits
 * the replica and every backup device, and then sends ACK(n):
 *
 *   header -> HELLO(name) -> cfg.hello -> replica_ops->create -> READY
 *   [COOKIE] [DISKS -> devices' declare]
 *   EPOCH_BEGIN(n) .. PAGE_BATCH* .. GUEST_STATE? .. DISK_WRITE* ..
 *   EPOCH_END(n) ok -> devices commit(n) -> replica commit(n) -> ACK(n)
 *
 * (with commit_thread, the replica's commit runs on the session's thread
 * and ACK(n) goes when it is over)
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
struct replica_conf;
struct ckpt_backup_device_ops;
struct peer_io_ops;
struct domain_opts;

struct backup_config {
	const char	*state_dir;	/* replica files (remusd -D) */
	int		 no_guardian;	/* remusd -e: no activated guest gets
					 * a guardian (HELLO may ask it too) */
	uint32_t	 timeout_ms;	/* T (-t), default 1000 */
	int		 no_activate;	/* failover keeps the replica only */
	const char	*fence_cmd;	/* --fence CMD; NULL: no fence (B5) */
	uint32_t	 fence_ms;	/* F (--fence-timeout), with fence_cmd */
	/* The replica driver's settings (remusd --proc-listen,
	 * --proc-sync), given to its create; NULL: defaults. */
	const struct domain_opts *replica_opts;
	const char	*dname;		/* --dname: the activated guest's name
					 * (replica_ops->set_name); NULL: the
					 * driver's own */
	/* The link's io over the fds: NULL for plain, or &peer_io_tls and
	 * a handshaken session (the caller's, to free after backup_free). */
	const struct peer_io_ops *io;
	void		*io_ctx;

	/* Limits on what a peer may make this backup hold (remusd's
	 * --max-* flags; 0: the default). */
	uint64_t	 max_guest_mem;	/* bytes of guest memory accepted */
	uint64_t	 max_disk;	/* bytes of device records per epoch */
	uint32_t	 hello_ms;	/* stream header + HELLO deadline */
	/* A session may replace the replica an earlier one kept in its
	 * directory with one of another guest memory size (remusd
	 * --allow-resize); 0: refused at HELLO. */
	int		 allow_resize;
	uint32_t	 progress_ms;	/* longest stretch without progress */
	/* Commit the replica on a thread of the session's own (remusd's
	 * default; --no-commit-thread: 0), the loop serving the other
	 * sessions meanwhile, heartbeats included; this session's input
	 * is paused until the commit is over, and ACK(n) is sent only
	 * then.  Only for a driver with commit_pages (proc); device
	 * commits stay in the loop.  0: every commit in the loop. */
	int		 commit_thread;
	/* At HELLO, the guest's name known: the owner says where its
	 * replica lives (*DIR) and what the backup allows it (CONF, filled
	 * in: its disks, its command, its Xen policy), or refuses it: -1
	 * with one line in WHY.  It may register devices for the session
	 * (the guest's disks).  NULL: state_dir, and a CONF with nothing
	 * allowed. */
	int		(*hello)(struct backup *, const char *name,
			    const char *driver, const char **dir,
			    struct replica_conf *conf, char *why, size_t len,
			    void *arg);
	void		*hello_arg;
};

enum backup_result {
	BACKUP_RUNNING = 0,
	BACKUP_END,		/* clean END from the primary */
	BACKUP_FAILED_OVER,	/* guest activated from a committed epoch */
	BACKUP_NOTHING,		/* stream lost before any epoch committed */
	BACKUP_FAILOVER_FAILED,	/* activation failed */
	BACKUP_PASSIVE,		/* primary lost, not fenced in the window */
	BACKUP_STOOD_DOWN,	/* local error or bad stream: ERROR sent */
	BACKUP_SWITCHED_OVER,	/* planned switchover: the guest runs here */
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
/* From the hello callback only (the guest known, WELCOME not yet sent,
 * which announces F): this guest's own fence CMD (not NULL) and its
 * timeout F instead of backup_config's fence_cmd and fence_ms (remusd
 * --guest-fence).  0, or -1 with errno set (the session keeps the
 * one it had). */
int	backup_set_fence(struct backup *, const char *cmd, uint32_t ms);

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
/* The guest's name from HELLO; "" before it. */
const char	*backup_name(const struct backup *);

/* For the control socket (remusd/ctl-backup.c). */
struct backup_info {
	const char	*guest;		/* HELLO's name ("" before it) */
	const char	*peer;
	const char	*state;		/* the policy's: RECEIVING, FENCING... */
	uint64_t	 committed;	/* last committed epoch */
	uint64_t	 last_rx_age_ms; /* since the primary was last heard */
};
void	backup_get_info(const struct backup *, struct backup_info *);

/* Admission (remusd's prepare, docs/control.md): called once, at the
 * session's first EPOCH_BEGIN, with HELLO's guest name and the COOKIE the
 * primary sent (NULL: none), SWITCHOVER 0; and at a SWITCHOVER, before
 * anything is activated, with the COOKIE that came right before it,
 * SWITCHOVER 1.  -1 with a reason in WHY refuses the session (ERROR,
 * stand down: nothing was committed) or the switchover (ERROR, stand
 * down: the primary's guest resumes there). */
typedef int	backup_admit_fn(void *arg, struct backup *, const char *guest,
		    const uint8_t *cookie, int switchover, char *why,
		    size_t whylen);
void	backup_set_admit(struct backup *, backup_admit_fn *, void *arg);

/* The guest this session activated (a switchover or failover), into G,
 * and in *RUNS the driver's check of whether it runs (domain.h), which
 * needs neither the session nor its replica.  0, or -1 with errno:
 * ENOENT nothing activated, EOPNOTSUPP the driver cannot say. */
struct replica_guest;
int	backup_activated(const struct backup *, struct replica_guest *g,
	    int (**runs)(const struct replica_guest *));

/* Manual failover (remusctl failover): end the link as if the primary
 * were lost (abortively, so that the primary holds its output, P2), and
 * go through the policy: fence within the window, then activate.  -1
 * with EALREADY when the session is past receiving. */
int	backup_failover(struct backup *, const char *why);
/* What one session did so far, for remusd's metrics (per guest). */
struct backup_counters {
	const char	*name;		/* HELLO's guest name; "" before */
	uint64_t	 epochs;	/* committed */
	uint64_t	 bytes;		/* stream records received (header,
					 * body, padding) */
	uint64_t	 acks;		/* ACKs sent */
	uint64_t	 failovers;	/* guest activated */
	uint64_t	 fence_runs;	/* fence attempts started */
	uint64_t	 fence_ok;	/* of those, fenced (status 0) */
};
void	backup_get_counters(const struct backup *, struct backup_counters *);
/* The guest's name as the primary's HELLO gave it ("" before). */


/* NULL ok.  Frees the replica (closes it, the files stay). */
void	backup_free(struct backup *);

#endif /* REMUS_BACKUP_H */
