/* checkpoint/stream.h -- reading and writing the stream format.
 *
 * The reader is pure (STYLE E3): no I/O, no logging, no allocation.  The
 * caller hands it bytes; it answers with an enum stream_status and how many
 * bytes it consumed.  It checks every length before use.  The writer
 * appends records to a growable buffer the caller drains (send, write);
 * it keeps the epoch CRC itself, so draining between records is fine.
 *
 * The wire structures are in stream-format.h, the rules in
 * docs/stream-format.md.
 */
#ifndef REMUS_STREAM_H
#define REMUS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "stream-format.h"

enum stream_status {
	STREAM_OK = 0,
	STREAM_NEED_MORE,	/* not an error: feed more bytes */
	STREAM_SKIPPED,		/* not an error: unknown optional record */
	STREAM_ERR_MAGIC,
	STREAM_ERR_VERSION,
	STREAM_ERR_BYTE_ORDER,
	STREAM_ERR_PAGE_SIZE,
	STREAM_ERR_FEATURES,
	STREAM_ERR_RESERVED,	/* a reserved field is not zero */
	STREAM_ERR_TOO_LONG,	/* length over STREAM_REC_LENGTH_MAX or a limit */
	STREAM_ERR_LENGTH,	/* length does not fit the record type */
	STREAM_ERR_PADDING,	/* padding bytes not zero */
	STREAM_ERR_UNKNOWN,	/* unknown mandatory record type */
	STREAM_ERR_SEQUENCE,	/* record not allowed here / epoch out of order */
	STREAM_ERR_CRC,
	STREAM_ERR_COUNT,	/* EPOCH_END record count mismatch */
	STREAM_ERR_ENCODING,	/* unknown page encoding or bad length for it */
	STREAM_ERR_PFN,		/* pfn >= nr_pages */
	STREAM_ERR_DRIVER,	/* driver name not NUL-terminated / empty */
	STREAM_ERR_MAX
};

const char	*stream_strerror(enum stream_status);

/* CRC32C (Castagnoli), hardware-accelerated where the CPU has it. */
uint32_t	 stream_crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- Reader ------------------------------------------------------- */

enum stream_dir {
	STREAM_DIR_FORWARD,	/* primary -> backup: header, then records */
	STREAM_DIR_BACK,	/* backup -> primary: records only */
};

struct stream_reader {
	enum stream_dir	dir;
	int		have_header;
	uint32_t	page_size;
	uint64_t	nr_pages;
	uint32_t	features;
	int		in_epoch;
	uint64_t	epoch;		/* open epoch, or last closed one */
	uint32_t	nr_records;	/* records so far in the open epoch */
	uint32_t	crc;		/* running CRC of the open epoch */
	uint64_t	offset;		/* bytes consumed so far (for verify) */
};

struct stream_header_info {
	uint32_t	page_size;
	uint32_t	features;
	uint64_t	nr_pages;
	char		driver[STREAM_DRIVER_LEN + 1];
	const void	*config;	/* borrowed from the input buffer */
	uint32_t	config_len;
};

/* One parsed record.  Pointers borrow from the input buffer. */
struct stream_rec {
	uint32_t	type;
	uint32_t	length;		/* body length */
	const uint8_t	*body;
	union {
		struct stream_epoch_begin	begin;
		struct stream_epoch_end		end;
		struct stream_disk_write	disk;
		struct stream_ctl		ctl;
		struct {
			uint32_t	count;
			const struct stream_page *pages; /* unaligned-safe copy via iterator */
			const uint8_t	*data;
		} batch;
		struct {
			uint32_t	code;
			const char	*reason;
			uint32_t	reason_len;
		} error;
	} u;
};

void	stream_reader_init(struct stream_reader *, enum stream_dir);

/* Parse the stream header at BUF (LEN bytes available).  On STREAM_OK
 * *USED is the bytes consumed and *INFO is filled.  STREAM_NEED_MORE if LEN
 * is short; an error otherwise (the reader is then dead). */
enum stream_status stream_read_header(struct stream_reader *,
		    const uint8_t *buf, size_t len, size_t *used,
		    struct stream_header_info *info);

/* Parse one record.  STREAM_OK: *REC filled, *USED bytes consumed
 * (header + body + padding).  STREAM_SKIPPED: an unknown optional record
 * was consumed.  STREAM_NEED_MORE: nothing consumed.  For EPOCH_END,
 * STREAM_OK means the count and CRC matched: the epoch is complete. */
enum stream_status stream_read_record(struct stream_reader *,
		    const uint8_t *buf, size_t len, size_t *used,
		    struct stream_rec *rec);

/* Iterate the pages of a PAGE_BATCH record validated by
 * stream_read_record.  Returns 1 with *PAGE and *DATA set, 0 at the end. */
struct stream_batch_iter {
	const struct stream_rec	*rec;
	uint32_t	i;
	size_t		data_off;
};
void	stream_batch_iter_init(struct stream_batch_iter *,
	    const struct stream_rec *);
int	stream_batch_next(struct stream_batch_iter *, struct stream_page *page,
	    const uint8_t **data);

/* ---- Writer ------------------------------------------------------- */

struct stream_writer {
	uint8_t		*buf;		/* owned; caller drains [0, len) */
	size_t		len, cap;
	int		in_epoch;
	uint64_t	epoch;
	uint32_t	nr_records;
	uint32_t	crc;
	uint32_t	page_size;
	/* Open page batch, if any. */
	size_t		batch_off;	/* offset of its record header in buf */
	uint32_t	batch_count;
	size_t		batch_data;	/* data bytes so far */
};

void	stream_writer_init(struct stream_writer *, uint32_t page_size);
void	stream_writer_free(struct stream_writer *);
/* Forget LEN bytes the caller has sent (keeps CRC state). */
void	stream_writer_drain(struct stream_writer *);

/* All return 0, or -1 with errno set (ENOMEM; EINVAL for misuse, such as a
 * page outside a batch or a record outside an epoch that must be in one). */
int	stream_write_header(struct stream_writer *,
	    const struct stream_header_info *);
int	stream_write_epoch_begin(struct stream_writer *, uint64_t epoch,
	    uint32_t flags);
/* Pages go into batches of at most STREAM_BATCH_MAX; page_add opens a
 * batch as needed and closes a full one.  DATA is LEN bytes in ENC. */
int	stream_write_page(struct stream_writer *, uint64_t pfn, uint16_t enc,
	    const void *data, uint32_t len);
int	stream_write_batch_end(struct stream_writer *);
int	stream_write_blob(struct stream_writer *, uint32_t type,
	    const void *data, uint32_t len);	/* GUEST_STATE, DEVICE_STATE, or any */
int	stream_write_disk(struct stream_writer *,
	    const struct stream_disk_write *, const void *data);
int	stream_write_epoch_end(struct stream_writer *);	/* closes a batch */
/* HEARTBEAT, END, READY, ACK, BC_HEARTBEAT. */
int	stream_write_ctl(struct stream_writer *, uint32_t type, uint64_t value);
int	stream_write_error(struct stream_writer *, uint32_t code,
	    const char *reason);

#endif /* REMUS_STREAM_H */
