/* checkpoint/stream-read.c -- the pure stream reader.
 *
 * No I/O, no logging, no allocation (STYLE E3): the caller hands in bytes,
 * the reader answers with a status.  Every length is checked against the
 * bytes actually present before anything is read from them, and a length
 * that can never be valid for the record type is rejected from the 8-byte
 * record header alone, so a hostile peer cannot make a caller buffer
 * 64 MiB for a record that is then refused.  Input buffers may have any
 * alignment: every field is loaded with memcpy.  An error is sticky: a
 * stream that went wrong once is never trusted again.
 *
 * The rules implemented here are docs/stream-format.md; the order of the
 * checks follows it (framing, then sequence, then body, then CRC).
 */
#include <endian.h>
#include <string.h>

#include "stream.h"

static uint16_t
ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t
ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t
ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static size_t
pad8(size_t n)
{
	return (n + STREAM_REC_ALIGN - 1) & ~(size_t)(STREAM_REC_ALIGN - 1);
}

/* The libFuzzer build (fuzz/fuzz.cmake) defines
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, the usual convention, so that
 * mutated inputs get past the CRCs into the checks behind them.  Never
 * defined in a real build. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define crc_differs(a, b)	((void)(a), (void)(b), 0)
#else
#define crc_differs(a, b)	((a) != (b))
#endif

static enum stream_status
fail(struct stream_reader *r, enum stream_status st)
{
	r->err = st;
	return st;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != 0)
			return 0;
	return 1;
}

static const char *const status_text[STREAM_ERR_MAX] = {
	[STREAM_OK]		= "ok",
	[STREAM_NEED_MORE]	= "truncated",
	[STREAM_SKIPPED]	= "unknown optional record skipped",
	[STREAM_ERR_MAGIC]	= "bad magic: not a remus stream",
	[STREAM_ERR_VERSION]	= "unsupported stream version",
	[STREAM_ERR_BYTE_ORDER]	= "wrong byte order",
	[STREAM_ERR_PAGE_SIZE]	= "bad page size",
	[STREAM_ERR_FEATURES]	= "unknown feature bits",
	[STREAM_ERR_RESERVED]	= "reserved field or flag not zero",
	[STREAM_ERR_TOO_LONG]	= "length over the limit",
	[STREAM_ERR_LENGTH]	= "length does not fit the record type",
	[STREAM_ERR_PADDING]	= "padding not zero",
	[STREAM_ERR_UNKNOWN]	= "unknown mandatory record type",
	[STREAM_ERR_SEQUENCE]	= "record out of sequence",
	[STREAM_ERR_CRC]	= "CRC mismatch",
	[STREAM_ERR_COUNT]	= "epoch record count mismatch",
	[STREAM_ERR_ENCODING]	= "bad page encoding or length",
	[STREAM_ERR_PFN]	= "pfn out of range",
	[STREAM_ERR_DRIVER]	= "bad driver name",
	[STREAM_ERR_TEXT]	= "bad text (error reason or guest name)",
	[STREAM_ERR_DISK]	= "bad disk write or disk list",
	[STREAM_ERR_HANDSHAKE]	= "handshake timing out of range",
};

const char *
stream_strerror(enum stream_status st)
{
	if ((unsigned)st >= STREAM_ERR_MAX || status_text[st] == NULL)
		return "unknown stream status";
	return status_text[st];
}

const char *
stream_rec_name(uint32_t type)
{
	switch (type) {
	case STREAM_REC_EPOCH_BEGIN:	return "EPOCH_BEGIN";
	case STREAM_REC_PAGE_BATCH:	return "PAGE_BATCH";
	case STREAM_REC_GUEST_STATE:	return "GUEST_STATE";
	case STREAM_REC_DEVICE_STATE:	return "DEVICE_STATE";
	case STREAM_REC_DISK_WRITE:	return "DISK_WRITE";
	case STREAM_REC_EPOCH_END:	return "EPOCH_END";
	case STREAM_REC_HEARTBEAT:	return "HEARTBEAT";
	case STREAM_REC_END:		return "END";
	case STREAM_REC_HELLO:		return "HELLO";
	case STREAM_REC_READY:		return "READY";
	case STREAM_REC_ACK:		return "ACK";
	case STREAM_REC_BC_HEARTBEAT:	return "BC_HEARTBEAT";
	case STREAM_REC_ERROR:		return "ERROR";
	case STREAM_REC_WELCOME:	return "WELCOME";
	case STREAM_REC_SWITCHOVER:	return "SWITCHOVER";
	case STREAM_REC_COOKIE:		return "COOKIE";
	case STREAM_REC_DISKS:		return "DISKS";
	case STREAM_REC_ACTIVATED:	return "ACTIVATED";
	case STREAM_REC_PAGE_HASHES:	return "PAGE_HASHES";
	default:			return NULL;
	}
}

const char *
stream_enc_name(unsigned enc)
{
	switch (enc) {
	case STREAM_ENC_ZERO:		return "ZERO";
	case STREAM_ENC_RAW:		return "RAW";
	case STREAM_ENC_LZ4:		return "LZ4";
	case STREAM_ENC_XOR_LZ4:	return "XOR_LZ4";
	case STREAM_ENC_XOR_RLE:	return "XOR_RLE";
	default:			return NULL;
	}
}

static int
is_forward_type(uint32_t type)
{
	return type >= STREAM_REC_EPOCH_BEGIN && type <= STREAM_REC_DISKS;
}

static int
is_back_type(uint32_t type)
{
	return type >= STREAM_REC_READY && type <= STREAM_REC_ACTIVATED;
}

void
stream_reader_init(struct stream_reader *r, enum stream_dir dir)
{
	memset(r, 0, sizeof(*r));
	r->dir = dir;
}

void
stream_reader_set_pages(struct stream_reader *r, uint64_t nr_pages)
{
	if (r->dir == STREAM_DIR_BACK)
		r->nr_pages = nr_pages;
}

/* Checks the driver name: 1..16 printable, non-space ASCII characters,
 * then NUL bytes only (so it prints safely and compares bytewise). */
