/* checkpoint/checkpoint.h -- the epoch engine and the devices it drives.
 *
 *   epoch n:
 *   suspend -> dirty log -> copy to staging -> postsuspend* -> preresume*
 *   -> resume            (guest paused only in this span; no I/O in it)
 *   -> encode + send n (EPOCH_BEGIN .. pages .. device records .. EPOCH_END)
 *   -> ACK(n) from the backup -> commit* (netbuf releases epoch n's output)
 *
 *   (* = every registered device, in registration order)
 *
 * Devices (netbuf, diskbuf) plug in through struct ckpt_device_ops, the
 * vocabulary of libxl's checkpoint devices.  The engine includes none of
 * their headers: remusd/ adapts each module to this table.
 */
#ifndef REMUS_CHECKPOINT_H
#define REMUS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

struct stream_writer;
struct stream_rec;

/* Primary-side device.  Every hook returns 0, or -1 with errno set (already
 * logged).  A hook may be NULL. */
struct ckpt_device_ops {
	const char *name;

	/* The guest is paused at the end of epoch N: start buffering
	 * epoch N + 1's output (netbuf: TCQ_PLUG_BUFFER; diskbuf: tag
	 * later writes N + 1). */
	int	(*postsuspend)(void *dev, uint64_t epoch);

	/* Just before the guest resumes. */
	int	(*preresume)(void *dev, uint64_t epoch);

	/* After the guest resumed, while epoch N is being sent: append this
	 * device's records for epoch N (diskbuf: DISK_WRITE records). */
	int	(*save)(void *dev, uint64_t epoch, struct stream_writer *w);

	/* The backup acknowledged epoch N: release what it produced. */
	int	(*commit)(void *dev, uint64_t epoch);

	/* Protection ended (backup lost, or shutdown): release everything
	 * held and stop buffering.  Must not fail in a way that keeps
	 * output held. */
	void	(*release_all)(void *dev);

	/* Called even if setup failed (C3). */
	void	(*teardown)(void *dev);
};

/* Backup-side device: sees its records of the open epoch, and the outcome. */
struct ckpt_backup_device_ops {
	const char *name;
	/* STREAM record types this device consumes (0-terminated). */
	const uint32_t *rec_types;
	/* A record of open epoch N (already length- and CRC-checked only
	 * when N commits: buffer it, do not apply it). */
	int	(*record)(void *dev, uint64_t epoch, const struct stream_rec *);
	/* EPOCH_END(N) validated: apply and make durable before the ACK. */
	int	(*commit)(void *dev, uint64_t epoch);
	/* Epoch N will never commit (stream lost or corrupt): drop it. */
	void	(*discard)(void *dev, uint64_t epoch);
	/* Failover. */
	int	(*activate)(void *dev);
	void	(*teardown)(void *dev);
};

#endif /* REMUS_CHECKPOINT_H */
