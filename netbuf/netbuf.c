/* netbuf/netbuf.c -- driver selection, the epoch discipline shared by both
 * drivers, and small helpers (running nft(8), stale-state cleanup). */
#define LOG_PREFIX "netbuf: "

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "netbuf-int.h"

extern char **environ;

const char *
netbuf_driver_name(enum netbuf_driver d)
{
	switch (d) {
	case NETBUF_DRIVER_AUTO:
		return "auto";
	case NETBUF_DRIVER_PLUG:
		return "plug";
	case NETBUF_DRIVER_NFQUEUE:
		return "nfqueue";
	}
	return "?";
}

int
netbuf_driver_parse(const char *s, enum netbuf_driver *out)
{
	if (strcmp(s, "auto") == 0)
		*out = NETBUF_DRIVER_AUTO;
	else if (strcmp(s, "plug") == 0)
		*out = NETBUF_DRIVER_PLUG;
	else if (strcmp(s, "nfqueue") == 0)
		*out = NETBUF_DRIVER_NFQUEUE;
	else {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
netbuf_ifname_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= IF_NAMESIZE)
		return 0;
	/* The name ends up in nft(8) input and in object names: allow only
	 * what cannot be read as syntax. */
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static int
have_net_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof data);
	if (syscall(SYS_capget, &hdr, data) == -1)
		return 1;	/* cannot tell: let the kernel decide */
	return (data[CAP_NET_ADMIN / 32].effective >> (CAP_NET_ADMIN % 32)) & 1;
}