static int
driver_ok(const char *d)
{
	size_t i = 0;

	while (i < STREAM_DRIVER_LEN && d[i] != '\0') {
		if (d[i] < 0x21 || d[i] > 0x7e)
			return 0;
		i++;
	}
	if (i == 0)
		return 0;
	return all_zero((const uint8_t *)d + i, STREAM_DRIVER_LEN - i);
}

enum stream_status
stream_read_header(struct stream_reader *r, const uint8_t *buf, size_t len,
    size_t *used, struct stream_header_info *info)
{
	const size_t hlen = sizeof(struct stream_hdr);
	const uint32_t zero = 0;
	uint32_t byte_order, version, page_size, features, config_len, crc;
	uint64_t nr_pages;
	size_t total;
	char driver[STREAM_DRIVER_LEN];

	if (r->err != STREAM_OK)
		return r->err;
	if (r->dir != STREAM_DIR_FORWARD || r->have_header)
		return fail(r, STREAM_ERR_SEQUENCE);
	/* A wrong magic is reported as soon as a byte of it is wrong. */
	if (len > 0 && memcmp(buf, STREAM_MAGIC, len < STREAM_MAGIC_LEN ?
	    len : STREAM_MAGIC_LEN) != 0)
		return fail(r, STREAM_ERR_MAGIC);
	if (len < hlen) {
		r->need = hlen;
		return STREAM_NEED_MORE;
	}
	byte_order = ld32(buf + offsetof(struct stream_hdr, byte_order));
	if (byte_order != STREAM_BYTE_ORDER)
		return fail(r, STREAM_ERR_BYTE_ORDER);
	version = ld32(buf + offsetof(struct stream_hdr, version));
	if (version != STREAM_VERSION)
		return fail(r, STREAM_ERR_VERSION);
	config_len = ld32(buf + offsetof(struct stream_hdr, config_len));
	if (config_len > STREAM_CONFIG_MAX)
		return fail(r, STREAM_ERR_TOO_LONG);
	total = hlen + pad8(config_len);
	if (len < total) {
		r->need = total;
		return STREAM_NEED_MORE;
	}
	if (!all_zero(buf + hlen + config_len, total - hlen - config_len))
		return fail(r, STREAM_ERR_PADDING);
	/* The CRC before the fields' meaning: a corrupted header is
	 * reported as corrupted, not as a strange page size. */
	crc = stream_crc32c(0, buf, offsetof(struct stream_hdr, crc));
	crc = stream_crc32c(crc, &zero, sizeof(zero));
	crc = stream_crc32c(crc, buf + hlen, total - hlen);
	if (crc_differs(crc, ld32(buf + offsetof(struct stream_hdr, crc))))
		return fail(r, STREAM_ERR_CRC);

	page_size = ld32(buf + offsetof(struct stream_hdr, page_size));
	if (page_size < STREAM_PAGE_SIZE_MIN || page_size > STREAM_PAGE_SIZE_MAX ||
	    (page_size & (page_size - 1)) != 0)
		return fail(r, STREAM_ERR_PAGE_SIZE);
	features = ld32(buf + offsetof(struct stream_hdr, features));
	if ((features & ~STREAM_FEAT_KNOWN) != 0)
		return fail(r, STREAM_ERR_FEATURES);
	nr_pages = ld64(buf + offsetof(struct stream_hdr, nr_pages));
	if (nr_pages == 0 || nr_pages > STREAM_NR_PAGES_MAX)
		return fail(r, STREAM_ERR_PFN);
	memcpy(driver, buf + offsetof(struct stream_hdr, driver), sizeof(driver));
	if (!driver_ok(driver))
		return fail(r, STREAM_ERR_DRIVER);

	r->have_header = 1;
	r->page_size = page_size;
	r->features = features;
	r->nr_pages = nr_pages;
	r->offset += total;
	r->need = 0;
	if (info != NULL) {
		memset(info, 0, sizeof(*info));
		info->page_size = page_size;
		info->features = features;
		info->nr_pages = nr_pages;
		memcpy(info->driver, driver, sizeof(driver));
		info->config = buf + hlen;
		info->config_len = config_len;
	}
	*used = total;
	return STREAM_OK;
}

/* What the 8-byte record header alone allows us to decide: the record's
 * direction, its place in the sequence, and whether its length can be
 * valid.  Runs before the body is waited for. */
