/* common/compiler.h -- small compiler helpers shared by every module. */
#ifndef REMUS_COMPILER_H
#define REMUS_COMPILER_H

#include <stddef.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Recover the struct that embeds MEMBER (libev watchers, STYLE V2). */
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define ALIGN_UP(x, a)	(((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))

#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __dead		__attribute__((noreturn))
#define __unused	__attribute__((unused))

#endif /* REMUS_COMPILER_H */