int
netbuf_run(char *const argv[], const char *input, char *out, size_t outlen)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, status, saved_errno;
	posix_spawn_file_actions_t fa;
	size_t got = 0, inlen = input ? strlen(input) : 0, sent = 0;
	pid_t pid;
	int rc = -1;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(outp, O_CLOEXEC) == -1)
		goto err;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 2);
	errno = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (errno != 0)
		goto err;
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;

	/* Feed stdin and drain stdout together: nft's output is small but a
	 * blocked writer must never wait on a blocked reader. */
	if (inlen == 0) {
		close(in[1]);
		in[1] = -1;
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = outp[0], .events = POLLIN },
			{ .fd = in[1], .events = POLLOUT },
		};
		char buf[512];
		ssize_t r;

		if (poll(p, in[1] >= 0 ? 2 : 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (in[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			r = write(in[1], input + sent, inlen - sent);
			if (r > 0)
				sent += r;
			if (r <= 0 || sent == inlen) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = read(outp[0], buf, sizeof buf);
			if (r <= 0)
				break;
			if (out && got + 1 < outlen) {
				size_t n = (size_t)r;

				if (n > outlen - 1 - got)
					n = outlen - 1 - got;
				memcpy(out + got, buf, n);
				got += n;
			}
		}
	}
	if (out && outlen)
		out[got] = '\0';
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			goto err;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	errno = 0;
err:
	saved_errno = errno;
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	errno = saved_errno;
	return rc;
}

static struct netbuf *
try_driver(const struct netbuf_config *cfg, int ifindex,
    const struct netbuf_driver_ops *ops)
{
	struct netbuf *nb;
	int saved_errno;

	nb = calloc(1, sizeof *nb);
	if (nb == NULL)
		return NULL;
	nb->ops = ops;
	nb->cfg = *cfg;
	snprintf(nb->ifname, sizeof nb->ifname, "%s", cfg->ifname);
	nb->cfg.ifname = nb->ifname;
	if (nb->cfg.limit_bytes == 0)
		nb->cfg.limit_bytes = NETBUF_LIMIT_DEFAULT;
	if (nb->cfg.queue_len == 0)
		nb->cfg.queue_len = NETBUF_QUEUE_LEN_DEFAULT;
	if (nb->cfg.queue_num < 0)
		nb->cfg.queue_num = ifindex & 0xffff;
	nb->ifindex = ifindex;
	nb->fd = -1;
	nb->st.driver = ops == &netbuf_plug_ops ? NETBUF_DRIVER_PLUG :
	    NETBUF_DRIVER_NFQUEUE;
	if (ops->setup(nb) == -1) {
		saved_errno = errno;
		ops->teardown(nb);	/* C3: teardown after failed setup */
		free(nb);
		errno = saved_errno;
		return NULL;
	}
	return nb;
}

struct netbuf *
netbuf_new(const struct netbuf_config *cfg)
{
	struct netbuf *nb = NULL;
	unsigned int ifindex;

	if (cfg->ifname == NULL || !netbuf_ifname_ok(cfg->ifname)) {
		log_warnx("bad interface name '%s'",
		    cfg->ifname ? cfg->ifname : "(null)");
		errno = EINVAL;
		return NULL;
	}
	if (cfg->limit_bytes > UINT32_MAX) {
		log_warnx("%s: limit %llu bytes exceeds sch_plug's 32 bits",
		    cfg->ifname, (unsigned long long)cfg->limit_bytes);
		errno = EINVAL;
		return NULL;
	}
	if (cfg->queue_num > 0xffff) {
		log_warnx("%s: queue number %d out of range 0..65535",
		    cfg->ifname, cfg->queue_num);
		errno = EINVAL;
		return NULL;
	}
	if (!have_net_admin()) {
		log_warnx("%s: network buffering needs CAP_NET_ADMIN",
		    cfg->ifname);
		errno = EPERM;
		return NULL;
	}
	ifindex = if_nametoindex(cfg->ifname);
	if (ifindex == 0) {
		log_warnx("%s: no such interface in this network namespace",
		    cfg->ifname);
		errno = ENODEV;
		return NULL;
	}

	switch (cfg->driver) {
	case NETBUF_DRIVER_PLUG:
		nb = try_driver(cfg, (int)ifindex, &netbuf_plug_ops);
		break;
	case NETBUF_DRIVER_NFQUEUE:
		nb = try_driver(cfg, (int)ifindex, &netbuf_nfqueue_ops);
		break;
	case NETBUF_DRIVER_AUTO:
		switch (netbuf_plug_available()) {
		case 1:
			nb = try_driver(cfg, (int)ifindex, &netbuf_plug_ops);
			break;
		case 0:
			log_info("%s: kernel has no sch_plug/ifb, using nfqueue",
			    cfg->ifname);
			nb = try_driver(cfg, (int)ifindex, &netbuf_nfqueue_ops);
			break;
		default:
			return NULL;
		}
		break;
	default:
		errno = EINVAL;
		return NULL;
	}
	if (nb != NULL)
		log_info("%s: buffering output with the %s driver", nb->ifname,
		    nb->ops->name);
	return nb;
}

int
netbuf_fd(const struct netbuf *nb)
{
	return nb->fd;
}

int
netbuf_on_readable(struct netbuf *nb)
{
	if (nb->ops->on_readable == NULL)
		return 0;
	return nb->ops->on_readable(nb);
}

int
netbuf_epoch_start(struct netbuf *nb, uint64_t epoch)
{
	if (nb->released_all)
		return 0;	/* unprotected from now on: nothing to hold */
	if (epoch <= nb->last_started) {
		log_warnx("%s: epoch %llu started after epoch %llu", nb->ifname,
		    (unsigned long long)epoch,
		    (unsigned long long)nb->last_started);
		errno = EINVAL;
		return -1;
	}
	if (fault_injected_epoch(FI_PLUG_FAIL, epoch)) {
		log_warnx("%s: epoch %llu: buffer: injected fault", nb->ifname,
		    (unsigned long long)epoch);
		errno = EIO;
		return -1;
	}
	if (nb->ops->buffer(nb, epoch) == -1)
		return -1;
	nb->last_started = epoch;
	nb->st.epochs_started++;
	log_debug("%s: epoch %llu: buffer closed", nb->ifname,
	    (unsigned long long)epoch);
	return 0;
}

int
netbuf_output_pending(struct netbuf *nb)
{
	if (nb->released_all || nb->discarded)
		return 0;	/* nothing is held, nothing could wait */
	if (nb->ops->output_pending == NULL) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return nb->ops->output_pending(nb);
}

int
netbuf_epoch_release(struct netbuf *nb, uint64_t epoch)
{
	if (nb->released_all)
		return 0;
	if (nb->last_released >= nb->last_started ||
	    epoch <= nb->last_released) {
		log_debug("%s: epoch %llu: nothing waits for this ACK",
		    nb->ifname, (unsigned long long)epoch);
		return 0;
	}
	if (fault_injected_epoch(FI_PLUG_FAIL, epoch)) {
		log_warnx("%s: epoch %llu: release: injected fault", nb->ifname,
		    (unsigned long long)epoch);
		errno = EIO;
		return -1;
	}
	if (epoch > nb->last_started)
		epoch = nb->last_started;	/* ACK of an epoch not closed here */
	if (nb->ops->release(nb, epoch) == -1)
		return -1;
	nb->last_released = epoch;
	nb->st.epochs_released++;
	log_debug("%s: epoch %llu: released", nb->ifname,
	    (unsigned long long)epoch);
	return 0;
}

int
netbuf_release_all(struct netbuf *nb)
{
	if (nb->released_all)
		return 0;
	if (nb->ops->release_all(nb) == -1)
		return -1;
	nb->released_all = 1;
	nb->last_released = nb->last_started;
	log_statechange(nb->ifname, "buffering", "released",
	    "protection ended");
	return 0;
}

int
netbuf_reprotect(struct netbuf *nb, uint64_t epoch)
{
	if (nb->discarded) {
		log_warnx("%s: reprotect after the guest failed", nb->ifname);
		errno = EINVAL;
		return -1;
	}
	if (!nb->released_all)
		return 0;	/* still buffering */
	if (epoch <= nb->last_started) {
		log_warnx("%s: reprotect for epoch %llu after epoch %llu",
		    nb->ifname, (unsigned long long)epoch,
		    (unsigned long long)nb->last_started);
		errno = EINVAL;
		return -1;
	}
	if (nb->ops->reprotect(nb) == -1)
		return -1;
	nb->released_all = 0;
	nb->last_released = nb->last_started;
	log_statechange(nb->ifname, "released", "buffering",
	    "protection resumed");
	log_debug("%s: output held from now on, for epoch %llu", nb->ifname,
	    (unsigned long long)epoch);
	return 0;
}

int
netbuf_discard_all(struct netbuf *nb)
{
	if (nb->released_all)
		return 0;
	/* Marked first: even if the driver fails, netbuf_free must not
	 * release what is held, nor unblock the interface. */
	nb->released_all = 1;
	nb->discarded = 1;
	nb->last_released = nb->last_started;
	log_statechange(nb->ifname, "buffering", "discarded",
	    "guest failed: its unacknowledged output is dropped");
	return nb->ops->discard_all(nb);
}

int
netbuf_get_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	*st = nb->st;
	if (nb->ops->stats != NULL)
		return nb->ops->stats(nb, st);
	return 0;
}

