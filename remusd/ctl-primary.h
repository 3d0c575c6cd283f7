/* remusd/ctl-primary.h -- remus(8)'s verbs on its control socket
 * (docs/control.md): status, stop, switchover, reprotect, capabilities.
 *
 * remus.c builds one after the engine exists and feeds it every
 * acknowledged epoch's figures (ctl_primary_epoch), so that status can say
 * what the last epochs looked like without keeping samples.
 */
#ifndef REMUS_CTL_PRIMARY_H
#define REMUS_CTL_PRIMARY_H

#include <stddef.h>

struct ev_loop;
struct ckpt;
struct stats;
struct ckpt_epoch_stats;
struct ctl_primary;

/* What only remus.c can do. */
struct ctl_primary_ops {
	/* Point the engine at a new backup HOST and start a session with it
	 * (remusctl reprotect).  0, or -1 with a reason in WHY. */
	int	(*reprotect)(void *arg, const char *host, char *why,
		    size_t whylen);
	/* Optional: the backup protected to now, for status (NULL: the
	 * link's description). */
	const char *(*backup)(void *arg);
};

/* Serve PATH for the engine C (its figures in ST).  GUEST names it.
 * NULL with errno set (logged). */
struct ctl_primary *ctl_primary_new(struct ev_loop *loop, const char *path,
	    struct ckpt *c, struct stats *st, const char *guest,
	    const struct ctl_primary_ops *ops, void *arg);
/* One acknowledged epoch (from remus's stats callback). */
void	ctl_primary_epoch(struct ctl_primary *, const struct ckpt_epoch_stats *);
void	ctl_primary_free(struct ctl_primary *);	/* NULL ok */

#endif /* REMUS_CTL_PRIMARY_H */
