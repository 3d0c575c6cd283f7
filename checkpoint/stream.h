/* checkpoint/stream.h -- reading and writing the stream format.
 *
 * The reader is pure (STYLE E3): no I/O, no logging, no allocation.  The
 * caller hands it bytes; it answers with an enum stream_status and how many
 * bytes it consumed.  It checks every length before use.  The writer
 * appends records to a growable buffer the caller drains (send, write);
 * it keeps the epoch CRC itself, so draining between records is fine.
 *
 * The wire structures are in stream-format.h, the rules in
 * docs/stream-format.md.  Library: remus_stream (no dependencies).
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
	STREAM_ERR_RESERVED,	/* a reserved field or flag bit is not zero */
	STREAM_ERR_TOO_LONG,	/* length over STREAM_REC_LENGTH_MAX or a limit */
	STREAM_ERR_LENGTH,	/* length does not fit the record type */
	STREAM_ERR_PADDING,	/* padding bytes not zero */
	STREAM_ERR_UNKNOWN,	/* unknown mandatory record type */
	STREAM_ERR_SEQUENCE,	/* record not allowed here / epoch out of order */
	STREAM_ERR_CRC,
	STREAM_ERR_COUNT,	/* EPOCH_END record count mismatch */
	STREAM_ERR_ENCODING,	/* unknown page encoding or bad length for it */
	STREAM_ERR_PFN,		/* pfn >= nr_pages (or nr_pages out of range) */
	STREAM_ERR_DRIVER,	/* driver name not NUL-padded / empty / not text */
	STREAM_ERR_TEXT,	/* ERROR reason empty or not text */
	STREAM_ERR_DISK,	/* DISK_WRITE op unknown, disk not declared or
				 * range outside it; DISKS entry bad */
	STREAM_ERR_HANDSHAKE,	/* HELLO / WELCOME timing out of range */
	STREAM_ERR_MAX
};

/* Static text for a status ("record CRC mismatch").  Never NULL. */
const char	*stream_strerror(enum stream_status);
/* Static name of a record type ("PAGE_BATCH"), or NULL if unknown. */
const char	*stream_rec_name(uint32_t type);
/* Static name of a page encoding ("XOR_LZ4"), or NULL if unknown. */
const char	*stream_enc_name(unsigned enc);

/* CRC32C (Castagnoli), hardware-accelerated (SSE4.2) where the CPU has
 * it.  Chains: stream_crc32c(stream_crc32c(0, a), b) == CRC of a || b;
 * stream_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t	 stream_crc32c(uint32_t crc, const void *buf, size_t len);

/* ---- Reader ------------------------------------------------------- */

enum stream_dir {
	STREAM_DIR_FORWARD,	/* primary -> backup: header, then records */
	STREAM_DIR_BACK,	/* backup -> primary: records only */
};

/* Reader state.  Callers may read the fields; only the functions below
 * change them. */
struct stream_reader {
	enum stream_dir	dir;
	int		have_header;
	uint32_t	page_size;
	uint64_t	nr_pages;
	uint32_t	features;
	int		in_epoch;
	uint64_t	epoch;		/* open epoch, or last closed one (0: none) */
	uint32_t	nr_records;	/* records so far in the open epoch */
	uint32_t	crc;		/* running CRC of the open epoch */
	uint64_t	offset;		/* bytes consumed so far (for verify) */
	/* After STREAM_NEED_MORE: total bytes the next call needs at BUF
	 * (header or whole record), so a caller knows how much to buffer;
	 * always <= 8 + STREAM_REC_LENGTH_MAX + 7 (or the header's size). */
	size_t		need;
	enum stream_status err;	/* sticky: once set, every call returns it */
	int		ended;		/* END (forward) or ERROR (back) seen */
	int		have_hello;	/* forward: HELLO seen */
	int		have_welcome;	/* back channel: WELCOME seen */
	int		have_ready;	/* back channel: READY seen */
	uint64_t	last_ack;	/* back channel: highest ACK so far */
	int		hashes_due;	/* back channel: WELCOME had HASHES */
	uint64_t	hash_next;	/* back channel: next PAGE_HASHES pfn */
	uint64_t	nr_epochs;	/* epochs completed (EPOCH_END validated) */
	int		switchover;	/* forward: SWITCHOVER seen, only
					 * HEARTBEATs may follow */
	int		have_cookie;	/* forward: COOKIE seen */
	int		so_cookie;	/* forward: a switchover's COOKIE
					 * seen, SWITCHOVER must follow */
	uint32_t	nr_disks;	/* forward: DISKS' count (0: none) */
	uint64_t	disk_size[STREAM_DISKS_MAX];	/* DISKS' sizes */
	int		have_devstate;	/* forward: the open epoch's
					 * DEVICE_STATE seen */
};

