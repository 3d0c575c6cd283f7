/* remusd/pidfile.c -- the pids file remus(8) keeps for the fence agents
 * (pidfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "pids file: "
#include "log.h"
#include "pidfile.h"
#include "util.h"

/* mkdir -p DIR, 0755. */
static int
make_dir(const char *dir)
{
	char tmp[512], *p;

	if (strlen(dir) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(tmp, dir);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int
pidfile_write(const char *dir, const char *driver, const char *id,
    const char *spec, char *path, size_t pathlen)
{
	char line[512], tmp[600], guest[160], *p;
	uint64_t rstart, gstart;
	int fd = -1, n, len, saved;

	path[0] = '\0';
	if (make_dir(dir) == -1) {
		log_warn("%s", dir);
		return -1;
	}
	if (proc_pid_stat("self", NULL, &rstart) == -1) {
		log_warn("/proc/self/stat");
		return -1;
	}
	if (strcmp(driver, "proc") == 0) {
		if (!all_digits(id) || proc_pid_stat(id, NULL, &gstart) == -1) {
			log_warn("proc guest %s: no start time", id);
			return -1;
		}
		snprintf(guest, sizeof guest, "guest_pid=%s guest_start=%"
		    PRIu64, id, gstart);
	} else if (all_digits(id))
		snprintf(guest, sizeof guest, "domid=%s", id);
	else
		/* XXX a Xen domain given by name: its domid is the
		 * driver's; fence-remus-xen works by name. */
		snprintf(guest, sizeof guest, "domain=%s", id);
	len = snprintf(line, sizeof line, "remus_pid=%d remus_start=%" PRIu64
	    " %s guest=%s\n", (int)getpid(), rstart, guest, spec);
	if (len < 0 || (size_t)len >= sizeof line) {
		errno = ENAMETOOLONG;
		log_warn("guest %s", spec);
		return -1;
	}
	n = snprintf(path, pathlen, "%s/%s.pids", dir, spec);
	if (n < 0 || (size_t)n >= pathlen) {
		path[0] = '\0';
		errno = ENAMETOOLONG;
		log_warn("%s", dir);
		return -1;
	}
	for (p = path + strlen(dir) + 1; *p; p++)
		if (*p == ':' || *p == '/')
			*p = '_';
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	/* No fsync: the file means something only while this host runs
	 * (its /run goes at reboot), and a sync on a busy disk would delay
	 * the start of protection. */
	if (fd == -1 || write_full(fd, line, (size_t)len) == -1)
		goto err;
	if (close(fd) == -1) {
		fd = -1;
		goto err;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto err;
	log_debug("%s: %.*s", path, len - 1, line);
	return 0;
err:
	saved = errno;
	log_warn("%s", tmp);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	path[0] = '\0';
	errno = saved;
	return -1;
}

void
pidfile_remove(const char *path)
{
	if (path == NULL || path[0] == '\0')
		return;
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s", path);
}