static enum stream_status
check_rhdr(const struct stream_reader *r, uint32_t type, uint32_t length)
{
	if (length > STREAM_REC_LENGTH_MAX)
		return STREAM_ERR_TOO_LONG;
	if (r->ended)
		return STREAM_ERR_SEQUENCE;
	/* HELLO is the first record after the header, before anything,
	 * optional records included: the backup learns the timing first. */
	if (r->dir == STREAM_DIR_FORWARD && !r->have_hello &&
	    type != STREAM_REC_HELLO)
		return STREAM_ERR_SEQUENCE;
	if ((type & STREAM_REC_OPTIONAL) != 0) {
		uint32_t base = type & ~STREAM_REC_OPTIONAL;

		/* OPTIONAL | <defined type> is reserved: one flipped bit
		 * must not turn an ACK or END into a skippable record. */
		if (is_forward_type(base) || is_back_type(base))
			return STREAM_ERR_RESERVED;
		return STREAM_SKIPPED;
	}
	if (!is_forward_type(type) && !is_back_type(type))
		return STREAM_ERR_UNKNOWN;
	if (r->dir == STREAM_DIR_FORWARD ? !is_forward_type(type) :
	    !is_back_type(type))
		return STREAM_ERR_SEQUENCE;
	/* After SWITCHOVER the primary only keeps the link alive. */
	if (r->switchover && type != STREAM_REC_HEARTBEAT)
		return STREAM_ERR_SEQUENCE;
	/* A COOKIE between epochs is a switchover's perform. */
	if (r->so_cookie && type != STREAM_REC_SWITCHOVER)
		return STREAM_ERR_SEQUENCE;

	switch (type) {
	case STREAM_REC_EPOCH_BEGIN:
		if (r->in_epoch)
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_epoch_begin) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_PAGE_BATCH:
		if (!r->in_epoch)
			return STREAM_ERR_SEQUENCE;
		return length >= sizeof(struct stream_page_batch) +
		    sizeof(struct stream_page) ? STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_GUEST_STATE:
		return r->in_epoch ? STREAM_OK : STREAM_ERR_SEQUENCE;
	case STREAM_REC_DEVICE_STATE:
		/* One per epoch, and only when the header said so. */
		if (!r->in_epoch || r->have_devstate ||
		    (r->features & STREAM_FEAT_DEVICE_MODEL) == 0)
			return STREAM_ERR_SEQUENCE;
		return length > sizeof(struct stream_device_state) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_DISK_WRITE:
		/* Of a disk DISKS declared. */
		if (!r->in_epoch || r->nr_disks == 0)
			return STREAM_ERR_SEQUENCE;
		return length >= sizeof(struct stream_disk_write) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_EPOCH_END:
		if (!r->in_epoch)
			return STREAM_ERR_SEQUENCE;
		if (length != sizeof(struct stream_epoch_end))
			return STREAM_ERR_LENGTH;
		/* An epoch of a guest with a device model is whole only
		 * with its DEVICE_STATE. */
		return r->have_devstate ||
		    (r->features & STREAM_FEAT_DEVICE_MODEL) == 0 ?
		    STREAM_OK : STREAM_ERR_SEQUENCE;
	case STREAM_REC_HEARTBEAT:
	case STREAM_REC_END:
	case STREAM_REC_SWITCHOVER:
		if (r->in_epoch)
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_ctl) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_COOKIE:
		/* Before the first epoch (the session's prepare), or between
		 * epochs right before SWITCHOVER (the switchover's): once
		 * each. */
		if (r->in_epoch || (r->epoch == 0 ? r->have_cookie :
		    r->nr_epochs == 0 || r->so_cookie))
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_cookie) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_DISKS:
		if (r->nr_disks != 0 || r->in_epoch || r->epoch != 0)
			return STREAM_ERR_SEQUENCE;
		/* Whole entries, 1 .. STREAM_DISKS_MAX of them. */
		if (length < sizeof(struct stream_disks) +
		    sizeof(struct stream_disk_desc) ||
		    (length - sizeof(struct stream_disks)) %
		    sizeof(struct stream_disk_desc) != 0)
			return STREAM_ERR_LENGTH;
		return length <= sizeof(struct stream_disks) +
		    STREAM_DISKS_MAX * sizeof(struct stream_disk_desc) ?
		    STREAM_OK : STREAM_ERR_TOO_LONG;
	case STREAM_REC_HELLO:
		if (r->have_hello)
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_hello) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_WELCOME:
		if (r->have_welcome || r->have_ready)
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_welcome) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_READY:
		/* After a WELCOME with HASHES, only once every page's hash
		 * came (when the reader knows how many pages there are). */
		if (r->have_ready || !r->have_welcome ||
		    (r->hashes_due && r->nr_pages != 0 &&
		    r->hash_next != r->nr_pages))
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_ctl) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_PAGE_HASHES:
		if (!r->hashes_due || r->have_ready)
			return STREAM_ERR_SEQUENCE;
		/* Whole hashes, 1 .. STREAM_HASHES_MAX of them: decided
		 * before the body is buffered. */
		if (length < sizeof(struct stream_page_hashes) +
		    STREAM_HASH_LEN ||
		    (length - sizeof(struct stream_page_hashes)) %
		    STREAM_HASH_LEN != 0)
			return STREAM_ERR_LENGTH;
		return length <= sizeof(struct stream_page_hashes) +
		    STREAM_HASHES_MAX * STREAM_HASH_LEN ? STREAM_OK :
		    STREAM_ERR_TOO_LONG;
	case STREAM_REC_ACK:
	case STREAM_REC_ACTIVATED:
		if (!r->have_ready)
			return STREAM_ERR_SEQUENCE;
		return length == sizeof(struct stream_ctl) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_BC_HEARTBEAT:
		/* Also before READY: a backup still setting up its replica
		 * is alive. */
		return length == sizeof(struct stream_ctl) ?
		    STREAM_OK : STREAM_ERR_LENGTH;
	case STREAM_REC_ERROR:
		if (length <= sizeof(struct stream_error))
			return STREAM_ERR_LENGTH;
		return length <= sizeof(struct stream_error) +
		    STREAM_ERROR_REASON_MAX ? STREAM_OK : STREAM_ERR_TOO_LONG;
	}
	return STREAM_ERR_UNKNOWN;	/* not reached */
}

