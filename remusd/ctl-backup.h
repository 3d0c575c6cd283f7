/* remusd/ctl-backup.h -- remusd(8)'s verbs on its control socket
 * (docs/control.md): status (its sessions), failover, capabilities.
 *
 * remusd.c owns the sessions; it hands this module an iterator over the
 * live ones, so the list stays remusd.c's.
 */
#ifndef REMUS_CTL_BACKUP_H
#define REMUS_CTL_BACKUP_H

struct ev_loop;
struct backup;
struct ctl_backup;

/* Call FN for each session remusd holds (finished ones included until
 * reaped); stop early when FN returns non-zero. */
typedef void	ctl_backup_each_fn(void *arg,
		    int (*fn)(struct backup *, int over, void *fnarg),
		    void *fnarg);

struct ctl_backup *ctl_backup_new(struct ev_loop *loop, const char *path,
	    ctl_backup_each_fn *each, void *arg);

/* prepare / perform / finish (docs/control.md).  LISTEN: remusd's
 * --listen address, the URI prepare hands out (NULL: --receive, no
 * prepare). */
void	ctl_backup_set_listen(struct ctl_backup *, const char *listen);
/* backup_admit_fn for every session (ARG: the struct ctl_backup): a
 * session for a guest with a prepare outstanding must bring its cookie,
 * and so must a switchover of a guest with a switchover's prepare
 * outstanding; a cookie nobody handed out (or expired, or of the other
 * kind) is refused. */
int	ctl_backup_admit(void *arg, struct backup *, const char *guest,
	    const uint8_t *cookie, int switchover, char *why, size_t whylen);
/* Session B is over with R (before it is freed).  NULL ok. */
void	ctl_backup_session_over(struct ctl_backup *, struct backup *, int r);
void	ctl_backup_free(struct ctl_backup *);	/* NULL ok */

#endif /* REMUS_CTL_BACKUP_H */
