/* domain/domain.c -- the guest driver registry: spec prefix -> ops. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define LOG_PREFIX ""
#include "compiler.h"
#include "domain.h"
#include "drivers.h"
#include "log.h"

static const struct domain_ops *const domain_drivers[] = {
	&domain_proc_ops,
#ifdef REMUS_WITH_XEN
	&domain_xen_ops,
#endif
};

static const struct replica_ops *const replica_drivers[] = {
	&replica_proc_ops,
#ifdef REMUS_WITH_XEN
	&replica_xen_ops,
#endif
};

const struct domain_ops *
domain_ops_lookup(const char *spec, const char **rest)
{
	const char *colon;
	size_t len, i;

	if (spec == NULL) {
		errno = ENOENT;
		return NULL;
	}
	/* A bare name or domid is a Xen domain: "remus -i 200 <domain>
	 * <host>" is the xl remus command line. */
	if ((colon = strchr(spec, ':')) == NULL) {
#ifdef REMUS_WITH_XEN
		if (rest)
			*rest = spec;
		return &domain_xen_ops;
#else
		errno = ENOENT;
		return NULL;
#endif
	}
	len = (size_t)(colon - spec);
	for (i = 0; i < ARRAY_SIZE(domain_drivers); i++) {
		if (strlen(domain_drivers[i]->name) == len &&
		    strncmp(domain_drivers[i]->name, spec, len) == 0) {
			if (rest)
				*rest = colon + 1;
			return domain_drivers[i];
		}
	}
	errno = ENOENT;
	return NULL;
}

const struct replica_ops *
replica_ops_lookup(const char *name)
{
	size_t i;

	for (i = 0; name && i < ARRAY_SIZE(replica_drivers); i++)
		if (strcmp(replica_drivers[i]->name, name) == 0)
			return replica_drivers[i];
	errno = ENOENT;
	return NULL;
}

const struct domain_ops *
domain_ops_nth(size_t i)
{
	return i < ARRAY_SIZE(domain_drivers) ? domain_drivers[i] : NULL;
}

const struct replica_ops *
replica_ops_nth(size_t i)
{
	return i < ARRAY_SIZE(replica_drivers) ? replica_drivers[i] : NULL;
}

int
replica_recover_dir(const char *dir)
{
	uint64_t epoch;
	size_t i;
	int rc = 0, n;

	for (i = 0; i < ARRAY_SIZE(replica_drivers); i++) {
		if (replica_drivers[i]->recover == NULL)
			continue;
		n = replica_drivers[i]->recover(dir, &epoch);
		if (n == -1 && errno == EBUSY)
			continue;	/* said so; its owner keeps it right */
		if (n == -1)
			rc = -1;
		else if (n == 1)
			log_info("%s: %s replica of epoch %" PRIu64 " kept (a "
			    "resync base; never activated by a later "
			    "session before it commits)", dir,
			    replica_drivers[i]->name, epoch);
	}
	return rc;
}
