/* remusd/ctl-caps.h -- the capabilities verb of the control sockets
 * (docs/control.md): caps_json() (caps.h), the object --capabilities
 * prints, as a json-c object for ctl_reply.
 */
#ifndef REMUS_CTL_CAPS_H
#define REMUS_CTL_CAPS_H

struct json_object;
struct ctl_req;

/* A new object (the caller's) for PROGRAM ("remus", "remusd"); NULL with
 * errno on failure. */
struct json_object *ctl_caps(const char *program);

/* Answer R with it, or with an error naming why it could not be made. */
void	ctl_reply_caps(struct ctl_req *r, const char *program);

#endif /* REMUS_CTL_CAPS_H */