struct stream_header_info {
	uint32_t	page_size;
	uint32_t	features;
	uint64_t	nr_pages;
	char		driver[STREAM_DRIVER_LEN + 1];	/* NUL-terminated */
	const void	*config;	/* borrowed from the input buffer */
	uint32_t	config_len;
};

/* One parsed record.  Pointers borrow from the input buffer and are valid
 * as long as it is.  The union member matching TYPE is filled (host byte
 * order); body points at the raw body of LENGTH bytes. */
struct stream_rec {
	uint32_t	type;
	uint32_t	length;		/* body length */
	const uint8_t	*body;
	union {
		struct stream_epoch_begin	begin;
		struct stream_epoch_end		end;
		struct stream_disk_write	disk;	/* data: body + 16 */
		struct stream_ctl		ctl;
		struct {
			uint32_t	count;
			/* The COUNT raw entries (may be unaligned): use
			 * stream_batch_next, never dereference. */
			const struct stream_page *pages;
			const uint8_t	*data;	/* first page's data */
		} batch;
		struct {
			uint32_t	code;
			const char	*reason;	/* not NUL-terminated */
			uint32_t	reason_len;
		} error;
		struct {
			char		name[STREAM_NAME_LEN + 1]; /* NUL-ended */
			uint32_t	timeout_ms;
			uint32_t	hb_ms;
			uint32_t	features;
			uint32_t	flags;		/* STREAM_HELLO_* */
		} hello;
		struct stream_welcome		welcome;
		struct stream_cookie		cookie;
		struct {
			uint32_t	kind;	/* STREAM_DEVSTATE_* */
			uint32_t	encoding; /* STREAM_DEVSTATE_RAW, _LZ4 */
			const uint8_t	*data;	/* borrowed */
			uint32_t	len;	/* >= 1 */
		} devstate;
		struct {
			uint32_t	count;
			/* NUL-terminated; "" for an unnamed disk. */
			char		name[STREAM_DISKS_MAX]
					    [STREAM_DISK_NAME_LEN + 1];
			uint64_t	size[STREAM_DISKS_MAX];
		} disks;
		struct {
			uint64_t	first;
			uint32_t	count;
			/* COUNT * STREAM_HASH_LEN bytes (may be
			 * unaligned), borrowed. */
			const uint8_t	*hashes;
		} hashes;
	} u;
};

void	stream_reader_init(struct stream_reader *, enum stream_dir);
/* Back channel: the guest's page count, so PAGE_HASHES are checked
 * against it (pfns in range, READY only once all were sent).  Without it
 * (0, as after init: a capture read on its own) those two checks are
 * skipped. */
void	stream_reader_set_pages(struct stream_reader *, uint64_t nr_pages);

/* Parse the stream header at BUF (LEN bytes available).  On STREAM_OK
 * *USED is the bytes consumed and *INFO is filled.  STREAM_NEED_MORE if LEN
 * is short (reader->need says how much is needed); an error otherwise (the
 * reader is then dead).  Only for STREAM_DIR_FORWARD. */
enum stream_status stream_read_header(struct stream_reader *,
		    const uint8_t *buf, size_t len, size_t *used,
		    struct stream_header_info *info);

/* Parse one record.  STREAM_OK: *REC filled, *USED bytes consumed
 * (header + body + padding).  STREAM_SKIPPED: an unknown optional record
 * was consumed (*USED set, *REC has type/length/body only).
 * STREAM_NEED_MORE: nothing consumed, reader->need set; a length that can
 * never be valid is rejected from the 8-byte header alone, before the body
 * is waited for.  For EPOCH_END, STREAM_OK means the count and CRC
 * matched: the epoch is complete.  Any error is sticky. */
enum stream_status stream_read_record(struct stream_reader *,
		    const uint8_t *buf, size_t len, size_t *used,
		    struct stream_rec *rec);