static enum stream_status
parse_batch(const struct stream_reader *r, const uint8_t *body,
    uint32_t length, struct stream_rec *rec)
{
	const size_t ehdr = sizeof(struct stream_page_batch);
	const uint8_t *e;
	uint32_t count;
	uint64_t sum = 0;

	count = ld32(body + offsetof(struct stream_page_batch, count));
	if (count == 0)
		return STREAM_ERR_LENGTH;
	if (count > STREAM_BATCH_MAX)
		return STREAM_ERR_TOO_LONG;
	if (ld32(body + offsetof(struct stream_page_batch, reserved)) != 0)
		return STREAM_ERR_RESERVED;
	/* count <= 1024, so this cannot overflow. */
	if (ehdr + (size_t)count * sizeof(struct stream_page) > length)
		return STREAM_ERR_LENGTH;
	e = body + ehdr;
	for (uint32_t i = 0; i < count; i++, e += sizeof(struct stream_page)) {
		uint64_t pfn = ld64(e + offsetof(struct stream_page, pfn));
		uint32_t plen = ld32(e + offsetof(struct stream_page, length));
		uint16_t enc = ld16(e + offsetof(struct stream_page, encoding));

		if (ld16(e + offsetof(struct stream_page, reserved)) != 0)
			return STREAM_ERR_RESERVED;
		if (pfn >= r->nr_pages)
			return STREAM_ERR_PFN;
		switch (enc) {
		case STREAM_ENC_ZERO:
			if (plen != 0)
				return STREAM_ERR_ENCODING;
			break;
		case STREAM_ENC_RAW:
			if (plen != r->page_size)
				return STREAM_ERR_ENCODING;
			break;
		case STREAM_ENC_LZ4:
		case STREAM_ENC_XOR_LZ4:
		case STREAM_ENC_XOR_RLE:
			/* An encoding that does not shrink the page must
			 * be sent RAW; compressed ones need the feature.
			 * An empty XOR_RLE is "unchanged from the base" (a
			 * page written with the bytes it had). */
			if ((plen == 0 && enc != STREAM_ENC_XOR_RLE) ||
			    plen >= r->page_size ||
			    (r->features & STREAM_FEAT_COMPRESS) == 0)
				return STREAM_ERR_ENCODING;
			break;
		default:
			return STREAM_ERR_ENCODING;
		}
		sum += plen;
	}
	if (ehdr + (uint64_t)count * sizeof(struct stream_page) + sum != length)
		return STREAM_ERR_LENGTH;
	rec->u.batch.count = count;
	rec->u.batch.pages = (const struct stream_page *)(const void *)(body + ehdr);
	rec->u.batch.data = body + ehdr + count * sizeof(struct stream_page);
	return STREAM_OK;
}

static enum stream_status
parse_disk(const struct stream_reader *r, const uint8_t *body,
    uint32_t length, struct stream_rec *rec)
{
	struct stream_disk_write *dw = &rec->u.disk;

	dw->offset = ld64(body + offsetof(struct stream_disk_write, offset));
	dw->length = ld32(body + offsetof(struct stream_disk_write, length));
	dw->disk = ld16(body + offsetof(struct stream_disk_write, disk));
	dw->op = body[offsetof(struct stream_disk_write, op)];
	dw->flags = body[offsetof(struct stream_disk_write, flags)];
	if ((dw->flags & ~STREAM_DISK_FLAGS_KNOWN) != 0)
		return STREAM_ERR_RESERVED;
	if (dw->op >= STREAM_DISK_OP_MAX || dw->length == 0 ||
	    dw->offset > UINT64_MAX - dw->length)
		return STREAM_ERR_DISK;
	/* A disk DISKS declared, and inside it. */
	if (dw->disk >= r->nr_disks ||
	    dw->offset + dw->length > r->disk_size[dw->disk])
		return STREAM_ERR_DISK;
	if (length != sizeof(*dw) + (dw->op == STREAM_DISK_WRITE ? dw->length : 0))
		return STREAM_ERR_LENGTH;
	return STREAM_OK;
}