void
netbuf_free(struct netbuf *nb)
{
	struct netbuf_stats st;

	if (nb == NULL)
		return;
	if (!nb->released_all)
		(void)netbuf_release_all(nb);
	if (netbuf_get_stats(nb, &st) == 0)
		log_info("%s: %s: %llu epochs, %llu packets held, %llu drops",
		    nb->ifname, nb->ops->name,
		    (unsigned long long)st.epochs_released,
		    (unsigned long long)st.packets_held,
		    (unsigned long long)st.drops);
	nb->ops->teardown(nb);
	free(nb);
}

int
netbuf_cleanup_if(const char *ifname)
{
	int n, m;

	if (ifname == NULL || !netbuf_ifname_ok(ifname)) {
		log_warnx("bad interface name '%s'", ifname ? ifname : "(null)");
		errno = EINVAL;
		return -1;
	}
	n = netbuf_plug_cleanup_if(ifname);
	if (n == -1)
		return -1;
	m = netbuf_nfqueue_cleanup_if(ifname);
	if (m == -1)
		return -1;
	return n + m;
}

int
netbuf_cleanup_stale(void)
{
	int n, m;

	n = netbuf_plug_cleanup_stale();
	if (n == -1)
		return -1;
	m = netbuf_nfqueue_cleanup_stale();
	return n + m;
}
