/* netbuf/netbuf-tool.h -- subcommands of remus-netbuf living in other
 * files.  Each takes argv[0] = the subcommand and returns the exit status
 * (2 = usage). */
#ifndef REMUS_NETBUF_TOOL_H
#define REMUS_NETBUF_TOOL_H

int	tool_kv_client(int argc, char **argv);
int	tool_kv_check(int argc, char **argv);
int	tool_kv_open(int argc, char **argv);

#endif /* REMUS_NETBUF_TOOL_H */