/* Control records: CRC over the record header and the body before crc. */
static enum stream_status
parse_ctl(const uint8_t *rbuf, struct stream_rec *rec)
{
	const uint8_t *body = rbuf + sizeof(struct stream_rhdr);
	struct stream_ctl *c = &rec->u.ctl;

	c->value = ld64(body + offsetof(struct stream_ctl, value));
	c->reserved = ld32(body + offsetof(struct stream_ctl, reserved));
	c->crc = ld32(body + offsetof(struct stream_ctl, crc));
	if (crc_differs(stream_crc32c(0, rbuf, sizeof(struct stream_rhdr) +
	    offsetof(struct stream_ctl, crc)), c->crc))
		return STREAM_ERR_CRC;
	if (c->reserved != 0)
		return STREAM_ERR_RESERVED;
	return STREAM_OK;
}

/* The handshake records: CRC over the record header and the body before
 * crc (as control records), then reserved fields, then meaning. */
static int
handshake_crc_ok(const uint8_t *rbuf, size_t crc_off)
{
	return !crc_differs(stream_crc32c(0, rbuf, sizeof(struct stream_rhdr) +
	    crc_off), ld32(rbuf + sizeof(struct stream_rhdr) + crc_off));
}

static int
timing_ok(uint32_t timeout_ms, uint32_t hb_ms)
{
	return timeout_ms >= 1 && timeout_ms <= STREAM_TIMEOUT_MAX &&
	    hb_ms >= 1 && hb_ms <= timeout_ms;
}

static enum stream_status
parse_hello(const uint8_t *rbuf, struct stream_rec *rec)
{
	const uint8_t *body = rbuf + sizeof(struct stream_rhdr);
	const uint8_t *name = body + offsetof(struct stream_hello, name);
	size_t n = 0;

	if (!handshake_crc_ok(rbuf, offsetof(struct stream_hello, crc)))
		return STREAM_ERR_CRC;
	/* A demand: a flag this reader does not know changes what the
	 * primary expects of it. */
	rec->u.hello.flags = ld32(body + offsetof(struct stream_hello, flags));
	if (ld32(body + offsetof(struct stream_hello, reserved)) != 0 ||
	    (rec->u.hello.flags & ~STREAM_HELLO_FLAGS_KNOWN) != 0)
		return STREAM_ERR_RESERVED;
	/* 1 .. 64 printable characters, then NUL bytes to the end. */
	while (n < STREAM_NAME_LEN && name[n] != 0) {
		if (name[n] < 0x20 || name[n] > 0x7e)
			return STREAM_ERR_TEXT;
		n++;
	}
	if (n == 0 || !all_zero(name + n, STREAM_NAME_LEN - n))
		return STREAM_ERR_TEXT;
	memcpy(rec->u.hello.name, name, n);
	rec->u.hello.name[n] = '\0';
	rec->u.hello.timeout_ms = ld32(body +
	    offsetof(struct stream_hello, timeout_ms));
	rec->u.hello.hb_ms = ld32(body + offsetof(struct stream_hello, hb_ms));
	/* An offer: bits this reader does not know are not an error. */
	rec->u.hello.features = ld32(body +
	    offsetof(struct stream_hello, features));
	if (!timing_ok(rec->u.hello.timeout_ms, rec->u.hello.hb_ms))
		return STREAM_ERR_HANDSHAKE;
	return STREAM_OK;
}

