/* remus-arena-sum -- print the checksum of an arena file (a backup's
 * replica, DIR/proc-arena.img), as remus-dirtier records it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc-sum.h"

int
main(int argc, char **argv)
{
	static char buf[1 << 20];
	struct proc_sum s;
	ssize_t n;
	int fd;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		printf("usage: remus-arena-sum file\n"
		    "       remus-arena-sum -h | --help\n");
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: remus-arena-sum file\n");
		return 1;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		fprintf(stderr, "remus-arena-sum: %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}
	proc_sum_init(&s);
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "remus-arena-sum: read %s: %s\n",
			    argv[1], strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		proc_sum_update(&s, buf, (size_t)n);
	}
	close(fd);
	printf("%016llx\n", (unsigned long long)proc_sum_final(&s));
	return 0;
}
