/* sdNotify(socket, message): one datagram of systemd's notify protocol (sd_notify(3)). */
#ifndef CONFBOX_NOTIFY_H
#define CONFBOX_NOTIFY_H

#include <node_api.h>

napi_value confbox_sd_notify(napi_env env, napi_callback_info info);

#endif
