/* remusd/ctl-caps.h -- what this build can do, as JSON (the capabilities
 * verb of remusctl).
 *
 * XXX for the integrator: issue 13 gives `remusd --capabilities` and its
 * JSON to remusd/caps.{c,h} (the link work); when that lands, this file
 * should return what caps.c builds and go away.
 */
#ifndef REMUS_CTL_CAPS_H
#define REMUS_CTL_CAPS_H

struct json_object;

/* A new object (the caller's); NULL on ENOMEM. */
struct json_object *ctl_caps(void);

#endif /* REMUS_CTL_CAPS_H */
