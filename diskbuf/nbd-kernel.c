/* diskbuf/nbd-kernel.c -- hand the export to the kernel's nbd driver, so
 * that it appears as /dev/nbdN: what a Xen vbd (or any local user of a
 * block device) needs.
 *
 * No nbd-client is involved: one end of a socketpair goes to the kernel by
 * ioctl (size, block size and transmission flags with it, which is what
 * the NBD option haggling would have told it), the other end is served by
 * nbd-server.c straight in the transmission phase.  A thread sits in
 * NBD_DO_IT for as long as the device is connected, with every signal
 * blocked: a signal interrupting NBD_DO_IT makes the kernel shut the
 * device down under its user.
 *
 * The ioctl interface is the old one (linux/nbd.h), still what nbd-client
 * uses by default; the netlink one would let a device outlive this process,
 * which is the opposite of what we want: the device goes when the server
 * goes, and the guest's I/O fails instead of hanging on a dead server.
 */
#define LOG_PREFIX "diskbuf: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskbuf-int.h"
#include "log.h"

/* The ioctls of <linux/nbd.h> (a fixed ABI); that header cannot be
 * included next to diskbuf-int.h, which defines the wire protocol under
 * the same names. */
#define NBD_SET_SOCK		_IO(0xab, 0)
#define NBD_SET_BLKSIZE		_IO(0xab, 1)
#define NBD_DO_IT		_IO(0xab, 3)
#define NBD_CLEAR_SOCK		_IO(0xab, 4)
#define NBD_SET_SIZE_BLOCKS	_IO(0xab, 7)
#define NBD_DISCONNECT		_IO(0xab, 8)
#define NBD_SET_FLAGS		_IO(0xab, 10)

struct nbd_kernel {
	int		fd;		/* /dev/nbdN */
	char		*path;
	pthread_t	thr;
	int		running;
};

static void *
do_it_main(void *arg)
{
	struct nbd_kernel *k = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Returns when the device is disconnected (NBD_DISCONNECT from
	 * nbd_kernel_detach, or the server side of the socket closing). */
	if (ioctl(k->fd, NBD_DO_IT) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		log_warn("%s: NBD_DO_IT", k->path);
	return NULL;
}

struct nbd_kernel *
nbd_kernel_attach(struct nbd_server *srv, const char *path, uint64_t size)
{
	struct nbd_kernel *k;
	struct stat st;
	unsigned long bs = size % 4096 == 0 ? 4096 : 512;
	int sv[2] = { -1, -1 }, rc, err;

	k = calloc(1, sizeof *k);
	if (k == NULL)
		return NULL;
	k->fd = -1;
	if ((k->path = strdup(path)) == NULL)
		goto err;
	if (size == 0 || size % 512 != 0) {
		log_warnx("%s: the image is %" PRIu64 " bytes; a block device "
		    "needs a non-zero multiple of 512", path, size);
		errno = EINVAL;
		goto err;
	}
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd == -1) {
		log_warn("%s%s", path, errno == ENOENT ?
		    " (is the nbd module loaded? modprobe nbd)" : "");
		goto err;
	}
	if (fstat(k->fd, &st) == -1 || !S_ISBLK(st.st_mode)) {
		log_warnx("%s: not a block device", path);
		errno = ENOTBLK;
		goto err;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		goto err;
	}
	/* A device still connected to someone else is not ours to take. */
	if (ioctl(k->fd, NBD_SET_SOCK, sv[0]) == -1) {
		log_warn("%s: NBD_SET_SOCK%s", path, errno == EBUSY ?
		    " (the device is connected to another server)" : "");
		goto err;
	}
	if (ioctl(k->fd, NBD_SET_BLKSIZE, bs) == -1 ||
	    ioctl(k->fd, NBD_SET_SIZE_BLOCKS, (unsigned long)(size / bs)) == -1 ||
	    ioctl(k->fd, NBD_SET_FLAGS,
	    (unsigned long)nbd_transmission_flags()) == -1) {
		log_warn("%s: set size and flags", path);
		ioctl(k->fd, NBD_CLEAR_SOCK);
		goto err;
	}
	/* The kernel holds its own reference to sv[0] now. */
	close(sv[0]);
	sv[0] = -1;
	if (nbd_server_serve_kernel(srv, sv[1]) == -1) {
		sv[1] = -1;		/* closed by the server */
		ioctl(k->fd, NBD_CLEAR_SOCK);
		goto err;
	}
	sv[1] = -1;
	rc = pthread_create(&k->thr, NULL, do_it_main, k);
	if (rc != 0) {
		errno = rc;
		log_warn("%s: NBD_DO_IT thread", path);
		ioctl(k->fd, NBD_CLEAR_SOCK);
		goto err;
	}
	k->running = 1;
	log_info("%s: connected, %" PRIu64 " bytes in %lu-byte blocks", path,
	    size, bs);
	return k;
err:
	err = errno;
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (k->fd != -1)
		close(k->fd);
	free(k->path);
	free(k);
	errno = err;
	return NULL;
}

void
nbd_kernel_detach(struct nbd_kernel *k)
{
	if (k == NULL)
		return;
	if (k->running) {
		/* NBD_DISCONNECT sends NBD_CMD_DISC once queued requests
		 * are done; the server thread then closes its end and
		 * NBD_DO_IT returns. */
		if (ioctl(k->fd, NBD_DISCONNECT) == -1)
			log_warn("%s: NBD_DISCONNECT", k->path);
		pthread_join(k->thr, NULL);
		ioctl(k->fd, NBD_CLEAR_SOCK);
		log_info("%s: disconnected", k->path);
	}
	close(k->fd);
	free(k->path);
	free(k);
}
