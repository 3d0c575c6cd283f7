/* domain/drivers.h -- the driver tables built into remus_domain, for the
 * registry in domain.c.  Each driver file defines its two tables. */
#ifndef REMUS_DRIVERS_H
#define REMUS_DRIVERS_H

#include "domain.h"

/* domain-proc.c */
extern const struct domain_ops	domain_proc_ops;
extern const struct replica_ops	replica_proc_ops;

#ifdef REMUS_WITH_XEN
/* domain-xen.c */
extern const struct domain_ops	domain_xen_ops;
extern const struct replica_ops	replica_xen_ops;
#endif

#endif /* REMUS_DRIVERS_H */