/* Iterate the pages of a PAGE_BATCH record validated by
 * stream_read_record.  Returns 1 with *PAGE (host byte order) and *DATA
 * (PAGE->length bytes, borrowed) set, 0 at the end.  Bounds were checked
 * by the reader; decoding (codec_decode) is the caller's. */
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

/* The writer closes a batch at STREAM_BATCH_MAX pages or when its data
 * would pass this many bytes (4 MiB: 1024 raw 4 KiB pages). */
#define STREAM_WRITER_BATCH_BYTES	(4u << 20)

/* Writer state.  BUF[0, stream_writer_ready()) holds complete records the
 * caller may send; with a page batch open, the bytes from batch_off on are
 * still being assembled and must not be sent. */
struct stream_writer {
	uint8_t		*buf;		/* owned; caller sends from buf[0] */
	size_t		len, cap;
	int		in_epoch;
	uint64_t	epoch;		/* open epoch, or last one (0: none) */
	uint32_t	nr_records;
	uint32_t	crc;
	uint32_t	page_size;
	uint64_t	nr_pages;	/* from write_header; 0: unchecked */
	uint32_t	features;	/* from write_header */
	int		ended;		/* END or ERROR written */
	int		hello_due;	/* header written, HELLO not yet */
	int		welcome_sent;	/* back channel: READY may follow */
	int		switchover;	/* SWITCHOVER written */
	int		cookie_sent;	/* COOKIE written */
	int		so_cookie_sent;	/* a switchover's COOKIE written */
	uint32_t	nr_disks;	/* DISKS written: its count */
	uint64_t	disk_size[STREAM_DISKS_MAX];
	int		devstate_sent;	/* the open epoch's DEVICE_STATE */
	int		hashes_due;	/* WELCOME had HASHES, READY not yet */
	uint64_t	hash_next;	/* next PAGE_HASHES pfn */
	uint64_t	nr_hashes;	/* pages they cover (set_hashes) */
	/* Open page batch, if any (batch_count > 0 or batch_open). */
	int		batch_open;
	size_t		batch_off;	/* offset of its record header in buf */
	uint32_t	batch_count;
	size_t		batch_data;	/* data bytes so far */
	int		reserved_page;	/* page_reserve done, commit due */
	uint32_t	reserve_len;	/* stream_write_page_reserve's size */
};

void	stream_writer_init(struct stream_writer *, uint32_t page_size);
/* Frees the buffer; the writer may be initialised again. NULL ok. */
void	stream_writer_free(struct stream_writer *);
/* Bytes at the start of buf that are complete and may be sent. */
size_t	stream_writer_ready(const struct stream_writer *);
/* Forget the first N (<= ready) bytes the caller has sent.  Moves the rest
 * to the front: with partial sends, keep your own offset into buf and
 * consume once, rather than consuming every short send. */
void	stream_writer_consume(struct stream_writer *, size_t n);
/* Forget every ready byte (consume(ready)).  Keeps the epoch and CRC
 * state, so drain between any two calls. */
void	stream_writer_drain(struct stream_writer *);

/* All return 0, or -1 with errno set: ENOMEM; EINVAL for misuse (a page
 * or state record outside an epoch, a control record inside one, epoch
 * numbers out of order, an encoding/length pair the spec forbids, pfn >=
 * nr_pages).  On EINVAL nothing was written. */
int	stream_write_header(struct stream_writer *,
	    const struct stream_header_info *);
/* EPOCH: the first epoch of a stream may be any n >= 1 and must have
 * STREAM_EPOCH_FULL; later ones are last + 1. */
int	stream_write_epoch_begin(struct stream_writer *, uint64_t epoch,
	    uint32_t flags);
/* Pages go into batches of at most STREAM_BATCH_MAX; write_page opens a
 * batch as needed and closes a full one.  DATA is LEN bytes in ENC
 * (copied).  Any other record closes an open batch first. */
int	stream_write_page(struct stream_writer *, uint64_t pfn, uint16_t enc,
	    const void *data, uint32_t len);
/* Zero-copy variant: reserve MAXLEN (<= page_size) bytes for the next
 * page's data and return where to put them (valid until the next writer
 * call), then commit the page with its real length (<= MAXLEN).  NULL
 * with errno on failure. */
