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
void	ctl_backup_free(struct ctl_backup *);	/* NULL ok */

#endif /* REMUS_CTL_BACKUP_H */
