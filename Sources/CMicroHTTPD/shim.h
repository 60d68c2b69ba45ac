#ifndef INTERLEAVE_CMICROHTTPD_SHIM_H
#define INTERLEAVE_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

// MHD_start_daemon is variadic, so Swift cannot call it. This wrapper passes the
// completion callback plus an option array built in Swift.
static inline struct MHD_Daemon *interleave_mhd_start(
    unsigned int flags, uint16_t port,
    MHD_AcceptPolicyCallback accept_policy, void *accept_policy_cls,
    MHD_AccessHandlerCallback handler, void *handler_cls,
    MHD_RequestCompletedCallback completed, void *completed_cls,
    const struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, port, accept_policy, accept_policy_cls, handler, handler_cls,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_ARRAY, options,
                            MHD_OPTION_END);
}

// libmicrohttpd's error log hands over a format and a va_list, which Swift cannot
// take in a C callback: format here and pass the finished line to `sink`.
struct interleave_log_target {
    void (*sink)(void *context, const char *message);
    void *context;
};

static inline void interleave_mhd_log(void *cls, const char *format, va_list arguments) {
    struct interleave_log_target *target = (struct interleave_log_target *)cls;
    char line[512];
    vsnprintf(line, sizeof line, format, arguments);
    if (target != NULL && target->sink != NULL) target->sink(target->context, line);
}

static inline MHD_LogCallback interleave_mhd_log_callback(void) { return &interleave_mhd_log; }

// MHD_get_connection_info is variadic too: the two facts the server needs, one call each.
static inline int interleave_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

static inline const struct sockaddr *interleave_connection_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info == NULL ? NULL : info->client_addr;
}
#endif