void	*stream_write_page_reserve(struct stream_writer *, uint32_t maxlen);
int	stream_write_page_commit(struct stream_writer *, uint64_t pfn,
	    uint16_t enc, uint32_t len);
int	stream_write_batch_end(struct stream_writer *);
/* GUEST_STATE (inside an epoch), or an optional type
 * (STREAM_REC_OPTIONAL | n, n not a defined type) anywhere. */
int	stream_write_blob(struct stream_writer *, uint32_t type,
	    const void *data, uint32_t len);
/* DEVICE_STATE of KIND (STREAM_DEVSTATE_*), LEN >= 1 bytes at DATA in
 * ENCODING (STREAM_DEVSTATE_RAW, or _LZ4: codec_blob_pack's, >= 5 bytes):
 * once in every epoch of a stream whose header has STREAM_FEAT_DEVICE_MODEL
 * (EPOCH_END without it is EINVAL), never in another. */
int	stream_write_device_state(struct stream_writer *, uint32_t kind,
	    uint32_t encoding, const void *data, uint32_t len);
/* DW->length data bytes at DATA for STREAM_DISK_WRITE; DATA unused for
 * ZERO and TRIM.  Inside an epoch, after DISKS declared DW->disk, whose
 * size the range must fit in. */
int	stream_write_disk(struct stream_writer *,
	    const struct stream_disk_write *dw, const void *data);
int	stream_write_epoch_end(struct stream_writer *);	/* closes a batch */
/* HEARTBEAT, END (value ignored: the writer puts the last epoch), READY
 * (value ignored: STREAM_VERSION; only after WELCOME), ACK, BC_HEARTBEAT,
 * SWITCHOVER (value ignored: the last epoch; at least one epoch closed;
 * afterwards only HEARTBEAT), ACTIVATED (the epoch; ends the stream).
 * Outside epochs, and not between the header and HELLO. */
int	stream_write_ctl(struct stream_writer *, uint32_t type, uint64_t value);
/* HELLO, right after the header: NAME 1 .. STREAM_NAME_LEN printable
 * ASCII characters; 1 <= HB_MS <= TIMEOUT_MS <= STREAM_TIMEOUT_MAX;
 * FLAGS only of STREAM_HELLO_FLAGS_KNOWN. */
int	stream_write_hello(struct stream_writer *, const char *name,
	    uint32_t timeout_ms, uint32_t hb_ms, uint32_t features,
	    uint32_t flags);
/* COOKIE, after HELLO and before the first epoch, once. */
int	stream_write_cookie(struct stream_writer *,
	    const uint8_t cookie[STREAM_COOKIE_LEN]);
/* DISKS: COUNT (1 .. STREAM_DISKS_MAX) disks, D[i] being disk index i
 * (its NUL-terminated name as stream-format.h says, its size >= 1).
 * After HELLO and before the first epoch, once. */
int	stream_write_disks(struct stream_writer *,
	    const struct stream_disk_desc *d, uint32_t count);
/* Is NAME (NUL-terminated) a disk name DISKS may carry: 0 .. 23 of
 * A-Z a-z 0-9 _ . -, not starting with . or -?  1 / 0. */
int	stream_disk_name_ok(const char *name);
/* WELCOME, before READY (on the back channel); WL's crc and reserved are
 * ignored, the rest as stream-format.h says. */
int	stream_write_welcome(struct stream_writer *,
	    const struct stream_welcome *wl);
/* Back channel, before a WELCOME with STREAM_WELCOME_HASHES: the guest's
 * page count, which the PAGE_HASHES records must cover before READY. */
void	stream_writer_set_hashes(struct stream_writer *, uint64_t nr_pages);
/* PAGE_HASHES of COUNT pages from FIRST (HASHES: COUNT * STREAM_HASH_LEN
 * bytes), after a WELCOME with STREAM_WELCOME_HASHES and before READY,
 * FIRST continuing the previous record.  COUNT 1 .. STREAM_HASHES_MAX. */
int	stream_write_page_hashes(struct stream_writer *, uint64_t first,
	    uint32_t count, const void *hashes);
/* REASON: 1 .. STREAM_ERROR_REASON_MAX bytes of text (longer is cut). */
int	stream_write_error(struct stream_writer *, uint32_t code,
	    const char *reason);

#endif /* REMUS_STREAM_H */