int
stream_disk_name_ok(const char *name)
{
	size_t n = strnlen(name, STREAM_DISK_NAME_LEN);

	if (n == STREAM_DISK_NAME_LEN)
		return 0;
	if (n > 0 && (name[0] == '.' || name[0] == '-'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* DISKS: CRC over the record header, COUNT and the entries; then the
 * count against the length, each name and size, names unique. */
static enum stream_status
parse_disks(const uint8_t *rbuf, uint32_t length, struct stream_rec *rec)
{
	const size_t dh = sizeof(struct stream_disks);
	const size_t de = sizeof(struct stream_disk_desc);
	const uint8_t *body = rbuf + sizeof(struct stream_rhdr), *e;
	uint32_t count, crc, i, j;

	crc = stream_crc32c(0, rbuf, sizeof(struct stream_rhdr) +
	    offsetof(struct stream_disks, crc));
	crc = stream_crc32c(crc, body + dh, length - dh);
	if (crc_differs(crc, ld32(body + offsetof(struct stream_disks, crc))))
		return STREAM_ERR_CRC;
	count = ld32(body + offsetof(struct stream_disks, count));
	if ((uint64_t)count * de != length - dh)
		return STREAM_ERR_LENGTH;
	for (i = 0, e = body + dh; i < count; i++, e += de) {
		const uint8_t *nm = e + offsetof(struct stream_disk_desc, name);
		size_t n = strnlen((const char *)nm, STREAM_DISK_NAME_LEN);

		/* NUL-padded, at least one NUL: a name of 0 .. 23. */
		if (n == STREAM_DISK_NAME_LEN ||
		    !all_zero(nm + n, STREAM_DISK_NAME_LEN - n))
			return STREAM_ERR_TEXT;
		memcpy(rec->u.disks.name[i], nm, n + 1);
		if (!stream_disk_name_ok(rec->u.disks.name[i]))
			return STREAM_ERR_TEXT;
		/* Unnamed only as the one disk: with several, the backup
		 * could not tell which is which. */
		if (n == 0 && count != 1)
			return STREAM_ERR_DISK;
		rec->u.disks.size[i] = ld64(e + offsetof(struct stream_disk_desc,
		    size));
		if (rec->u.disks.size[i] == 0)
			return STREAM_ERR_DISK;
		for (j = 0; j < i; j++)
			if (strcmp(rec->u.disks.name[i],
			    rec->u.disks.name[j]) == 0)
				return STREAM_ERR_DISK;
	}
	rec->u.disks.count = count;
	return STREAM_OK;
}

static enum stream_status
parse_welcome(const uint8_t *rbuf, struct stream_rec *rec)
{
	const uint8_t *body = rbuf + sizeof(struct stream_rhdr);
	struct stream_welcome *wl = &rec->u.welcome;

	if (!handshake_crc_ok(rbuf, offsetof(struct stream_welcome, crc)))
		return STREAM_ERR_CRC;
	wl->resume_epoch = ld64(body +
	    offsetof(struct stream_welcome, resume_epoch));
	wl->timeout_ms = ld32(body + offsetof(struct stream_welcome, timeout_ms));
	wl->hb_ms = ld32(body + offsetof(struct stream_welcome, hb_ms));
	wl->fence_ms = ld32(body + offsetof(struct stream_welcome, fence_ms));
	wl->flags = ld32(body + offsetof(struct stream_welcome, flags));
	wl->reserved = ld32(body + offsetof(struct stream_welcome, reserved));
	wl->crc = ld32(body + offsetof(struct stream_welcome, crc));
	if (wl->reserved != 0 || (wl->flags & ~STREAM_WELCOME_FLAGS_KNOWN) != 0)
		return STREAM_ERR_RESERVED;
	if (!timing_ok(wl->timeout_ms, wl->hb_ms) ||
	    wl->fence_ms > STREAM_TIMEOUT_MAX ||
	    (wl->fence_ms != 0) != ((wl->flags & STREAM_WELCOME_FENCES) != 0))
		return STREAM_ERR_HANDSHAKE;
	/* Hashes of a replica that is not there make no sense. */
	if ((wl->flags & STREAM_WELCOME_HASHES) != 0 && wl->resume_epoch == 0)
		return STREAM_ERR_HANDSHAKE;
	return STREAM_OK;
}

/* PAGE_HASHES: CRC over the record header and the whole body but the crc
 * field; then the count against the length, then the place in the
 * sequence of pfns. */
static enum stream_status
parse_hashes(const struct stream_reader *r, const uint8_t *rbuf,
    uint32_t length, struct stream_rec *rec)
{
	const size_t hh = sizeof(struct stream_page_hashes);
	const uint8_t *body = rbuf + sizeof(struct stream_rhdr);
	uint64_t first;
	uint32_t count, crc;

	crc = stream_crc32c(0, rbuf, sizeof(struct stream_rhdr) +
	    offsetof(struct stream_page_hashes, crc));
	crc = stream_crc32c(crc, body + hh, length - hh);
	if (crc_differs(crc, ld32(body +
	    offsetof(struct stream_page_hashes, crc))))
		return STREAM_ERR_CRC;
	first = ld64(body + offsetof(struct stream_page_hashes, first));
	count = ld32(body + offsetof(struct stream_page_hashes, count));
	if ((uint64_t)count * STREAM_HASH_LEN != length - hh)
		return STREAM_ERR_LENGTH;
	if (first != r->hash_next)
		return STREAM_ERR_SEQUENCE;
	if (r->nr_pages != 0 && (first >= r->nr_pages ||
	    count > r->nr_pages - first))
		return STREAM_ERR_PFN;
	rec->u.hashes.first = first;
	rec->u.hashes.count = count;
	rec->u.hashes.hashes = body + hh;
	return STREAM_OK;
}

static enum stream_status
parse_error(const uint8_t *rbuf, uint32_t length, struct stream_rec *rec)
{
	const uint8_t *body = rbuf + sizeof(struct stream_rhdr);
	const uint8_t *reason = body + sizeof(struct stream_error);
	uint32_t rlen = length - sizeof(struct stream_error), crc;

	rec->u.error.code = ld32(body + offsetof(struct stream_error, code));
	crc = stream_crc32c(0, rbuf, sizeof(struct stream_rhdr) +
	    offsetof(struct stream_error, crc));
	crc = stream_crc32c(crc, reason, rlen);
	if (crc_differs(crc, ld32(body + offsetof(struct stream_error, crc))))
		return STREAM_ERR_CRC;
	/* Text for a log line: no control characters (UTF-8 bytes >= 0x80
	 * pass through). */
	for (uint32_t i = 0; i < rlen; i++)
		if (reason[i] < 0x20 || reason[i] == 0x7f)
			return STREAM_ERR_TEXT;
	rec->u.error.reason = (const char *)reason;
	rec->u.error.reason_len = rlen;
	return STREAM_OK;
}

enum stream_status
stream_read_record(struct stream_reader *r, const uint8_t *buf, size_t len,
    size_t *used, struct stream_rec *rec)
{
	const size_t rh = sizeof(struct stream_rhdr);
	const uint8_t *body;
	enum stream_status st, pre;
	uint32_t type, length;
	size_t total;

	if (r->err != STREAM_OK)
		return r->err;
	if (r->dir == STREAM_DIR_FORWARD && !r->have_header)
		return fail(r, STREAM_ERR_SEQUENCE);
	if (len < rh) {
		r->need = rh;
		return STREAM_NEED_MORE;
	}
	type = ld32(buf);
	length = ld32(buf + 4);
	pre = check_rhdr(r, type, length);
	if (pre != STREAM_OK && pre != STREAM_SKIPPED)
		return fail(r, pre);
	total = rh + pad8(length);
	if (len < total) {
		r->need = total;
		return STREAM_NEED_MORE;
	}
	body = buf + rh;
	if (!all_zero(body + length, total - rh - length))
		return fail(r, STREAM_ERR_PADDING);

	memset(rec, 0, sizeof(*rec));
	rec->type = type;
	rec->length = length;
	rec->body = body;

	switch (pre == STREAM_SKIPPED ? 0 : type) {
	case 0:
		st = STREAM_SKIPPED;
		break;
	case STREAM_REC_EPOCH_BEGIN: {
		struct stream_epoch_begin *b = &rec->u.begin;

		b->epoch = ld64(body + offsetof(struct stream_epoch_begin, epoch));
		b->flags = ld32(body + offsetof(struct stream_epoch_begin, flags));
		b->reserved = ld32(body +
		    offsetof(struct stream_epoch_begin, reserved));
		if (b->reserved != 0 || (b->flags & ~STREAM_EPOCH_FLAGS_KNOWN) != 0)
			return fail(r, STREAM_ERR_RESERVED);
		/* The first epoch may have any number (a new backup joins a
		 * running primary) but must be full or a resync (exactly
		 * one of the two); then strictly +1, never a resync. */
		if (b->epoch == 0 ||
		    (r->epoch == 0 && (b->flags & (STREAM_EPOCH_FULL |
		    STREAM_EPOCH_RESYNC)) == 0) ||
		    (b->flags & STREAM_EPOCH_FULL &&
		    b->flags & STREAM_EPOCH_RESYNC) ||
		    (r->epoch != 0 && (b->epoch != r->epoch + 1 ||
		    (b->flags & STREAM_EPOCH_RESYNC) != 0)))
			return fail(r, STREAM_ERR_SEQUENCE);
		r->in_epoch = 1;
		r->epoch = b->epoch;
		r->have_devstate = 0;
		r->nr_records = 0;
		r->crc = 0;
		st = STREAM_OK;
		break;
	}
	case STREAM_REC_PAGE_BATCH:
		st = parse_batch(r, body, length, rec);
		break;
	case STREAM_REC_GUEST_STATE:
		st = STREAM_OK;
		break;
	case STREAM_REC_DEVICE_STATE: {
		uint32_t kind = ld32(body +
		    offsetof(struct stream_device_state, kind));

		uint32_t enc = ld32(body +
		    offsetof(struct stream_device_state, encoding));

		if (kind == 0 || kind > STREAM_DEVSTATE_KIND_MAX ||
		    enc > STREAM_DEVSTATE_ENC_MAX)
			return fail(r, STREAM_ERR_UNKNOWN);
		/* A packed state starts with its raw length (4 bytes): what
		 * follows is the decoder's to check (codec_blob_unpack). */
		if (enc == STREAM_DEVSTATE_LZ4 &&
		    length < sizeof(struct stream_device_state) + 5)
			return fail(r, STREAM_ERR_LENGTH);
		rec->u.devstate.kind = kind;
		rec->u.devstate.encoding = enc;
		rec->u.devstate.data = body +
		    sizeof(struct stream_device_state);
		rec->u.devstate.len = length -
		    (uint32_t)sizeof(struct stream_device_state);
		r->have_devstate = 1;
		st = STREAM_OK;
		break;
	}
	case STREAM_REC_DISK_WRITE:
		st = parse_disk(r, body, length, rec);
		break;
	case STREAM_REC_EPOCH_END: {
		struct stream_epoch_end *e = &rec->u.end;

		e->epoch = ld64(body + offsetof(struct stream_epoch_end, epoch));
		e->nr_records = ld32(body +
		    offsetof(struct stream_epoch_end, nr_records));
		e->crc = ld32(body + offsetof(struct stream_epoch_end, crc));
		if (e->epoch != r->epoch)
			return fail(r, STREAM_ERR_SEQUENCE);
		if (crc_differs(e->crc, r->crc))
			return fail(r, STREAM_ERR_CRC);
		if (e->nr_records != r->nr_records)
			return fail(r, STREAM_ERR_COUNT);
		r->in_epoch = 0;
		r->nr_epochs++;
		r->offset += total;
		r->need = 0;
		*used = total;
		return STREAM_OK;	/* not part of its own CRC */
	}
	case STREAM_REC_HEARTBEAT:
	case STREAM_REC_BC_HEARTBEAT:
		st = parse_ctl(buf, rec);
		break;
	case STREAM_REC_END:
		st = parse_ctl(buf, rec);
		if (st == STREAM_OK && rec->u.ctl.value != r->epoch)
			st = STREAM_ERR_SEQUENCE;
		if (st == STREAM_OK)
			r->ended = 1;
		break;
	case STREAM_REC_SWITCHOVER:
		/* The final epoch is the last closed one: at least one. */
		st = parse_ctl(buf, rec);
		if (st == STREAM_OK && (rec->u.ctl.value != r->epoch ||
		    r->nr_epochs == 0))
			st = STREAM_ERR_SEQUENCE;
		if (st == STREAM_OK) {
			r->switchover = 1;
			r->so_cookie = 0;
		}
		break;
	case STREAM_REC_ACTIVATED:
		/* From the final epoch, which was acknowledged before. */
		st = parse_ctl(buf, rec);
		if (st == STREAM_OK && (rec->u.ctl.value == 0 ||
		    rec->u.ctl.value != r->last_ack))
			st = STREAM_ERR_SEQUENCE;
		if (st == STREAM_OK)
			r->ended = 1;
		break;
	case STREAM_REC_COOKIE:
		if (!handshake_crc_ok(buf, offsetof(struct stream_cookie,
		    crc)))
			st = STREAM_ERR_CRC;
		else if (ld32(body + offsetof(struct stream_cookie,
		    reserved)) != 0)
			st = STREAM_ERR_RESERVED;
		else {
			memcpy(rec->u.cookie.cookie, body, STREAM_COOKIE_LEN);
			if (r->epoch == 0)
				r->have_cookie = 1;
			else
				r->so_cookie = 1;
			st = STREAM_OK;
		}
		break;
	case STREAM_REC_DISKS:
		st = parse_disks(buf, length, rec);
		if (st == STREAM_OK) {
			r->nr_disks = rec->u.disks.count;
			memcpy(r->disk_size, rec->u.disks.size,
			    sizeof r->disk_size);
		}
		break;
	case STREAM_REC_HELLO:
		st = parse_hello(buf, rec);
		if (st == STREAM_OK)
			r->have_hello = 1;
		break;
	case STREAM_REC_WELCOME:
		st = parse_welcome(buf, rec);
		if (st == STREAM_OK) {
			r->have_welcome = 1;
			r->hashes_due = (rec->u.welcome.flags &
			    STREAM_WELCOME_HASHES) != 0;
		}
		break;
	case STREAM_REC_PAGE_HASHES:
		st = parse_hashes(r, buf, length, rec);
		if (st == STREAM_OK)
			r->hash_next += rec->u.hashes.count;
		break;
	case STREAM_REC_READY:
		st = parse_ctl(buf, rec);
		if (st == STREAM_OK && rec->u.ctl.value != STREAM_VERSION)
			st = STREAM_ERR_VERSION;
		if (st == STREAM_OK)
			r->have_ready = 1;
		break;
	case STREAM_REC_ACK:
		st = parse_ctl(buf, rec);
		/* ACK(n) is cumulative: epochs <= n are committed. */
		if (st == STREAM_OK && rec->u.ctl.value <= r->last_ack)
			st = STREAM_ERR_SEQUENCE;
		if (st == STREAM_OK)
			r->last_ack = rec->u.ctl.value;
		break;
	case STREAM_REC_ERROR:
		st = parse_error(buf, length, rec);
		if (st == STREAM_OK)
			r->ended = 1;
		break;
	default:
		st = STREAM_ERR_UNKNOWN;	/* check_rhdr let it through? */
		break;
	}
	if (st != STREAM_OK && st != STREAM_SKIPPED)
		return fail(r, st);

	/* Every byte inside an epoch, EPOCH_BEGIN's header first, goes into
	 * the epoch CRC, skipped records included. */
	if (r->in_epoch) {
		r->crc = stream_crc32c(r->crc, buf, total);
		r->nr_records++;
	}
	r->offset += total;
	r->need = 0;
	*used = total;
	return st;
}

void
stream_batch_iter_init(struct stream_batch_iter *it, const struct stream_rec *rec)
{
	it->rec = rec;
	it->i = 0;
	it->data_off = 0;
}

int
stream_batch_next(struct stream_batch_iter *it, struct stream_page *page,
    const uint8_t **data)
{
	const struct stream_rec *rec = it->rec;
	const uint8_t *e;

	if (rec->type != STREAM_REC_PAGE_BATCH || it->i >= rec->u.batch.count)
		return 0;
	e = (const uint8_t *)(const void *)rec->u.batch.pages +
	    (size_t)it->i * sizeof(struct stream_page);
	page->pfn = ld64(e + offsetof(struct stream_page, pfn));
	page->length = ld32(e + offsetof(struct stream_page, length));
	page->encoding = ld16(e + offsetof(struct stream_page, encoding));
	page->reserved = ld16(e + offsetof(struct stream_page, reserved));
	*data = rec->u.batch.data + it->data_off;
	it->data_off += page->length;
	it->i++;
	return 1;
}
