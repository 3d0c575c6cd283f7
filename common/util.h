/* common/util.h -- I/O and time helpers used by every module. */
#ifndef REMUS_UTIL_H
#define REMUS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Monotonic clock in microseconds / nanoseconds. */
uint64_t	now_us(void);
uint64_t	now_ns(void);

/* Read or write exactly LEN bytes, retrying on EINTR and short transfers.
 * Return 0, or -1 with errno set; read_full sets errno = EPIPE (and returns
 * -1) on EOF before LEN bytes, and stores what it got in *got if non-NULL. */
int	read_full(int fd, void *buf, size_t len, size_t *got);
int	write_full(int fd, const void *buf, size_t len);
/* Make *BUF (*CAP bytes, malloc'd, or NULL and 0) hold at least N bytes,
 * keeping its content: the buffers a record or a file is copied into,
 * grown to the largest seen and kept.  0, or -1 with errno (ENOMEM) and
 * *BUF as it was. */
int	buf_reserve(uint8_t **buf, size_t *cap, size_t n);
/* pwrite/pread exactly LEN bytes at OFF; a transfer that makes no
 * progress (EOF for pread) is EIO.  0, or -1 with errno. */
int	pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int	pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Parse an unsigned size with an optional K/M/G suffix (powers of 1024).
 * Return 0, or -1 with errno = EINVAL / ERANGE. */
int	parse_size(const char *s, uint64_t *out);

/* Parse an unsigned integer in [min, max].  0, or -1 with errno set. */
int	parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Set or clear O_NONBLOCK.  0, or -1 with errno set. */
int	fd_set_nonblock(int fd, int on);

/* A parser's refusal: FMT's message into WHY (LEN bytes; WHY may be NULL),
 * errno = ERR, and -1, so that a parser ends in one line:
 *	return util_refuse(why, len, EINVAL, "%s: not a port", s); */
int	util_refuse(char *why, size_t len, int err, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* Percentile P (0..100) of N samples; sorts V in place.  0 if N == 0. */
uint64_t	percentile_u64(uint64_t *v, size_t n, double p);

/* /proc/PID/stat of PID ("self" or digits): its state letter (field 3;
 * STATE may be NULL) and start time (field 22, clock ticks after boot).
 * The command name (field 2) may hold spaces and parentheses: fields are
 * counted from the last ')'.  0, or -1 with errno (ENOENT: no such
 * process; EPROTO: unreadable line). */
int	proc_pid_stat(const char *pid, char *state, uint64_t *start);
/* Whether PID is gone, or a zombie nobody reaped yet (it need not be our
 * child), within MS milliseconds, /proc read every 10 ms: 1 or 0. */
int	proc_pid_wait_gone(pid_t pid, unsigned ms);

#endif /* REMUS_UTIL_H */
